"""The `netc predict` job: spec + checkpoint + new data -> predictions, printed or written.

Orchestration like `netc/run.py`: stages 0-6 build the network, the checkpoint supplies the
trained weights, `Network.predict` runs in evaluation mode. Inputs: a `.npz` with an array `x`
(else `x_test`, else `x_train`), or a `.csv` of numeric rows with exactly the network's input
width (features only) or one column more (features then a label, as `netc run` reads; the
label is ignored). uint8 inputs are raw pixels: a network whose spec says `data: mnist` scales
them by 1/255 exactly as training does, any other refuses them (`runtime.targets.as_inputs`).
numpy is imported inside the functions, so `import netc` stays light.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from .api import load
from .atomic import write_atomically
from .errors import DataError
from .outputs import check_suffix

_NPZ_KEYS = ("x", "x_test", "x_train")


def predict_file(spec: str, checkpoint: str, data: str) -> tuple[Any, Any, str]:
    """(outputs, labels or None, loss op) of the trained network on the rows of `data`."""
    import numpy as np

    if not os.path.exists(checkpoint):  # a FIFO or a folder: load_checkpoint says which
        raise DataError(f"{checkpoint}: no such checkpoint file")
    net = load(spec, checkpoint=checkpoint)
    x = read_inputs(data, net.plan.input_width)
    from .runtime.targets import as_inputs

    y = net.predict(as_inputs(x, net, data))
    op = net.plan.loss.op
    labels = None
    if op == "softmax_ce":
        labels = y.argmax(axis=1)
    elif op == "sigmoid_ce":
        labels = (y > 0.5).astype(np.int64)
        labels = labels[:, 0] if labels.shape[1] == 1 else labels
    return y, labels, op


def read_inputs(path: str, width: int) -> Any:
    """Feature rows from a `.npz` (`x`, `x_test` or `x_train`) or a `.csv` file.

    Only the one array used is read from a `.npz`, in its own dtype (the network casts once).
    """
    from .runtime.data.files import check_readable, open_npz

    p = Path(path)
    check_readable(p)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        with open_npz(p) as archive:
            key = next((k for k in _NPZ_KEYS if k in archive.names), None)
            if key is None:
                raise DataError(f"{p}: no array 'x' (or 'x_test', 'x_train'); it holds: "
                                f"{archive.listing()}")
            return archive.read(key)
    if suffix == ".csv":
        return _read_csv(p, width)
    raise DataError(f"{p}: unsupported input type '{suffix}'; expected a .npz or .csv file")


def _read_csv(p: Path, width: int) -> Any:
    import numpy as np

    from .runtime.data.tables import csv_records

    rows: list[list[float]] = []
    for line, cells in csv_records(p):
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        values = _numbers(cells)
        if values is None:
            if rows:
                raise DataError(f"{p}:{line}: not a row of numbers")
            continue  # a header
        if len(values) not in (width, width + 1):
            raise DataError(f"{p}:{line}: {len(values)} columns, but the network takes "
                            f"{width} features (optionally then a label)")
        rows.append(values[:width])
    if not rows:
        raise DataError(f"{p}: no data rows")
    return np.asarray(rows, dtype=np.float64)


def _numbers(cells: list[str]) -> list[float] | None:
    from .runtime.data.tables import parse_number

    values = [parse_number(c) for c in cells]
    return None if None in values else values  # type: ignore[return-value]


def format_predictions(y: Any, labels: Any, op: str) -> str:
    """CSV text: `row,class,probability` (softmax_ce), `row,label,p...` (sigmoid_ce) or
    `row,y0,y1,...` (mse)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    k = y.shape[1]
    if op == "softmax_ce":
        writer.writerow(["row", "class", "probability"])
        for i, (c, row) in enumerate(zip(labels, y, strict=True)):
            writer.writerow([i, int(c), f"{row[c]:.6f}"])
    elif op == "sigmoid_ce":
        writer.writerow(["row", *_names("label", k, labels.ndim > 1), *_names("p", k, True)])
        for i, (c, row) in enumerate(zip(labels, y, strict=True)):
            marks = [int(v) for v in c] if labels.ndim > 1 else [int(c)]
            writer.writerow([i, *marks, *(f"{v:.6f}" for v in row)])
    else:
        writer.writerow(["row", *_names("y", k, True)])
        for i, row in enumerate(y):
            writer.writerow([i, *(f"{v:.6g}" for v in row)])
    return out.getvalue()


def _names(stem: str, k: int, many: bool) -> list[str]:
    return [f"{stem}{j}" for j in range(k)] if many and k > 1 else [stem]


SUFFIXES = (".npz", ".csv")  # what `write_predictions` can write


def write_predictions(path: str, y: Any, labels: Any, op: str) -> None:
    """`.npz` with arrays `y` (and `labels` for classifiers), or `.csv` as printed."""
    import numpy as np

    from .commands import write_text

    check_suffix(path, what="the predictions", suffixes=SUFFIXES)
    if Path(path).suffix.lower() == ".csv":
        write_text(path, format_predictions(y, labels, op), what="the predictions")
        return
    arrays = {"y": y} if labels is None else {"y": y, "labels": labels}
    write_atomically(path, lambda f: np.savez(f, **arrays), what="the predictions")
