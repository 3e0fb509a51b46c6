"""What the smaller CLI commands print: plan JSON, run settings, gradcheck report, emitted
code, the layer table. Each returns text; `cli.py` only parses arguments and prints.
"""

from __future__ import annotations

from typing import Any

from .api import plan_file
from .atomic import write_atomically


def plan_json(plan: Any) -> dict[str, Any]:
    """The plan as plain data for `netc check --json`."""
    return {
        "path": plan.path, "input_width": plan.input_width, "params": plan.param_count,
        "spec_hash": plan.spec_hash, "input_shape": list(plan.input_shape),
        "inputs": {name: list(shape) for name, shape in plan.input_parts},
        # `inputs`: the nodes each reads (-1, -2, ...: the network's inputs); `shape`: one
        # row of its output; `shares`: arrays it reads that another layer owns.
        "layers": [{"index": lp.index, "op": lp.op, "n_in": lp.n_in, "n_out": lp.n_out,
                    "attrs": dict(lp.attrs), "where": lp.where,
                    "params": {p.key: list(p.shape) for p in lp.params},
                    "inputs": list(lp.inputs), "shape": list(lp.shape),
                    "shares": {u.key: list(u.shape) for u in lp.uses}}
                   for lp in plan.layers],
        "run": {"data": plan.run.data, "optimizer": plan.run.optimizer,
                "hyper": dict(plan.run.hyper), "epochs": plan.run.epochs,
                "batch_size": plan.run.batch_size, "seed": plan.run.seed,
                "dtype": plan.run.dtype},
    }


def describe_run(plan: Any) -> str:
    """The run settings under the table of `netc check -v`."""
    r = plan.run
    hyper = ", ".join(f"{k}={v:g}" for k, v in r.hyper)
    # As a spec writes them: `dates(reverse=true)`, `corpus(path='ptb.train.txt')`
    given = ", ".join(f"{k}={'true' if v is True else repr(v)}" for k, v in r.data_args
                      if v is not None and v is not False)
    text = (f"data: {r.data}{f'({given})' if given else ''}\noptimizer: {r.optimizer}({hyper})\n"
            f"train: epochs={r.epochs}, batch_size={r.batch_size}, seed={r.seed}, "
            f"dtype={r.dtype}" + (f", backend={r.backend}" if r.backend != "numpy" else ""))
    if r.generate:  # seq2seq: which input the decoder feeds back, and how many tokens
        k, steps, _ = r.generate
        text += f"\ngenerate: greedy({plan.input_parts[k][0]}, steps={steps})"
    return text


def gradcheck_report(spec: str, *, batch: int, tol: float, seed: int) -> tuple[str, bool]:
    """One line per parameter (and the input) with its max relative error; all under tol?"""
    from .runtime.build import build, check_memory
    from .runtime.gradcheck import gradcheck, memory, random_batch

    plan = plan_file(spec)
    check_memory(plan, memory(plan, batch), rows=batch, fixes=["lower --batch"])
    net = build(plan, seed=seed, dtype="float64")
    x, t = random_batch(net, batch, seed)
    results = gradcheck(net, x, t, seed=seed)
    width = max(len(r.name) for r in results)
    lines = [f"{r.name:<{width}}  {str(r.shape):<12}  max rel error {r.error:.2e}  "
             f"{'ok' if r.ok(tol) else 'FAIL'}" + (f"  ({r.kinks} at a kink of ReLU, not "
                                                   "checkable, left out)" if r.kinks else "")
             for r in results]
    bad = sum(not r.ok(tol) for r in results)
    lines.append(f"{len(results) - bad} of {len(results)} within {tol:g}" +
                 (f"; {bad} FAILED" if bad else ""))
    return "\n".join(lines), bad == 0


def emit(spec: str, what: str) -> str:
    """`netc compile --emit`: the standalone Python module, the plan as JSON, or the PyTorch
    module (`torch`)."""
    plan = plan_file(spec)
    if what == "plan":
        import json

        return json.dumps(plan_json(plan), indent=2) + "\n"
    if what == "torch":
        from .api import read
        from .runtime.torch_emit import torch_module

        return torch_module(plan, read(spec))
    if what == "numba":
        from .runtime.jit import spec_module

        return spec_module(plan)
    from .runtime.generated import standalone_module

    return standalone_module(plan)


def write_text(path: str, text: str, *, what: str = "the file") -> None:
    """Write `text` (UTF-8) to `path` atomically; a `DataError` names the file on failure."""
    data = text.encode("utf-8")
    write_atomically(path, lambda f: f.write(data), what=what)


def layers_table() -> str:
    """Every layer, loss, setting and optimizer with its arguments, defaults and description."""
    from .compiler.registry import OPS, OPTIMIZERS, SETTINGS

    sections = []
    for title, table in (("layers", {k: v for k, v in OPS.items() if v.kind != "loss"}),
                         ("losses (last layer)", {k: v for k, v in OPS.items()
                                                  if v.kind == "loss"}),
                         ("settings", SETTINGS), ("optimizers", OPTIMIZERS)):
        lines = [f"{title}:"]
        for name, info in table.items():
            lines.append(f"  {_signature(name, info.schema):<44} {info.description}")
        sections.append("\n".join(lines))
    from .compiler.forms import FORMS

    sections.insert(2, "\n".join(["graphs:", *(f"  {form:<44} {what}" for form, what in FORMS)]))
    return "\n\n".join(sections)


def _signature(name: str, schema: Any) -> str:
    args = []
    for field, f in schema.model_fields.items():
        if field in ("op", "name"):
            continue
        args.append(field if f.is_required() else f"{field}={_show(f.default)}")
    return f"{name}({', '.join(args)})" if args else name


def _show(value: Any) -> str:
    if hasattr(value, "model_dump"):
        return "..."
    return "none" if value is None else str(value)
