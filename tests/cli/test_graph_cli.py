"""The command line on a graph spec, end to end: a named value read twice, a residual block
with batchnorm and a concat, on the spiral. `check` shows every node's shape, `run` trains,
the standalone module and a resumed run end with the same bits as `fit`, `time` lists the
merge nodes, `gradcheck` passes, `fmt` keeps the graph and its comments, `lint` is quiet."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netc
from netc.cli import main
from netc.runtime.checkpoint import load_checkpoint

# tanh, not relu: gradcheck's finite differences must not straddle a kink.
DAG = ("""\
# A small graph: a named value read twice, a residual block and a concat.
data: spiral
input: 2
optimizer: adam(lr=0.05)
train: epochs=6, batch_size=30, seed=0

affine(8) -> tanh => h  # the trunk, read again below

# the skip adds h to the branch; concat widens to 8 + 4
"""  # the last line is longer than fmt keeps on one line
       "h -> residual(affine(8) -> batchnorm -> tanh) -> concat(h, affine(4) -> tanh) "
       "-> affine(3) -> softmax_ce\n")
# (op, output shape, the nodes it reads) in the order check lists them; -1 is the input.
NODES = [("affine", 8, (-1,)), ("tanh", 8, (0,)), ("affine", 8, (1,)), ("batchnorm", 8, (2,)),
         ("tanh", 8, (3,)), ("add", 8, (1, 4)), ("affine", 4, (5,)), ("tanh", 4, (6,)),
         ("concat", 12, (1, 7)), ("affine", 3, (8,)), ("softmax_ce", 3, (9,))]
COMMENTS = ["# A small graph: a named value read twice, a residual block and a concat.",
            "# the trunk, read again below", "# the skip adds h to the branch; concat widens"]


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # anything a command writes by default lands in tmp_path
    path = tmp_path / "dag.net"
    path.write_text(DAG)
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def spiral() -> tuple[np.ndarray, np.ndarray]:
    (x, t), _ = netc.datasets.load_spiral()
    return x, t


def history(path: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "seconds"}
            for r in json.loads(path.read_text())["history"]]


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_the_spec_is_the_graph_the_tests_assume(spec: Path) -> None:
    plan = netc.plan_file(spec)
    assert not plan.is_chain
    assert [(lp.op, lp.shape, lp.inputs) for lp in plan.layers] == [
        (op, (width,), inputs) for op, width, inputs in NODES]


def test_check_prints_every_nodes_shape(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "check", spec)
    assert code == 0 and err == ""
    rows = [line for line in out.splitlines() if re.match(r"\s*(\d+|input)\s", line)]
    assert rows[0].split()[:3] == ["input", "(batch,", "2)"]
    assert len(rows) == 1 + len(NODES)
    for i, (row, (op, width, _)) in enumerate(zip(rows[1:], NODES, strict=True)):
        assert row.split()[0] == str(i)
        assert row.split()[1].startswith(op), row
        assert f"(batch, {width})" in row, row
    assert "parameters: 187 " in out  # 24 + 72 + 16 + 36 + 39


def test_run_trains_and_the_loss_falls(spec: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    m = tmp_path / "m.json"
    code, out, err = cli(capsys, "run", spec, "--metrics-json", m, "--quiet")
    assert code == 0, err
    assert out.startswith("trained 6 epochs of spiral with adam")
    losses = [r["train_loss"] for r in history(m)]
    assert len(losses) == 6
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < 0.5 * losses[0]


def test_standalone_module_trains_to_the_same_bits_as_fit(
        spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = tmp_path / "dag_net.py"
    code, _, err = cli(capsys, "compile", spec, "--emit", "python", "-o", module)
    assert code == 0, err
    x, t = spiral()
    data = tmp_path / "spiral.npz"
    np.savez(data, x_train=x, t_train=t)
    saved = tmp_path / "trained.npz"
    run = subprocess.run([sys.executable, str(module), "--data", str(data), "--save", str(saved)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("epoch ") == 6
    net = netc.load(spec)
    net.fit(x, t, verbose=0)  # every setting from the spec, as the module takes them
    with np.load(saved) as d:
        assert_same(dict(d), dict(net.params))


def test_checkpoint_and_resume_are_bit_exact(spec: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    full, half, rest = tmp_path / "full.npz", tmp_path / "half.npz", tmp_path / "rest.npz"
    mf, mr = tmp_path / "full.json", tmp_path / "rest.json"
    assert cli(capsys, "run", spec, "--epochs", 4, "--checkpoint", full, "--metrics-json", mf,
               "--quiet")[0] == 0
    assert cli(capsys, "run", spec, "--epochs", 2, "--checkpoint", half, "--quiet")[0] == 0
    code, out, err = cli(capsys, "run", spec, "--epochs", 4, "--resume", half, "--checkpoint",
                         rest, "--metrics-json", mr, "--quiet")
    assert code == 0, err
    assert out.startswith("trained 4 epochs (resumed after epoch 2)")
    assert history(mr) == history(mf)
    a, b = load_checkpoint(full), load_checkpoint(rest)
    assert_same(a.params, b.params)
    assert_same(a.buffers, b.buffers)  # the batchnorm's running statistics
    assert sorted(a.buffers) == ["3.batchnorm.running_mean", "3.batchnorm.running_var"]
    assert_same(a.optimizer, b.optimizer)  # adam's moments
    for key in ("epoch", "step", "updates", "shuffle_rng", "net_rng", "hyper"):
        assert a.meta[key] == b.meta[key], key


def test_ctrl_c_mid_epoch_resumes_bit_exact(spec: Path, tmp_path: Path) -> None:
    x, t = spiral()
    straight = netc.load(spec)
    straight.fit(x, t, epochs=3, verbose=0)
    saved = tmp_path / "interrupted.npz"

    def ctrl_c(epoch: int, step: int, n: int, loss: float) -> None:
        if (epoch, step) == (2, 4):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        netc.load(spec).fit(x, t, epochs=3, verbose=0, interrupt_checkpoint=saved,
                            on_step=ctrl_c)
    resumed = netc.load(spec, seed=7)  # the checkpoint, not the seed, decides
    resumed.fit(x, t, epochs=3, verbose=0, resume=saved)
    assert_same(dict(resumed.params), dict(straight.params))
    assert_same(dict(resumed.buffers), dict(straight.buffers))


def test_time_lists_every_node_and_the_merges(spec: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "time", spec, "--steps", 2)
    assert code == 0, err
    lines = out.splitlines()
    labels = [line.split()[0] for line in lines[1:-1]]
    assert labels == ["gather", *[f"{i}.{op}" for i, (op, _, _) in enumerate(NODES)], "update"]
    assert "5.add" in labels and "8.concat" in labels
    assert lines[-2].startswith("update (adam)") and "for a batch of 30 " in lines[-1]


def test_gradcheck_passes_on_the_graph(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "gradcheck", spec)
    assert code == 0, out + err
    params = [k for k in netc.load(spec).params]
    for k in params:
        assert re.search(rf"^{re.escape(k)} .* ok$", out, re.M), k
    n = len(params) + 1  # and the gradient with respect to the input
    assert f"{n} of {n} within" in out


def test_fmt_round_trips_the_graph_keeps_comments_and_is_idempotent(
        spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = netc.plan_file(spec).spec_hash
    code, out, err = cli(capsys, "fmt", spec)
    assert code == 0, err
    once = spec.read_text()
    assert once != DAG and len(once.splitlines()) > len(DAG.splitlines())  # the long line broken
    for comment in COMMENTS:
        assert comment in once, comment
    assert netc.plan_file(spec).spec_hash == before
    assert cli(capsys, "fmt", "--check", spec)[0] == 0
    assert cli(capsys, "fmt", spec)[0] == 0
    assert spec.read_text() == once


def test_lint_runs_on_the_graph(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "lint", spec, "--strict")
    assert code == 0, out + err
    assert out == f"{spec}: no warnings\n"
    code, out, _ = cli(capsys, "lint", spec, "--json")
    assert code == 0
    assert json.loads(out) == {"ok": True, "path": str(spec), "diagnostics": []}
