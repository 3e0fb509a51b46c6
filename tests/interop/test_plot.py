"""`netc run --plot`: learning curves as a PNG, and a clear message without matplotlib."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import matplotlib  # noqa: F401 (the test extra installs it; fail, not skip)
import pytest

from netc.cli import main
from netc.errors import MissingDependencyError
from netc.runtime.plot import plot_history

ROOT = Path(__file__).resolve().parents[2]
SPIRAL = ROOT / "specs" / "spiral.net"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_run_writes_a_png_of_two_panels(netc_run, tmp_path: Path) -> None:
    done = netc_run("run", SPIRAL, "--epochs", "15", "--quiet", "--plot", "curves.png")
    assert done.returncode == 0, done.stderr
    png = tmp_path / "curves.png"
    width, height = _png_size(png)
    assert (width, height) == (1000, 400)
    assert png.stat().st_size > 10_000
    assert not list(tmp_path.glob("*.tmp*"))


def test_plot_history_without_accuracy_draws_one_panel(tmp_path: Path) -> None:
    history = [{"epoch": e, "train_loss": 1 / e, "train_acc": float("nan"), "seconds": 0}
               for e in range(1, 6)]
    plot_history(history, tmp_path / "mse.png")
    assert _png_size(tmp_path / "mse.png") == (550, 400)


def test_plot_history_of_a_language_model_draws_perplexity(tmp_path: Path) -> None:
    from matplotlib.figure import Figure  # noqa: F401 (the extra is installed)

    from netc.runtime.plot import figure

    history = [{"epoch": e, "train_loss": 3 / e, "train_ppl": 20 / e, "val_loss": 3.1 / e,
                "val_ppl": 22 / e, "seconds": 0} for e in range(1, 4)]
    fig = figure(history)
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "perplexity"]
    assert [line.get_label() for line in fig.axes[1].get_lines()] == ["train", "val"]


def test_plot_missing_matplotlib_fails_before_training(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"netc\[plot\]"):
        plot_history([{"epoch": 1, "train_loss": 1.0}], tmp_path / "c.png")
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(SPIRAL), "--epochs", "1", "--plot", "c.png"]) == 1
    out, err = capsys.readouterr()
    assert "netc[plot]" in err and "trained" not in out
