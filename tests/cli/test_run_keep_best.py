"""`train: keep_best=1` / `--keep-best`: the best epoch's checkpoint beside the run's, from
the spec, the CLI and `fit` alike; and `netc run` probes each checkpoint path once."""

from __future__ import annotations

import json

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.errors import SpecError
from netc.runtime.checkpoint import load_checkpoint

SPEC = ("input: 2\naffine(10) -> relu -> affine(3) -> softmax_ce\noptimizer: sgd(lr=3)\n"
        "train: epochs=8, batch_size=50, validation_split=0.2{extra}\n")


def _spec(tmp_path, extra: str = ", keep_best=1"):
    path = tmp_path / "k.net"
    path.write_text(SPEC.format(extra=extra))
    return path


def _best_of(metrics) -> int:
    history = json.loads(metrics.read_text())["history"]
    losses = [r["val_loss"] for r in history]
    return int(np.argmin(losses)) + 1  # the first of equal losses, as Monitor keeps it


@pytest.mark.parametrize("extra, flag", [(", keep_best=1", []), ("", ["--keep-best"])])
def test_run_keep_best_keeps_the_best_epoch_beside_the_checkpoint(tmp_path, capsys, extra,
                                                                  flag):
    spec, ck, metrics = _spec(tmp_path, extra), tmp_path / "ck.npz", tmp_path / "m.json"
    assert main(["run", str(spec), "--quiet", "--checkpoint", str(ck), "--metrics-json",
                 str(metrics), *flag]) == 0
    best = tmp_path / "ck.best.npz"
    epoch = _best_of(metrics)
    assert load_checkpoint(best).meta["epoch"] == epoch
    assert load_checkpoint(ck).meta["epoch"] == 8
    out = capsys.readouterr().out
    assert f"best checkpoint: {best} (epoch {epoch}, val_loss " in out


def test_run_keep_best_without_checkpoint_says_what_to_add(tmp_path, capsys):
    assert main(["run", str(_spec(tmp_path)), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "keeps the best epoch's checkpoint beside the run's" in err
    assert "hint: give --checkpoint PATH too" in err
    assert "Traceback" not in err


def test_fit_keep_best_from_the_spec_and_keyword(tmp_path):
    (x, t), _ = netc.datasets.load_spiral()
    net = netc.load(_spec(tmp_path))
    with pytest.raises(ValueError, match="keep_best keeps the best checkpoint beside"):
        net.fit(x, t, verbose=0)
    history = net.fit(x, t, verbose=0, checkpoint=tmp_path / "a.npz")
    best = int(np.argmin(history.history["val_loss"])) + 1
    assert load_checkpoint(tmp_path / "a.best.npz").meta["epoch"] == best
    plain = netc.load(_spec(tmp_path, ""))
    plain.fit(x, t, verbose=0, checkpoint=tmp_path / "b.npz", keep_best=True)
    assert (tmp_path / "b.best.npz").exists()
    with pytest.raises(ValueError, match="keep_best"):
        plain.fit(x, t, verbose=0, checkpoint=tmp_path / "c.npz", keep_best=2)


def test_spec_keep_best_is_checked_by_the_shared_rule(tmp_path):
    with pytest.raises(SpecError, match="keep_best"):
        netc.load(_spec(tmp_path, ", keep_best=2"))


@pytest.mark.parametrize("flag, probes", [([], 1), (["--keep-best"], 2)])
def test_run_probes_each_checkpoint_path_once(tmp_path, monkeypatch, flag, probes):
    import netc.runtime.checkpoint as checkpoint

    seen: list[str] = []
    real = checkpoint.check_output

    def counting(path, **kw):
        seen.append(str(path))
        return real(path, **kw)

    monkeypatch.setattr(checkpoint, "check_output", counting)
    ck = tmp_path / "ck.npz"
    assert main(["run", str(_spec(tmp_path, "")), "--quiet", "--checkpoint", str(ck),
                 *flag]) == 0
    assert len(seen) == probes and len(set(seen)) == probes  # each path once
