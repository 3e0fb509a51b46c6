"""The seq2seq commands of `netc` (DLFS-2 ch. 7-8): `generate` prints a trained network's
answers, `attention` draws what its attention looked at. Each reads its arguments and
delegates to the network (`runtime/answers.py`, `runtime/attention_plot.py`); user problems
are `NetcError`s (exit 1).
"""

from __future__ import annotations

import argparse
import sys

from .outputs import check_output
from .terminal import shown

MAX_QUESTIONS_BYTES = 64 * 2**20  # a questions file larger than this is surely a mistake


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Register generate and attention on the `netc` subparsers."""
    g = sub.add_parser("generate", parents=[common],
                       help="a seq2seq network's answers to questions (greedy decoding)")
    g.add_argument("spec")
    g.add_argument("questions", nargs="+", metavar="QUESTION",
                   help="questions as text (\"16+75\"), or @FILE for one question a line")
    g.add_argument("--checkpoint", metavar="CKPT", required=True, help="the trained weights")
    g.set_defaults(func=cmd_generate)

    a = sub.add_parser("attention", parents=[common],
                       help="draw what the attention looked at while answering a question")
    a.add_argument("spec")
    a.add_argument("question", metavar="QUESTION")
    a.add_argument("--checkpoint", metavar="CKPT", required=True, help="the trained weights")
    a.add_argument("-o", "--output", metavar="FILE", required=True,
                   help="the heat map: .png, .svg, .pdf, ...")
    a.set_defaults(func=cmd_attention)


def cmd_generate(args: argparse.Namespace) -> int:
    from .api import load

    questions = _questions(args.questions)
    net = load(args.spec, checkpoint=args.checkpoint)
    for answer in net.generate(questions):
        print(answer)
    return 0


def _questions(given: list[str]) -> list[str]:
    """The questions: each argument, or every line of `@FILE` (blank lines skipped)."""
    from .errors import DataError
    from .reading import read_bounded

    out: list[str] = []
    for q in given:
        if not q.startswith("@"):
            out.append(q)
            continue
        raw = read_bounded(q[1:], "questions file", MAX_QUESTIONS_BYTES)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = raw[:e.start].count(b"\n") + 1
            raise DataError(f"{q[1:]}:{line}: not UTF-8 text ({e.reason})") from None
        lines = [line.rstrip("\r") for line in text.split("\n")]
        found = [line for line in lines if line.strip()]
        if not found:
            raise DataError(f"{q[1:]}: no questions in the file (one a line)")
        out += found
    return out


def cmd_attention(args: argparse.Namespace) -> int:
    from .api import load
    from .runtime.plot import plot_suffixes

    check_output(args.output, what="the heat map", suffixes=plot_suffixes())
    net = load(args.spec, checkpoint=args.checkpoint)
    weights, question, answer = net.attention(args.question)
    from .runtime.attention_plot import plot_attention

    plot_attention(weights, question, answer, args.output)
    print(f"{shown(question)} -> {shown(answer)}; wrote the attention map to "
          f"{shown(args.output)}", file=sys.stderr)
    return 0
