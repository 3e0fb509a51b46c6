"""The interop and tooling commands of `netc`: export, graph, predict, similar, summary,
time, fmt.

`cli.py` calls `add_commands` from its parser; each `cmd_` function here only reads its
arguments and delegates: ONNX to `runtime/onnx_export.py`, diagrams to `netc/graph.py`,
predictions to `netc/predict.py`, formatting to `dsl/printer.py`. Like every command, each
returns the exit code and reports user problems as `NetcError`s (exit 1).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from . import flags
from .atomic import write_atomically
from .errors import DataError, MissingDependencyError
from .outputs import check_output
from .terminal import shown

DOT_TIMEOUT_S = 60


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser,
                 optimizers: tuple[str, ...]) -> None:
    """Register export, graph, predict, summary, time and fmt on the `netc` subparsers."""
    e = sub.add_parser("export", parents=[common], help="write the network as an ONNX model")
    e.add_argument("spec")
    e.add_argument("--checkpoint", metavar="CKPT", help="trained weights (else the initial ones)")
    e.add_argument("-o", "--output", metavar="FILE", help="the .onnx file (default SPEC.onnx)")
    e.set_defaults(func=cmd_export)

    g = sub.add_parser("graph", parents=[common], help="draw the network (text, Mermaid, DOT)")
    g.add_argument("spec")
    g.add_argument("-o", "--output", metavar="FILE",
                   help=".mmd (Mermaid), .dot, .txt, or .svg/.png/.pdf (needs Graphviz)")
    g.set_defaults(func=cmd_graph)

    p = sub.add_parser("predict", parents=[common], help="run a trained network on new data")
    p.add_argument("spec")
    p.add_argument("input", metavar="INPUT", help=".npz (array x) or .csv (features[, label])")
    p.add_argument("--checkpoint", metavar="CKPT", required=True, help="the trained weights")
    p.add_argument("-o", "--output", metavar="OUT", help="write .npz (y, labels) or .csv")
    p.set_defaults(func=cmd_predict)

    w = sub.add_parser("similar", parents=[common],
                       help="the nearest words by the trained word vectors (DLFS-2 ch. 3)")
    w.add_argument("spec")
    w.add_argument("query", metavar="WORD", help="a word, or an analogy: 'king - man + woman'")
    w.add_argument("--checkpoint", metavar="CKPT", required=True, help="the trained weights")
    w.add_argument("--analogy", nargs=3, metavar=("A", "B", "C"),
                   help="a is to b as c is to ?: the words nearest b - a + c (WORD is ignored)")
    w.add_argument("--top", type=flags.positive_int, default=5, help="how many (default 5)")
    w.set_defaults(func=cmd_similar)

    s = sub.add_parser("summary", parents=[common], help="the layer table and run settings "
                       "(same as check -v)")
    s.add_argument("spec")
    s.set_defaults(func=cmd_summary, json=False, verbose=True)

    t = sub.add_parser("time", parents=[common],
                       help="time each layer's forward and backward pass (like caffe time)")
    t.add_argument("spec")
    t.add_argument("--batch", type=flags.batch_size,
                   help="batch size (default: the spec's batch_size)")
    t.add_argument("--steps", type=flags.positive_int, default=50,
                   help="timed steps (default 50)")
    t.add_argument("--optimizer", choices=optimizers,
                   help="time this optimizer's update (default: the spec's)")
    t.add_argument("--lr", type=flags.learning_rate,
                   help="its learning rate (default: the spec's)")
    t.set_defaults(func=cmd_time)

    f = sub.add_parser("fmt", parents=[common], help="rewrite specs in the canonical layout")
    f.add_argument("specs", nargs="+", metavar="SPEC")
    f.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 and name each file that would change")
    f.add_argument("--diff", action="store_true",
                   help="write nothing; print what would change as a unified diff (exit 1 if any)")
    shapes = f.add_mutually_exclusive_group()
    shapes.add_argument("--annotate", action="store_true",
                        help="write the inferred shape after each stage as a `#:` comment")
    shapes.add_argument("--strip", action="store_true", help="remove the `#:` shape comments")
    f.set_defaults(func=cmd_fmt)


def cmd_time(args: argparse.Namespace) -> int:
    from .api import plan_file
    from .runtime.timing import profile, report

    if (args.batch is not None and args.batch < 1) or args.steps < 1:
        raise DataError("--batch and --steps must be at least 1")
    plan = plan_file(args.spec)
    batch = args.batch or plan.run.batch_size
    rows = profile(plan, batch=batch, steps=args.steps, optimizer=args.optimizer, lr=args.lr)
    print(report(plan, rows, batch))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .api import load

    out = args.output or f"{Path(args.spec).stem}.onnx"
    check_output(out, what="the ONNX model", suffixes=(".onnx",))
    if args.checkpoint is None:
        print("note: no --checkpoint; exporting the initial (untrained) weights",
              file=sys.stderr)
    net = load(args.spec, checkpoint=args.checkpoint)
    net.export_onnx(out)
    parts = net.plan.input_parts or (("input", net.plan.input_shape),)
    given = ", ".join(f"'{name}' (batch, {', '.join(str(d) for d in shape)})"
                      for name, shape in parts)
    print(f"wrote {shown(out)} (ONNX opset 17: input {given}, "
          f"output 'output' (batch, {net.plan.n_outputs}))")
    if net.plan.run.generate:  # seq2seq: also the encoder and one decoder step
        encoder, decoder = net.export_onnx_steps(out)
        print(f"wrote {shown(encoder)} and {shown(decoder)} (generation step by step: "
              "the encoder once, the decoder once per token)")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from . import graph
    from .api import plan_file

    if args.output:
        check_output(args.output, what="the diagram",
                     suffixes=sorted(graph.FORMATS) + list(graph.RENDERED))
    plan = plan_file(args.spec)
    if not args.output:
        print(graph.to_text(plan), end="")
        return 0
    from .commands import write_text

    suffix = Path(args.output).suffix.lower()
    if suffix in graph.RENDERED:
        write_atomically(args.output, _render(graph.to_dot(plan), args.output, suffix[1:]),
                         what="the diagram")
    else:
        write_text(args.output, graph.FORMATS[suffix](plan), what="the diagram")
    print(f"wrote {shown(args.output)}")
    return 0


def _render(dot_text: str, path: str, fmt: str) -> Callable[[BinaryIO], object]:
    """Graphviz's `dot` turns the DOT text into an image (svg, png or pdf) on its stdout;
    the writer it returns puts that in `path` as netc writes every file (`netc/atomic.py`)."""
    exe = shutil.which("dot")
    if exe is None:
        raise MissingDependencyError(
            f"rendering .{fmt} needs Graphviz's `dot` program (apt-get install graphviz); "
            "or write Mermaid with -o net.mmd")
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"),
                              capture_output=True, timeout=DOT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise DataError(f"{path}: Graphviz took over {DOT_TIMEOUT_S} s; gave up") from None
    except OSError as e:
        raise DataError(f"{path}: cannot run {exe} ({e.strerror or e})") from None
    if done.returncode != 0 or not done.stdout:
        why = done.stderr.decode("utf-8", "replace").strip() or done.returncode
        raise DataError(f"{path}: Graphviz failed: {why}")
    return lambda f: f.write(done.stdout)


def cmd_predict(args: argparse.Namespace) -> int:
    from .predict import format_predictions, predict_file, write_predictions

    if args.output:
        from .predict import SUFFIXES

        check_output(args.output, what="the predictions", suffixes=SUFFIXES)
    y, labels, op = predict_file(args.spec, args.checkpoint, args.input)
    if args.output:
        write_predictions(args.output, y, labels, op)
        print(f"wrote {len(y)} predictions to {shown(args.output)}")
    else:
        print(format_predictions(y, labels, op), end="")
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from .api import load

    net = load(args.spec, checkpoint=args.checkpoint)
    query = args.query
    if args.analogy:  # a : b = c : ?  ->  b - a + c
        a, b, c = args.analogy
        query = f"{b} - {a} + {c}"
    print(f"nearest to {shown(query)}:")
    for word, score in net.most_similar(query, top=args.top):
        print(f"  {shown(word):<20} {score:.4f}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from .cli import cmd_check

    return cmd_check(args)


def cmd_fmt(args: argparse.Namespace) -> int:
    from .commands import write_text
    from .source import Source, read_spec_bytes

    changed = 0
    for path in args.specs:
        # Read once: the bytes formatted are the bytes compared (a second read of a FIFO or
        # of a file changed in between would not be).
        raw = read_spec_bytes(path)
        new = _formatted(Source.from_bytes(raw, path), args)
        old = raw.decode("utf-8")  # from_bytes has checked it decodes
        if new == old:
            continue
        changed += 1
        if getattr(args, "diff", False):
            print(shown(_unified_diff(old, new, path)), end="")
        elif args.check:
            print(f"would reformat {shown(path)}")
        else:
            write_text(path, new, what="the formatted spec")
            print(f"reformatted {shown(path)}")
    if (args.check or getattr(args, "diff", False)) and changed:
        return 1
    return 0


def _formatted(source: Any, args: argparse.Namespace) -> str:
    """The spec as `netc fmt` writes it: with its shapes annotated, stripped, or as it is."""
    if getattr(args, "annotate", False) or getattr(args, "strip", False):
        from .annotate import annotate, strip

        return annotate(source) if args.annotate else strip(source)
    from .dsl.printer import format_source

    return format_source(source)


def _unified_diff(old: str, new: str, path: str) -> str:
    """`fmt --diff`: the change as `diff -u` would print it, each file named as given."""
    import difflib

    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 f"{path} (before)", f"{path} (formatted)")
    # Why: a last line without '\n' would run into the next header.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
