"""Shared fixtures of the interop tests: the `netc` command run as a subprocess, in tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPIRAL = ROOT / "specs" / "spiral.net"


@pytest.fixture
def netc_run(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m netc ARGS` in tmp_path; `path=` replaces $PATH (e.g. to hide `dot`)."""

    def run(*args: object, path: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        if path is not None:
            env["PATH"] = path
        return subprocess.run([sys.executable, "-m", "netc", *map(str, args)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, env=env)

    return run


@pytest.fixture(scope="session")
def spiral_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spiral net trained for 30 epochs by `netc run --checkpoint` (once per session)."""
    folder = tmp_path_factory.mktemp("spiral")
    ckpt = folder / "spiral.ckpt.npz"
    done = subprocess.run([sys.executable, "-m", "netc", "run", str(SPIRAL), "--epochs", "30",
                           "--quiet", "--checkpoint", str(ckpt)], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return ckpt
