"""Shared machinery of the bad-input catalogue (`tests/test_bad_inputs*.py`).

A catalogue is a folder of `<case>.expected` files under `tests/bad_inputs/` plus the builders
that make each case's input in `tmp_path` and return the `netc` argv. Every case must end in
exit 1 (2 for `usage_` cases) with exactly its expected message on stderr, no traceback, within
the hang guard, and with a short message. `<tmp>` in an expected file stands for `tmp_path`.
Set NETC_UPDATE_GOLDEN=1 to rewrite the `.expected` files from the current output.

Each test module imports this file (`tests/` is not a package: it puts this folder on
`sys.path`), makes a `Catalogue(folder)`, registers builders with `@cat.case` and exposes
`cat.tests()`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from netc.cli import main

ROOT = Path(__file__).resolve().parents[2]
HERE = Path("tests") / "bad_inputs"  # relative to ROOT, so messages hold short paths
DATA_SPEC = HERE / "data" / "four_features.net"
UPDATE = os.environ.get("NETC_UPDATE_GOLDEN") == "1"
HANG_GUARD_S = 20.0
LEAKS = ("pydantic", "lark.", "UnexpectedToken", "ValidationError", "Errno")

Builder = Callable[[Path, pytest.MonkeyPatch], list[object]]


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[object]) -> tuple[int, str, str]:
    """`netc ARGV` in-process: (exit code, stdout, stderr)."""
    try:
        code = main([a if isinstance(a, str) else os.fsdecode(a) if isinstance(a, bytes)
                     else str(a) for a in argv])
    except SystemExit as e:  # argparse: usage errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_golden(expected: Path, got: str) -> None:
    if UPDATE:
        expected.write_text(got, encoding="utf-8", newline="\n")
    assert expected.exists(), f"no {expected}; run with NETC_UPDATE_GOLDEN=1"
    assert got == expected.read_text(encoding="utf-8")


def assert_user_error(code: int, out: str, err: str, want: int = 1) -> None:
    assert code == want, err
    assert "Traceback" not in err and "Traceback" not in out
    for leak in LEAKS:
        assert leak not in err, f"{leak!r} leaked into: {err}"
    assert "epoch " not in out  # nothing was trained


def spec_file(tmp: Path, text: str | bytes, name: str = "bad.net") -> Path:
    path = tmp / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def npz(tmp: Path, name: str = "data.npz", **arrays: np.ndarray) -> Path:
    path = tmp / name
    np.savez(path, **arrays)
    return path


def good_arrays(n: int = 10, width: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x_train": rng.standard_normal((n, width)), "t_train": np.arange(n) % 3}


def data_run(path: Path, *extra: object) -> list[object]:
    return ["run", DATA_SPEC, "--data", path, "--quiet", *extra]


def trained_checkpoint(tmp: Path) -> Path:
    """A checkpoint of one short run of DATA_SPEC on `tmp/train.npz`."""
    ck = tmp / "ck.npz"
    code = main([str(a) for a in data_run(npz(tmp, "train.npz", **good_arrays()),
                                          "--checkpoint", ck)])
    assert code == 0 and ck.exists()
    return ck


class Catalogue:
    """The cases of one folder `tests/bad_inputs/<folder>/`: builders and their messages."""

    def __init__(self, folder: str) -> None:
        self.folder = ROOT / HERE / folder
        self.cases: dict[str, Builder] = {}

    def case(self, fn: Builder) -> Builder:
        self.cases[fn.__name__] = fn
        return fn

    def tests(self) -> tuple[Callable[..., None], Callable[..., None]]:
        """(completeness test, parametrized case test) for the module to expose."""
        cat = self

        def test_catalogue_is_complete() -> None:
            have = {p.stem for p in cat.folder.glob("*.expected")}
            assert UPDATE or have == set(cat.cases), f"{cat.folder}: stale or missing files"

        @pytest.mark.parametrize("name", sorted(cat.cases))
        def test_case_is_reported_exactly(name: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
            monkeypatch.chdir(ROOT)
            monkeypatch.setenv("NETC_MNIST_MIRRORS", "")  # never download anything
            argv = cat.cases[name](tmp_path, monkeypatch)
            capsys.readouterr()  # drop what building the case printed (a training run)
            ck = Path(str(argv[argv.index("--checkpoint") + 1])) if "--checkpoint" in argv \
                else None
            fresh = ck if ck is not None and not os.path.lexists(ck) else None
            started = time.perf_counter()
            code, out, err = run_cli(capsys, argv)
            assert time.perf_counter() - started < HANG_GUARD_S
            assert_user_error(code, out, err, 2 if name.startswith("usage_") else 1)
            got = err.replace(str(tmp_path), "<tmp>")
            if name.startswith("usage_"):
                got = got.rstrip("\n").splitlines()[-1] + "\n"
            assert len(got) < 8000, "a message must stay short, whatever the input"
            cat.folder.mkdir(exist_ok=True)
            assert_golden(cat.folder / f"{name}.expected", got)
            if fresh is not None:  # refused before training: no checkpoint was written
                assert not fresh.exists()

        return test_catalogue_is_complete, test_case_is_reported_exactly
