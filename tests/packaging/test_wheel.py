"""Packaging: the wheel holds only `netc.*` (no top-level dsl/compiler/runtime), ships the
grammar, and its `netc` script checks a spec from another directory in a fresh venv."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir",
                    str(out), str(ROOT)], check=True, capture_output=True, cwd=ROOT)
    return next(out.glob("netc-*.whl"))


def test_wheel_holds_only_the_netc_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("netc-")}
    assert tops == {"netc"}
    assert "netc/dsl/grammar.lark" in names
    assert "netc/runtime/kernels.py" in names and "netc/compiler/plan.py" in names


def test_wheel_installs_and_checks_a_spec_from_elsewhere(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], check=True,
                   capture_output=True)
    spec = tmp_path / "two_layer.net"
    spec.write_text("input: 784\naffine(50) -> relu -> affine(10) -> softmax_ce\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = subprocess.run([str(env_dir / "bin" / "netc"), "check", str(spec)], cwd=elsewhere,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "affine(784, 50)" in r.stdout and "39,760" in r.stdout
    where = subprocess.run([str(py), "-c", "import netc.dsl, importlib.util as u; "
                            "print(netc.dsl.__file__); print(u.find_spec('dsl'))"],
                           cwd=elsewhere, capture_output=True, text=True, check=True).stdout
    assert str(env_dir) in where.splitlines()[0] and where.splitlines()[1] == "None"
