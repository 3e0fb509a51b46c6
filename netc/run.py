"""The `netc run` job: spec + command-line overrides -> data -> trained network -> report.

This is orchestration only (the CLI's main job): settings come from the spec's declarations,
flags override them, the runtime does the work, and the result is printed and written to
the metrics JSON. Anything a user can get wrong ends as a `NetcError`.
"""

from __future__ import annotations

import json
import sys
import time
from argparse import Namespace
from pathlib import Path
from typing import Any

from .api import plan_file
from .atomic import write_atomically
from .terminal import shown


def settings(plan: Any, args: Namespace) -> dict[str, Any]:
    """The run's settings: the spec's `train:`/`optimizer:`/`data:`, overridden by flags,
    resolved by the same function as `Network.fit` (runtime/fitsettings.py) so the two
    entry points cannot drift."""
    from .rules import FIT_SETTINGS
    from .runtime.fitsettings import resolve

    run = plan.run
    given = {"epochs": args.epochs or None, "batch_size": args.batch_size or None,
             "seed": args.seed, "optimizer": args.optimizer or None, "lr": args.lr,
             "eval_train": True if getattr(args, "eval_train", False) else None,
             "keep_best": True if getattr(args, "keep_best", False) else None}
    opts = resolve(run, {k: v for k, v in given.items() if v is not None})  # None: not given
    fixed = ("epochs", "batch_size", "seed", "optimizer", *FIT_SETTINGS)
    return {
        **{k: opts.pop(k) for k in fixed if k in opts},
        "dtype": args.dtype or run.dtype,
        "backend": getattr(args, "backend", None) or run.backend,
        "data": args.data or run.data,
        "hyper": opts,  # lr and the optimizer's other hyper-parameters
        "callbacks": dict(run.callbacks),  # early_stop, lr_decay, ... (see `from_settings`)
    }


def run(args: Namespace) -> int:
    """Train the spec at `args.spec`; returns the exit code."""
    from .rules import FIT_SETTINGS
    from .runtime.build import build
    from .runtime.callbacks import from_settings
    from .runtime.data import load_dataset
    from .runtime.progress import Progress

    plan = plan_file(args.spec)
    cfg = settings(plan, args)
    plot = getattr(args, "plot", None)
    best = _check_outputs(args, plot, cfg)
    data = load_dataset(cfg["data"], data_dir=args.data_dir, seed=cfg["seed"],
                        progress=not args.quiet, dtype=cfg["dtype"], input_shape=plan.input_shape,
                        data_args=dict(plan.run.data_args) if cfg["data"] == plan.run.data
                        else None, pairs=plan.target is not None)
    # word2vec: CBOW's contexts (a seq2seq spec's targets are among its inputs instead)
    if plan.vocab and not cfg["bptt"] and data.t_train is None and plan.target is None:
        data = _contexts(data, plan.input_width)
    net = build(plan, seed=cfg["seed"], dtype=cfg["dtype"], backend=cfg["backend"])
    progress = Progress(cfg["epochs"], quiet=args.quiet,
                        log_every=getattr(args, "log_every", None))
    # Why not both: a validation_split holds out part of the training data instead.
    validation = ((data.x_test, data.t_test) if data.x_test is not None
                  and not cfg["validation_split"] else None)
    interrupt_path = args.checkpoint or f"{Path(args.spec).stem}.interrupted.ckpt.npz"
    started = time.perf_counter()
    new_epochs: list[dict[str, Any]] = []  # Why: a resumed History also holds restored epochs

    def on_epoch(record: dict[str, Any]) -> None:
        new_epochs.append(record)
        progress.on_epoch(record)

    try:
        history = net.fit(
            data.x_train, data.t_train, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
            optimizer=cfg["optimizer"], seed=cfg["seed"], validation_data=validation,
            # A language model's held-out text is its validation split; seq2seq's is a test set.
            validation_label="test" if validation and (not plan.vocab or plan.target) else "val",
            # eval_train, subset, validation_split, wd_all; keep_best is `best`, built by
            # `_check_outputs` (its path probed before the data is loaded, and only then)
            **{k: cfg[k] for k in FIT_SETTINGS if k != "keep_best"}, keep_best=False,
            checkpoint=args.checkpoint, resume=args.resume, interrupt_checkpoint=interrupt_path,
            resume_anyway=getattr(args, "resume_anyway", False),
            on_step=progress.on_step, on_epoch=on_epoch, data_name=data.source,
            callbacks=(callbacks := [*from_settings(cfg["callbacks"], restore_best=False),
                                     *best]),
            spec_callbacks=False,  # built just above, without restoring the best weights
            verbose=0,  # netc run prints through its own `progress` (and --quiet)
            **cfg["hyper"])
    except KeyboardInterrupt as stop:
        progress.close()
        if stop.args:  # the trainer stopped between steps and saved the run
            print(f"interrupted; the run so far is saved in {shown(interrupt_path)}; continue it "
                  f"with --resume {shown(interrupt_path)}", file=sys.stderr)
        else:
            print("interrupted at once (second Ctrl-C); nothing was saved beyond the last "
                  "checkpoint", file=sys.stderr)
        return 130
    finally:
        progress.finish()  # the last epoch's line if log_every skipped it
    if args.metrics_json:
        _write_metrics(args.metrics_json, history)
    if plot and history:
        from .runtime.plot import plot_history

        plot_history(history, plot, title=f"{args.spec} ({cfg['data']}, {cfg['optimizer']})")
        print(f"wrote the plot to {shown(plot)}")
    notes = [n for c in callbacks if (n := getattr(c, "report", lambda: None)())]
    if new_epochs or not notes:  # Why: a run that had stopped early says so instead
        print(_summary(history, len(new_epochs), cfg, time.perf_counter() - started, args))
    if new_epochs and cfg["bptt"] and cfg["data"] == "corpus":
        _test_perplexity(net, plan, cfg)
    for note in notes:
        print(note)
    return 0


