"""Stage 2, expand: `Program` -> flat tuple of `Expanded` calls (blocks inlined, repeats unrolled).

Everything here is iterative and bounded before it runs: nesting depth, the layer count a
spec would unroll to, and cycles between blocks are checked first, so no spec can cause a
`RecursionError`, a hang or a huge allocation.
"""

from __future__ import annotations

from ..dsl.nodes import Call, Definition, Pipeline, Program, Repeat, Stage, TooLarge
from ..errors import Diagnostic, SpecLimitError, SpecStructureError
from ..source import Span
from .expanded import Expanded, Via
from .registry import OPS
from .unroll import branches, unroll
from .unsupported import check_supported

__all__ = ["MAX_DEPTH", "MAX_LAYERS", "Expanded", "Via", "expand"]

MAX_LAYERS = 100_000
MAX_DEPTH = 100
_CAP = 10**15  # Why: keeps counts of absurd repeats printable and cheap


def expand(program: Program) -> tuple[Expanded, ...]:
    """Inline blocks and unroll repeats. Raises `SpecStructureError` or `SpecLimitError`."""
    source = program.source
    check_supported(program)
    defs = _definitions(program)
    if not program.pipelines:
        end = len(source.text)
        raise SpecStructureError([Diagnostic(
            "empty_network", "the spec has no pipeline of layers", source.span(end, end),
            hint="write one, e.g. affine(784, 50) -> relu -> affine(10) -> softmax_ce")], source)
    _check_single_pipeline(program)
    _check_repeats_and_depth(program, defs)
    _check_cycles(defs, source)
    _check_size(program.pipelines, defs, source)
    return unroll(program.pipelines, defs, source, _named_inputs(program))


def _named_inputs(program: Program) -> tuple[tuple[str, Span], ...]:
    """`input: a: 784, b: 10`: the input names and where each is declared."""
    return tuple((a.name, a.span) for d in program.declarations if d.key == "input"
                 for a in d.args if a.colon and a.name)


def _definitions(program: Program) -> dict[str, Definition]:
    defs: dict[str, Definition] = {}
    problems = []
    for d in program.definitions:
        if d.name in OPS:
            problems.append(Diagnostic("shadows_op", f"block name '{d.name}' is a built-in layer",
                                       d.name_span, hint="choose another name for the block"))
        elif d.name in defs:
            first = defs[d.name].name_span
            problems.append(Diagnostic(
                "duplicate_definition", f"block '{d.name}' is defined twice", d.name_span,
                notes=(f"first defined at {first.line}:{first.column}",)))
        else:
            defs[d.name] = d
    if problems:
        raise SpecStructureError(problems, program.source)
    return defs


def _check_single_pipeline(program: Program) -> None:
    """A pipeline after one that names its value (`=> h`) is a new statement; after one that
    does not, it is most likely the rest of that pipeline with its `->` missing."""
    first, *rest = program.pipelines
    if any(prev.bind is None for prev in program.pipelines[:-1]):
        graph = any(p.bind is not None for p in program.pipelines)
        # Why: each hint names the line that ends the pipeline just before this one.
        raise SpecStructureError([Diagnostic(
            "multiple_pipelines", "a second pipeline starts here; a spec has exactly one",
            p.span, hint=f"missing '->' at the end of line {prev.span.end_line}?")
            if not graph else Diagnostic(
                "multiple_pipelines", f"another pipeline starts here, but the one before it "
                f"(line {prev.span.end_line}) does not name its value, so it would be lost",
                p.span, hint=f"end line {prev.span.end_line} with '=> name' and use the name, "
                "or join the lines with '->'; only the last pipeline ends in the loss")
            for prev, p in zip(program.pipelines, rest, strict=False) if prev.bind is None],
            program.source)


def _walk(stage: Stage):
    """Every stage inside `stage` (iteratively), the stage itself first."""
    todo = [stage]
    while todo:
        s = todo.pop()
        yield s
        if isinstance(s, Pipeline):
            todo.extend(s.stages)
        elif isinstance(s, Repeat):
            todo.append(s.body)
        elif isinstance(s, Call):
            todo.extend(a.value for a in _stage_args(s))


def _stage_args(call: Call) -> list:
    """Arguments that are layers: a combinator's branches. (Block parameters are values, so
    a block cannot multiply the layers it is given: the size check below stays exact.)"""
    return [a for a in branches(call) if isinstance(a.value, (Pipeline, Repeat, Call))]


