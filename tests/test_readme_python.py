"""The README's Python example runs as written, on real MNIST (issue 12: it used `x_train`,
`x` and `t` without defining them).

The block is executed unchanged, with `$NETC_DATA_DIR` pointing at the real files; without
them the test skips (and fails under CI, see conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^From Python:\n\n```python\n(.*?)^```", re.S | re.M)


def _example() -> str:
    found = _BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(found) == 1, "the README has one 'From Python:' example"
    return found[0]


def test_readme_python_example_uses_only_what_it_defines() -> None:
    code = _example()
    assert "load_mnist()" in code  # the data comes from netc.datasets, not from thin air


def test_readme_python_example_runs_as_written(mnist_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETC_DATA_DIR", str(mnist_dir))
    monkeypatch.setenv("NETC_MNIST_MIRRORS", "")  # the real files are there: never download
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(_example(), "README.md#from-python", "exec"), scope)  # noqa: S102
    probabilities = np.asarray(scope["probabilities"])
    assert probabilities.shape == (10000, 10) and len(scope["history"]) == 2
    accuracy = (probabilities.argmax(axis=1) == scope["t_test"]).mean()
    assert accuracy > 0.9  # it really learned digits