def _test_perplexity(net: Any, plan: Any, cfg: dict[str, Any]) -> None:
    """A corpus's test split (PTB's ptb.test.txt), once at the end, as DLFS-2 reports it."""
    from .runtime.data import corpus

    test = corpus("corpus", dict(plan.run.data_args)).test
    if test is not None and len(test) > cfg["batch_size"] * cfg["bptt"]:
        ppl = net.perplexity(test, batch_size=cfg["batch_size"], bptt=cfg["bptt"])
        print(f"test perplexity {ppl:.2f} ({len(test):,} tokens)")


def _contexts(data: Any, steps: int) -> Any:
    """A corpus as (context, centre word) rows (DLFS-2's `create_contexts_target`)."""
    from dataclasses import replace

    from .runtime.tokens import contexts_and_targets

    x, t = contexts_and_targets(data.x_train, steps, data.source)
    vx, vt = contexts_and_targets(data.x_test, steps, data.source) if data.x_test is not None \
        else (None, None)
    return replace(data, x_train=x, t_train=t, x_test=vx, t_test=vt)


def _summary(history: list[dict[str, Any]], new: int, cfg: dict[str, Any], seconds: float,
             args: Namespace) -> str:
    if not new:
        held = f"{cfg['epochs']} epoch{_s(cfg['epochs'])}"
        return (f"nothing to train: the checkpoint {shown(args.resume)} already holds {held}; "
                "pass a larger --epochs to train on")
    last = history[-1]
    resumed = f" (resumed after epoch {last['epoch'] - new})" if len(history) > new else ""
    line = (f"trained {last['epoch']} epoch{_s(last['epoch'])}{resumed} of "
            f"{shown(cfg['data'])} with {cfg['optimizer']} in "
            f"{seconds:.1f}s: train loss {last['train_loss']:.4f}")
    if "train_acc" in last:  # mse has no accuracy
        line += f", train acc {last['train_acc']:.2%}"
    if "train_ppl" in last:  # a language model
        line += f", train perplexity {last['train_ppl']:.2f}"
    for held in ("test", "val"):  # `val_*` with a validation_split
        if f"{held}_loss" in last:
            line += f"; {held} loss {last[f'{held}_loss']:.4f}"
            if f"{held}_acc" in last:
                line += f", {held} acc {last[f'{held}_acc']:.2%}"
            if f"{held}_ppl" in last:
                line += f", {held} perplexity {last[f'{held}_ppl']:.2f}"
    if args.checkpoint:
        line += f"\ncheckpoint: {shown(args.checkpoint)}"
    return line


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _check_outputs(args: Namespace, plot: str | None, cfg: dict[str, Any]) -> list[Any]:
    """Every file the run will write, checked before the data is loaded: a wrong suffix, a
    missing folder or a directory in the way must not cost a whole run. Returns the
    `keep_best` callback (in a list: none without it), its path probed."""
    from .errors import NetcError
    from .outputs import check_output

    if args.metrics_json:
        check_output(args.metrics_json, what="the metrics file")
    if plot:
        from .runtime.plot import plot_suffixes

        # Why: fail before training, not after a long run (this also needs matplotlib).
        check_output(plot, what="the plot", suffixes=plot_suffixes())
    if cfg["keep_best"] and not args.checkpoint:
        raise NetcError("keep_best (--keep-best, or train: keep_best=1 in the spec) keeps the "
                        "best epoch's checkpoint beside the run's\n  hint: give --checkpoint "
                        "PATH too; the best one goes to PATH with .best.npz")
    if not args.checkpoint:
        return []
    from .runtime.callbacks import keep_best
    from .runtime.checkpoint import check_writable

    # Why keep the result: the Trainer then does not probe the path a second time.
    args.checkpoint = check_writable(args.checkpoint)  # also refuses another run's
    if not cfg["keep_best"]:
        return []
    best = keep_best(args.checkpoint, "netc run")
    best.path = check_writable(best.path)
    return [best]


def _write_metrics(path: str, history: list[dict[str, Any]]) -> None:
    text = json.dumps({"history": list(history)}, indent=2) + "\n"
    write_atomically(path, lambda f: f.write(text.encode("utf-8")), what="the metrics file")