def _uses(stage: Stage, defs: dict[str, Definition]) -> list[Call]:
    """The block uses inside `stage`: `name`, or `name(args)` for a block with parameters."""
    return [s for s in _walk(stage) if isinstance(s, Call) and s.name in defs and
            (not s.has_parens or defs[s.name].params)]


def _roots(program: Program, defs: dict[str, Definition]) -> list[Pipeline]:
    return [*program.pipelines, *(d.body for d in defs.values())]


def _check_repeats_and_depth(program: Program, defs: dict[str, Definition]) -> None:
    problems = []
    for root in _roots(program, defs):
        if root.depth > MAX_DEPTH:
            raise SpecLimitError([Diagnostic(
                "too_deep", f"parentheses nest {root.depth} levels deep; the limit is "
                f"{MAX_DEPTH}", root.span)], program.source)
        for s in _walk(root):
            if isinstance(s, Repeat) and isinstance(s.count, TooLarge):
                problems.append(Diagnostic(
                    "bad_repeat", f"{s.count.describe()} is too large for a repeat count",
                    s.count_span, hint=f"the pipeline may unroll to at most {MAX_LAYERS:,} "
                    "layers"))
            elif isinstance(s, Repeat) and not (isinstance(s.count, int) and s.count >= 1):
                problems.append(Diagnostic(
                    "bad_repeat", f"a repeat count must be a whole number >= 1, got {s.count}",
                    s.count_span))
    if problems:
        raise SpecStructureError(problems, program.source)


def _check_cycles(defs: dict[str, Definition], source) -> None:
    uses = {n: _uses(d.body, defs) for n, d in defs.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for start in defs:
        stack = [(start, iter(uses[start]))]
        state.setdefault(start, 1)
        while stack:
            name, it = stack[-1]
            call = next(it, None)
            if call is None:
                state[name] = 2
                stack.pop()
            elif state.get(call.name) == 1:
                path = " -> ".join([n for n, _ in stack] + [call.name])
                raise SpecStructureError([Diagnostic(
                    "recursive_definition", f"block '{call.name}' uses itself ({path})",
                    call.span, hint="a block cannot contain itself; use `* N` to repeat")],
                    source)
            elif call.name not in state:
                state[call.name] = 1
                stack.append((call.name, iter(uses[call.name])))


def _check_size(roots: tuple[Pipeline, ...], defs: dict[str, Definition], source) -> None:
    sizes: dict[str, int] = {}
    for name in _definition_order(defs):
        sizes[name] = _size(defs[name].body, sizes, defs)
    total = min(sum(_size(r, sizes, defs) for r in roots), _CAP)
    root = roots[-1]
    if total > MAX_LAYERS:
        shown = f"{total:,}" if total < _CAP else f"more than {_CAP:,}"
        raise SpecLimitError([Diagnostic(
            "too_many_layers", f"the pipeline unrolls to {shown} layers; the limit is "
            f"{MAX_LAYERS:,}", root.span)], source)


def _definition_order(defs: dict[str, Definition]) -> list[str]:
    """Blocks ordered so that each comes after the blocks it uses (no cycles remain)."""
    order: list[str] = []
    done: set[str] = set()
    for start in defs:
        stack = [start]
        while stack:
            name = stack[-1]
            pending = [s.name for s in _uses(defs[name].body, defs) if s.name not in done]
            if pending:
                stack.extend(pending)
            else:
                stack.pop()
                if name not in done:
                    done.add(name)
                    order.append(name)
    return order


def _size(root: Pipeline, sizes: dict[str, int], defs: dict[str, Definition]) -> int:
    """Layer count of a pipeline, bottom-up with a post-order walk (no recursion); a
    combinator counts its branches and its merge node."""
    result: dict[int, int] = {}
    todo: list[tuple[Stage, bool]] = [(root, False)]
    while todo:
        s, ready = todo.pop()
        if isinstance(s, Call) and s.name in defs and (not s.has_parens or
                                                       defs[s.name].params):
            result[id(s)] = sizes.get(s.name, 1)
        elif isinstance(s, Call) and not branches(s):
            result[id(s)] = 1
        elif not ready:
            todo.append((s, True))
            todo.extend((c, False) for c in _children(s))
        elif isinstance(s, Repeat):
            result[id(s)] = min(s.count * result[id(s.body)], _CAP)
        else:
            result[id(s)] = min(sum(result[id(c)] for c in _children(s)) +
                                isinstance(s, Call), _CAP)
    return result[id(root)]


def _children(s: Stage) -> list:
    if isinstance(s, Pipeline):
        return list(s.stages)
    if isinstance(s, Repeat):
        return [s.body]
    return [a.value for a in _stage_args(s)] if isinstance(s, Call) else []
