"""Stage 2 guard: the language-v2 forms the parser reads but the compiler does not build yet.

The DSL already parses the forms of `LANGUAGE-V2.md` (named pipelines, tensor references,
weight labels, block parameters, pipelines as arguments, image and named inputs), so `netc
fmt` handles them. Until the graph IR lowers them, each is refused here as one located
error that names the form, instead of failing somewhere later with a confusing message.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..dsl.nodes import Arg, Call, Dims, Pipeline, Program, Repeat, TensorRef
from ..errors import Diagnostic, SpecStructureError
from ..source import Span
from .ops import OPS
from .references import TARGETED
from .unroll import COMBINATORS, RECURRENT

_HINT = ("netc reads this form of the next language version (netc fmt keeps it) but cannot "
         "compile it yet")


def check_supported(program: Program) -> None:
    """Raise one `SpecStructureError` listing every v2 form in `program`, or return None."""
    problems = [Diagnostic("not_supported_yet", f"{what} is not supported yet", span,
                           hint=_HINT) for what, span in _forms(program)]
    if problems:
        raise SpecStructureError(problems[:20], program.source)


def _forms(program: Program) -> Iterator[tuple[str, Span]]:
    for decl in program.declarations:
        # Why: token ids and numbers side by side in one data row have no common type.
        kinds = {is_tokens(a.value) for a in decl.args if a.colon}
        for arg in decl.args:
            yield from _arg_forms(arg, declaration=True, mixed=len(kinds) > 1)
    todo: list[object] = [*program.pipelines, *(d.body for d in program.definitions)]
    while todo:
        node = todo.pop()
        if isinstance(node, Pipeline):
            first = node.stages[0] if node.stages else None
            # `h.last -> ...` and `tgt[:-1] -> ...`: built
            todo.extend(node.stages[1:] if _starts(first) else node.stages)
        elif isinstance(node, Repeat):
            todo.append(node.body)
        elif isinstance(node, TensorRef):
            yield _ref(node), node.span
        elif isinstance(node, Call):
            for arg in node.args:
                if node.name in COMBINATORS and isinstance(arg.value, (Pipeline, Repeat)):
                    todo.append(arg.value)  # a branch: built by the graph (unroll.py)
                    continue
                if node.name in COMBINATORS and _starts(arg.value):
                    continue  # `concat(d, h.last)`: a branch that is a named value
                if node.name in TARGETED and isinstance(arg.value, TensorRef) and \
                        arg.name in (None, "target") and not arg.value.attr:
                    continue  # `softmax_ce(tgt[1:])`: targets from an input (references.py)
                if node.name in RECURRENT and arg.name == "init" and _is_last(arg.value):
                    continue  # `lstm(h, init=enc.last)`: built by the graph (unroll.py)
                found = list(_arg_forms(arg, declaration=False, shapes=_takes_shapes(node.name)))
                yield from found
                if not found and isinstance(arg.value, Call):
                    todo.append(arg.value)


def _starts(value: object) -> bool:
    """The references a pipeline (or a merge's branch) may start from: `h.last`, `tgt[:-1]`."""
    return isinstance(value, TensorRef) and (
        (value.attr == "last" and not value.sliced) or (value.sliced and not value.attr))


def _is_last(value: object) -> bool:
    return isinstance(value, TensorRef) and value.attr == "last" and not value.sliced


def _takes_shapes(name: str) -> bool:
    """Ops with a size or stride that may be a pair (`conv(16, 3x5)`)."""
    return name in OPS and getattr(OPS[name].schema, "takes_shapes", False)


def is_tokens(value: object) -> bool:
    """`tokens` or `tokens(V, steps=T)` in an `input:` line (validate.py reads it too)."""
    return isinstance(value, Call) and value.name == "tokens"


def _arg_forms(arg: Arg, *, declaration: bool, shapes: bool = False, mixed: bool = False
               ) -> Iterator[tuple[str, Span]]:
    value = arg.value
    tokens = is_tokens(value) and not mixed  # `src: tokens, tgt: tokens`: built
    if arg.colon and not isinstance(value, (int, Dims)) and not tokens:
        yield f"a named input of {_shown(value)} ('{arg.name}: ...')", arg.span
    elif isinstance(value, Dims) and not declaration and not shapes:
        yield f"a shape ('{value.text}') as an argument", arg.value_span
    elif isinstance(value, TensorRef):
        yield _ref(value), value.span
    elif isinstance(value, (Pipeline, Repeat)):
        yield ("a pipeline as an argument (residual(...), add(...), concat(...))"
               if not declaration else "a pipeline in a setting"), arg.value_span


def _shown(value: object) -> str:
    return f"'{value.name}'" if isinstance(value, Call) else "this kind"


def _ref(ref: TensorRef) -> str:
    text = ref.name + (f".{ref.attr}" if ref.attr else "")
    if ref.sliced:
        text += f"[{'' if ref.start is None else ref.start}:{'' if ref.stop is None else ref.stop}]"
    return f"a tensor reference ('{text}')"
