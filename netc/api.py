"""The pipeline driver: one function per stage, and `compile`/`load` that run them all.

Stages: read (`Source`) -> parse -> expand -> validate -> check -> lower (`NetPlan`) -> build
(`Network`). Every stage stays callable on its own, so tests and users can stop anywhere.
The runtime (numpy) is imported only inside the functions that build networks, so
`import netc` and `netc check` stay fast.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any

from .source import STRING_PATH, Source

if TYPE_CHECKING:
    from .compiler.plan import NetPlan
    from .compiler.spec import NetSpec
    from .dsl.nodes import Program
    from .errors import Diagnostic
    from .runtime.network import Network


def read(path: str | PathLike[str]) -> Source:
    """Stage 0: read a spec file (UTF-8, BOM and CRLF accepted); `DataError` if unreadable."""
    return Source.from_path(path)


def _source(text: str | Source, path: str | None) -> Source:
    if isinstance(text, Source):
        return text
    return Source.from_text(text, path or STRING_PATH)


def parse(text: str | Source, *, path: str | None = None) -> Program:
    """Stage 1: spec text -> AST (`netc.dsl.nodes.Program`). Raises `SpecSyntaxError`."""
    from .dsl.parser import parse as parse_source

    return parse_source(_source(text, path))


def validate(text: str | Source, *, path: str | None = None) -> NetSpec:
    """Stages 1-4: spec text -> validated, structurally checked `NetSpec`."""
    return _validated(_source(text, path))[0]


def _validated(source: Source) -> tuple[Any, Any]:
    from .compiler.check import check
    from .compiler.expand import expand
    from .compiler.validate import validate as validate_calls
    from .dsl.parser import parse as parse_source

    program = parse_source(source)
    spec, smap = validate_calls(program, expand(program))
    check(spec, smap, source)
    return spec, smap


def plan(text: str | Source, *, path: str | None = None) -> NetPlan:
    """Stages 1-5: spec text -> `NetPlan` (widths checked, parameters named; no numpy)."""
    return _planned(_source(text, path))[0]


def _planned(source: Source) -> tuple[NetPlan, Any]:
    """`plan`, and the source map that says where each of its nodes was written (tooling
    that points back into the text: `netc fmt --annotate`)."""
    from .compiler.lower import lower

    spec, smap = _validated(source)
    return lower(vocabulary(spec, smap, source), smap, source), smap


def vocabulary(spec: Any, smap: Any, source: Source) -> Any:
    """`input: tokens` alone takes its vocabulary's size from the data: markov's `words`, or
    the words of the corpus's training file (read once per process, as `netc run` reads it)."""
    given = spec.run.input
    if given is not None and given.named and given.tokens is not None:
        return _pair_shapes(spec, smap, source)
    if given is None or given.tokens != 0:
        return spec
    data = spec.run.data
    if data.source == "markov":
        return spec  # lowering knows its vocabulary: `words`
    if data.source == "corpus":
        from .runtime.data import corpus

        vocab = corpus("corpus", {"path": data.path}).vocab_size
    else:
        from .errors import Diagnostic, SpecValidationError

        span = smap.args.get(("run", "input", "tokens"), source.span(0, 0))
        raise SpecValidationError([Diagnostic(
            "unknown_vocabulary", f"input: tokens takes its vocabulary from a corpus, but the "
            f"data is {data.source!r}", span, loc=("input", "tokens"),
            hint='use data: corpus("train.txt") or markov(words=300), or give the size: '
                 "input: tokens(10000)")], source)
    run = spec.run.model_copy(update={"input": given.model_copy(update={"tokens": vocab})})
    return spec.model_copy(update={"run": run})


def _pair_shapes(spec: Any, smap: Any, source: Source) -> Any:
    """`input: src: tokens, tgt: tokens`: the questions' and answers' lengths and their
    vocabulary, from `data: addition`, `dates` or `pairs("file.txt")` (generated or read once
    per process); what `tokens(V, steps=T)` gives stays."""
    from .compiler.spec import PAIR_DATA
    from .errors import Diagnostic, SpecValidationError

    given, data = spec.run.input, spec.run.data
    known = given.tokens and all(shape for _, shape in given.named)
    if known:
        return spec
    span = smap.args.get(("run", "input", "named"), source.span(0, 0))
    if data.source not in PAIR_DATA or len(given.named) != 2:
        raise SpecValidationError([Diagnostic(
            "missing_steps", "token inputs by name take their lengths and vocabulary from "
            "question/answer data" + ("" if len(given.named) == 2 else
                                      f", which feeds two of them, not {len(given.named)}"),
            span, loc=("input", "named"), hint="use data: addition, dates or "
            'pairs("file.txt") with input: src: tokens, tgt: tokens, or give each its size: '
            "src: tokens(13, steps=7)")], source)
    from .runtime.data import pairs

    found = pairs(data.source, data.path, data.reverse)
    lengths = (found.questions.shape[1], found.answers.shape[1])
    named = tuple((name, shape or (steps,)) for (name, shape), steps in
                  zip(given.named, lengths, strict=True))
    update = {"named": named, "tokens": given.tokens or len(found.chars),
              "width": sum(shape[0] for _, shape in named)}
    run = spec.run.model_copy(update={"input": given.model_copy(update=update)})
    return spec.model_copy(update={"run": run})


def lint(spec: str | PathLike[str] | Source, *, path: str | None = None) -> list[Diagnostic]:
    """The lint warnings `netc check` and `netc lint` print (the same `Diagnostic`s, severity
    "warning", each located, its fix as `hint`) for `spec`: spec text, a `Source`, or a path
    (a `Path`, or a one-line string ending in `.net`). Raises `SpecError` for an invalid spec."""
    from .compiler.lint import lint_source

    is_path = isinstance(spec, PathLike) or (isinstance(spec, str) and "\n" not in spec
                                             and spec.endswith(".net"))
    return lint_source(read(spec) if is_path else _source(spec, path), vocabulary)[1]


def plan_file(path: str | PathLike[str]) -> NetPlan:
    """`plan` of a spec file."""
    return plan(read(path))


# Why the name: `netc.compile` is the product's verb; it shadows the builtin only here.
def compile(  # noqa: A001
    text: str | Source, *, seed: int | None = None, dtype: str | None = None,
    path: str | None = None, backend: str | None = None,
) -> Network:
    """Spec text -> a ready `Network` (generated forward/backward code, initialised weights).

    `seed`, `dtype` and `backend` ("numpy" or "numba": what `fit` trains on) default to the
    spec's `train:` settings (seed 0, float32, numpy).
    """
    from .runtime.build import build

    return build(plan(text, path=path), seed=_seed(seed, "compile"), dtype=dtype,
                 backend=backend)


def load(
    path: str | PathLike[str], *, seed: int | None = None, dtype: str | None = None,
    checkpoint: str | PathLike[str] | None = None, backend: str | None = None,
) -> Network:
    """A spec file -> `Network`; with `checkpoint`, its trained parameters are loaded."""
    from .runtime.build import build

    net = build(plan(read(path)), seed=_seed(seed, "load"), dtype=dtype, backend=backend)
    if checkpoint is not None:
        net.load_checkpoint(checkpoint)
    return net


def _seed(seed: int | None, who: str) -> int | None:
    """`seed` checked as the spec's `train: seed=` is (`seed=2.5` or `"3"` was taken as is)."""
    from .rules import TRAIN

    return None if seed is None else int(TRAIN["seed"].check(seed, who))
