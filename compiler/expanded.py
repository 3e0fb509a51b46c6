"""Stage 2's output: `Expanded`, one call of the flat graph, and `Via`, the block uses that
led to it (for the notes of a located error)."""

from __future__ import annotations

from dataclasses import dataclass

from ..dsl.nodes import Call
from ..source import Span

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
    """A call of the flat graph, the block uses it was expanded from (innermost last), and
    the calls whose values it reads (indices into the graph, -1 the network's input; left
    out, the call just before it)."""

    call: Call
    via: Via | None = None
    inputs: tuple[int, ...] = ()
    # `-> expect(30, 12, 12)` after it: the shapes its value must have, and where each was
    # written (compiler/expectations.py); checked by shape inference.
    expects: tuple[tuple[tuple[int, ...], Span], ...] = ()

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
