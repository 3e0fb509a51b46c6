"""Stage 2, expand: `Program` -> flat tuple of `Expanded` calls (blocks inlined, repeats unrolled).

Everything here is iterative and bounded before it runs: nesting depth, the layer count a
spec would unroll to, and cycles between blocks are checked first, so no spec can cause a
`RecursionError`, a hang or a huge allocation.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dsl.nodes import Call, Definition, Pipeline, Program, Repeat, Stage, TooLarge
from ..errors import Diagnostic, SpecLimitError, SpecStructureError
from ..source import Span
from .registry import OPS
from .unsupported import check_supported

MAX_LAYERS = 100_000
MAX_DEPTH = 100
_CAP = 10**15  # Why: keeps counts of absurd repeats printable and cheap


NOTES_OUTER, NOTES_INNER = 3, 3  # blocks named in a layer's notes; the rest are counted


@dataclass(frozen=True, slots=True)
class Via:
    """One block use on the way to a call, its parent the use around it (None: the pipeline).

    Why a chain, not a tuple: each nesting level then costs O(1), where copying a tuple per
    level made 60,000 nested blocks quadratic. `outer` keeps the outermost uses for the notes.
    """

    name: str
    span: Span
    parent: Via | None = None
    depth: int = 1
    outer: tuple[Via, ...] = ()

    def enter(self, name: str, span: Span) -> Via:
        """The use of block `name` at `span` inside this one."""
        outer = self.outer if self.depth > NOTES_OUTER else (*self.outer, self)
        return Via(name, span, self, self.depth + 1, outer)


@dataclass(frozen=True, slots=True)
class Expanded:
    """A call of the flat pipeline and the block uses it was expanded from (innermost last)."""

    call: Call
    via: Via | None = None

    def notes(self) -> tuple[str, ...]:
        """One note per block use, outermost first; deep nests show only both ends."""
        if self.via is None:
            return ()
        inner, v = [], self.via
        while v is not None and len(inner) < NOTES_INNER:
            inner.append(v)
            v = v.parent
        depth = self.via.depth
        outer = [u for u in (*self.via.outer, self.via) if u.depth <= min(NOTES_OUTER,
                                                                            depth - len(inner))]
        hidden = depth - len(outer) - len(inner)
        notes = [_note(u) for u in outer]
        if hidden:
            notes.append(f"… {hidden:,} more block{'s' if hidden != 1 else ''} …")
        return (*notes, *(_note(u) for u in reversed(inner)))


def _note(u: Via) -> str:
    return f"in block '{u.name}' used at {u.span.line}:{u.span.column}"


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
    _check_size(program.pipelines[0], defs, source)
    return _unroll(program.pipelines[0], defs)


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
    first, *rest = program.pipelines
    if rest:
        # Why: each hint names the line that ends the pipeline just before this one.
        raise SpecStructureError([Diagnostic(
            "multiple_pipelines", "a second pipeline starts here; a spec has exactly one",
            p.span, hint=f"missing '->' at the end of line {prev.span.end_line}?")
            for prev, p in zip(program.pipelines, rest, strict=False)], program.source)


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


def _roots(program: Program, defs: dict[str, Definition]) -> list[Pipeline]:
    return [program.pipelines[0], *(d.body for d in defs.values())]


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
    uses = {n: [s for s in _walk(d.body) if isinstance(s, Call) and not s.has_parens
                and s.name in defs] for n, d in defs.items()}
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


def _check_size(root: Pipeline, defs: dict[str, Definition], source) -> None:
    sizes: dict[str, int] = {}
    for name in _definition_order(defs):
        sizes[name] = _size(defs[name].body, sizes)
    total = _size(root, sizes)
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
            pending = [s.name for s in _walk(defs[name].body) if isinstance(s, Call)
                       and not s.has_parens and s.name in defs and s.name not in done]
            if pending:
                stack.extend(pending)
            else:
                stack.pop()
                if name not in done:
                    done.add(name)
                    order.append(name)
    return order


def _size(root: Pipeline, sizes: dict[str, int]) -> int:
    """Layer count of a pipeline, bottom-up with a post-order walk (no recursion)."""
    result: dict[int, int] = {}
    todo: list[tuple[Stage, bool]] = [(root, False)]
    while todo:
        s, ready = todo.pop()
        if isinstance(s, Call):
            result[id(s)] = sizes.get(s.name, 1) if not s.has_parens else 1
        elif not ready:
            todo.append((s, True))
            todo.extend((c, False) for c in (s.stages if isinstance(s, Pipeline) else [s.body]))
        elif isinstance(s, Pipeline):
            result[id(s)] = sum(result[id(c)] for c in s.stages)
        else:
            result[id(s)] = min(s.count * result[id(s.body)], _CAP)
    return result[id(root)]


def _unroll(root: Pipeline, defs: dict[str, Definition]) -> tuple[Expanded, ...]:
    out: list[Expanded] = []
    todo: list[tuple[Stage, Via | None]] = [(root, None)]
    while todo:
        s, via = todo.pop()
        if isinstance(s, Pipeline):
            todo.extend((c, via) for c in reversed(s.stages))
        elif isinstance(s, Repeat):
            todo.extend([(s.body, via)] * s.count)
        elif s.name in defs and not s.has_parens:
            use = via.enter(s.name, s.span) if via else Via(s.name, s.span)
            todo.append((defs[s.name].body, use))
        else:
            out.append(Expanded(s, via))
    return tuple(out)

