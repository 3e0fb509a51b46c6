"""Stage 2, expand (second half): the checked program -> the flat graph of `Expanded` calls.

Blocks are inlined (their parameters substituted), repeats unrolled, combinators turned into
their branches and a merge node, and named tensors resolved, in one iterative walk: a stack
of tasks over a "current value" (the index of the call whose output flows on, `INPUT` for the
network's input). No recursion, so no spec nests deep enough to raise `RecursionError`.

    residual(f)            x -> f -> add(x, f(x))
    residual(f, skip=g)    x -> f, x -> g -> add(g(x), f(x))
    add(f, g, ...)         each branch from x, then add (concat alike, over the feature axis)
    a -> b => h            binds the value after b to `h`; `h -> c` starts a pipeline from it
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..dsl.nodes import Arg, Call, Definition, Pipeline, Repeat, Stage, TensorRef, Value
from ..errors import Diagnostic, SpecStructureError
from ..source import Source, Span
from . import expectations
from .expanded import Expanded, Via
from .references import TARGETED, loss_target, slice_start
from .registry import OPS, suggest

INPUT = -1  # the network's input, as plan.INPUT
COMBINATORS = ("residual", "add", "concat", "attention")
RECURRENT = ("rnn", "lstm", "gru")  # layers that may start from a given state (`init=`)


def branches(call: Call) -> list[Arg]:
    """The branch arguments of a combinator call (`residual(f, skip=g)`: f and g), else []."""
    if call.name not in COMBINATORS or not call.has_parens:
        return []
    return list(call.args)


@dataclass
class _Merge:
    """A combinator being expanded: its input value and the values its branches ended in."""

    call: Call
    op: str
    via: Via | None
    x: int = INPUT
    results: list[int] = field(default_factory=list)


@dataclass
class _Name:
    index: int
    span: Span
    used: bool = False


class _Builder:
    """The walk's state: calls emitted so far, the current value, the bound names."""

    def __init__(self, defs: dict[str, Definition], source: Source,
                 later_names: dict[str, Span]) -> None:
        self.defs, self.source, self.later = defs, source, later_names
        self.out: list[Expanded] = []
        self.cur: int | None = INPUT
        self.names: dict[str, _Name] = {}
        self.binding: set[str] = set()  # names the pipelines being walked will bind
        self.problems: list[Diagnostic] = []
        self.lasts: dict[int, int] = {}  # a sequence -> its `last` node: `h.last` made once

    def last(self, span: Span, via: Via | None) -> None:
        """The current value's last step (`h.last`), one node however often it is read."""
        source = self.cur
        assert source is not None
        if source not in self.lasts:
            self.emit(Call("last", (), span, span, False), via, (source,))
            self.lasts[source] = self.cur  # type: ignore[assignment]
        self.cur = self.lasts[source]

    def emit(self, call: Call, via: Via | None, inputs: tuple[int | None, ...]) -> None:
        if None in inputs:
            shown = ", ".join(n for n, v in self.names.items() if v.index < 0)
            self.fail("which_input", f"{call.name} reads nothing: with several inputs, a "
                      "pipeline starts from one of them", call.span,
                      hint=f"start the pipeline from an input by name: {shown}")
        self.out.append(Expanded(call, via, inputs))  # type: ignore[arg-type]
        self.cur = len(self.out) - 1

    def fail(self, code: str, message: str, span: Span, hint: str | None = None,
             notes: tuple[str, ...] = ()) -> None:
        self.problems.append(Diagnostic(code, message, span, hint=hint, notes=notes))
        raise SpecStructureError(self.problems, self.source)


Env = dict[str, tuple[Value, Span]]  # a block parameter -> its value and where it was given


def unroll(pipelines: tuple[Pipeline, ...], defs: dict[str, Definition], source: Source,
           inputs: tuple[tuple[str, Span], ...] = ()) -> tuple[Expanded, ...]:
    """The flat graph of every pipeline, in order; raises `SpecStructureError`. Named
    `inputs` (`input: a: 784, b: 10`) are values -1, -2, ... that pipelines start from."""
    later = {p.bind: p.bind_span or p.span for p in pipelines if p.bind}
    b = _Builder(defs, source, later)
    for k, (name, span) in enumerate(inputs):
        if name in b.names:
            b.fail("duplicate_name", f"input '{name}' is declared twice", span)
        if name in OPS or name in defs or name in COMBINATORS:
            b.fail("bad_name", f"input '{name}' has the name of a layer or block", span,
                   hint="choose another name for the input")
        b.names[name] = _Name(INPUT - k, span)
    for p in pipelines:
        # Why None with several inputs: a pipeline must then say which one it starts from.
        b.cur = INPUT if not inputs else None
        _walk(b, p)
    _check_names_used(b)
    return tuple(b.out)


def _walk(b: _Builder, root: Pipeline) -> None:
    todo: list[tuple[Any, ...]] = [("stage", root, None, {}, True)]
    while todo:
        task = todo.pop()
        kind = task[0]
        if kind == "stage":
            _stage(b, todo, *task[1:])
        elif kind == "open":
            task[1].x = b.cur
        elif kind == "branch":
            b.cur = task[1].x
        elif kind == "close":
            task[1].results.append(b.cur)
        elif kind == "merge":
            m = task[1]
            b.emit(Call(m.op, (), m.call.span, m.call.name_span, False), m.via,
                   tuple(m.results))
        elif kind == "bind":
            _bind_name(b, task[1])


def _stage(b: _Builder, todo: list, s: Stage, via: Via | None, env: Env, first: bool) -> None:
    if isinstance(s, Pipeline):
        if s.bind is not None:
            todo.append(("bind", s))
            b.binding.add(s.bind)
        todo.extend(("stage", c, via, env, first and k == 0)
                    for k, c in reversed(list(enumerate(s.stages))))
    elif isinstance(s, Repeat):
        todo.extend([("stage", s.body, via, env, False)] * s.count)  # type: ignore[operator]
    elif isinstance(s, Call) and not s.has_parens and s.name in env:
        b.fail("bad_block_arg", f"'{s.name}' is a parameter of the block, not a layer", s.span,
               hint="parameters stand for values in a layer's arguments, e.g. affine(n)")
    elif isinstance(s, Call) and s.name == expectations.NAME and s.name not in b.defs and \
            s.name not in b.names:  # a block or tensor of that name is the name
        expectations.attach(b, _substituted(s, env))  # an assertion, not a layer
    elif isinstance(s, Call) and not s.has_parens and s.name not in b.defs and \
            s.name not in OPS and s.name not in COMBINATORS:
        _name_ref(b, s, first)
    elif isinstance(s, Call) and s.name in b.defs and (not s.has_parens or
                                                        b.defs[s.name].params):
        d = b.defs[s.name]
        use = via.enter(s.name, s.span) if via else Via(s.name, s.span)
        todo.append(("stage", d.body, use, _block_env(b, d, _substituted(s, env)), False))
    elif isinstance(s, Call) and s.name in COMBINATORS and s.has_parens:
        _combinator(b, todo, _substituted(s, env), via, env)
    elif isinstance(s, Call) and s.name in RECURRENT and any(a.name == "init" for a in s.args):
        _start_state(b, _substituted(s, env), via)
    elif isinstance(s, Call) and s.name in TARGETED and \
            any(isinstance(a.value, TensorRef) for a in s.args):
        b.emit(loss_target(b, s), via, (b.cur,))  # `softmax_ce(tgt[1:])`
    elif isinstance(s, Call):
        if s.name in COMBINATORS and not s.has_parens:
            b.fail("bad_combinator", f"{s.name} needs its branches in parentheses", s.span,
                   hint=_COMBINATOR_USAGE[s.name])
        b.emit(_substituted(s, env), via, (b.cur,))
    elif s.attr == "last" and not s.sliced and first:  # `h.last -> ...`: h's last step
        _name_ref(b, Call(s.name, (), s.name_span, s.name_span, False), first)
        b.last(s.span, via)
    elif s.sliced and not s.attr and first:  # `tgt[:-1] -> ...`: some of tgt's steps
        slice_start(b, s, via, _name_ref)
    else:  # any other TensorRef: refused earlier by `check_supported`
        b.fail("not_supported_yet", "a tensor reference is not supported here yet", s.span)


_COMBINATOR_USAGE = {
    "residual": "write residual(f) for x + f(x), or residual(f, skip=g) for g(x) + f(x)",
    "add": "write add(f, g) to add the outputs of two branches from the same input",
    "concat": "write concat(f, g) to join two branches' outputs along the feature axis",
    "attention": "write attention(hd, hs): the decoder's states attend over the encoder's",
}


def _combinator(b: _Builder, todo: list, call: Call, via: Via | None, env: Env) -> None:
    args = list(call.args)
    if call.name == "residual":
        main = [a for a in args if a.name is None]
        skip = [a for a in args if a.name == "skip"]
        other = [a for a in args if a.name not in (None, "skip")]
        if len(main) != 1 or other:
            bad = other[0] if other else (main[1] if main else call)
            b.fail("bad_combinator", "residual takes one branch and an optional skip=",
                   bad.span, hint=_COMBINATOR_USAGE["residual"])
        order: list[Any] = [skip[0] if skip else None, main[0]]  # g(x) + f(x)
        op = "add"
    else:
        named = [a for a in args if a.name is not None]
        if named or len(args) < 2 or (call.name == "attention" and len(args) != 2):
            many = "two" if call.name == "attention" else "two or more"
            b.fail("bad_combinator", f"{call.name} takes {many} branches" +
                   (f", not '{named[0].name}='" if named else f", got {len(args)}"),
                   named[0].span if named else call.span, hint=_COMBINATOR_USAGE[call.name])
        order, op = args, call.name
    for a in order:
        if a is not None and not isinstance(a.value, (Pipeline, Repeat, Call, TensorRef)):
            b.fail("bad_combinator", f"a branch of {call.name} must be layers, got "
                   f"{a.value!r}", a.value_span, hint=_COMBINATOR_USAGE[call.name])
    m = _Merge(call, op, via)
    tasks: list[tuple[Any, ...]] = [("open", m)]
    for a in order:
        tasks.append(("branch", m))
        if a is not None:
            tasks.append(("stage", a.value, via, env, True))
        tasks.append(("close", m))
    tasks.append(("merge", m))
    todo.extend(reversed(tasks))


def _start_state(b: _Builder, call: Call, via: Via | None) -> None:
    """`lstm(128, init=h.last)`: the layer reads its input and, as a second input, the state
    it starts from (a named value, or a sequence's last step); DLFS-2's seq2seq decoder."""
    arg = next(a for a in call.args if a.name == "init")
    x, value = b.cur, arg.value
    if isinstance(value, TensorRef) and value.attr == "last" and not value.sliced:
        _name_ref(b, Call(value.name, (), value.name_span, value.name_span, False), True)
        b.last(value.span, via)
    elif isinstance(value, Call) and not value.has_parens and value.name in b.names:
        _name_ref(b, value, True)
    else:
        b.fail("bad_init", f"{call.name}'s init= takes the named value it starts from",
               arg.value_span, hint=f"name the state and pass it: `... => enc` then "
                                    f"`{call.name}(..., init=enc.last)`")
    b.emit(replace(call, args=tuple(a for a in call.args if a.name != "init")), via,
           (x, b.cur))


def _name_ref(b: _Builder, s: Call, first: bool) -> None:
    """A paren-less name that is no op and no block: a named tensor, or a typo of one."""
    found = b.names.get(s.name)
    if found is None and s.name in b.binding:
        b.fail("undefined_name", f"'{s.name}' is used in the pipeline that defines it",
               s.span, hint="a value cannot depend on itself (a cycle); name an earlier value")
    if found is None and s.name in b.later:
        at = b.later[s.name]
        b.fail("undefined_name", f"'{s.name}' is used before it is defined", s.span,
               hint=f"move the pipeline ending in '=> {s.name}' ({at.line}:{at.column}) "
                    "above this line")
    if found is None:
        close = suggest(s.name, b.names) if b.names else None
        if close:
            b.fail("undefined_name", f"unknown name '{s.name}'", s.span, hint=close)
        b.emit(s, None, (b.cur,))  # validate reports it as an unknown layer, with suggestions
        return
    if not first:
        b.fail("bad_name_use", f"the named value '{s.name}' can only start a pipeline",
               s.span, hint=f"start a new line with '{s.name} -> ...', or merge it with "
                            f"add(...) or concat(...)")
    found.used = True
    b.cur = found.index


def _bind_name(b: _Builder, p: Pipeline) -> None:
    name, span = p.bind, p.bind_span or p.span
    assert name is not None
    b.binding.discard(name)
    if name in OPS or name in b.defs or name in COMBINATORS:
        b.fail("bad_name", f"'{name}' names a layer or block", span,
               hint="choose another name for the value")
    if name in b.names:
        first = b.names[name].span
        b.fail("duplicate_name", f"'{name}' is bound twice", span,
               notes=(f"first bound at {first.line}:{first.column}",),
               hint="choose another name for one of them")
    if b.cur is None or b.cur < 0:
        b.fail("bad_name", f"'=> {name}' names an input itself", span,
               hint="name the value after at least one layer")
    b.names[name] = _Name(b.cur, span)


def _check_names_used(b: _Builder) -> None:
    """Every name and every value must reach the loss: an unread value would get no
    gradient (and be computed for nothing)."""
    for name, n in b.names.items():
        if not n.used and n.index < 0:
            b.problems.append(Diagnostic(
                "unused_name", f"input '{name}' is never used", n.span,
                hint=f"start a pipeline from it ('{name} -> ...') or remove it from `input:`"))
        elif not n.used:
            b.problems.append(Diagnostic(
                "unused_name", f"'{name}' is bound but never used", n.span,
                hint=f"start a pipeline from it ('{name} -> ...') or remove '=> {name}'"))
    read = {j for ex in b.out for j in ex.inputs}
    bound = {n.index for n in b.names.values()}
    for i, ex in enumerate(b.out[:-1]):
        if i not in read and i not in bound:
            at = ex.call.span
            b.problems.append(Diagnostic(
                "unused_value", f"the output of {ex.call.name} at {at.line}:{at.column} is "
                "never used: what comes next starts from named values", at,
                hint="remove it, or name its value (=> h) and use the name", notes=ex.notes()))
    if b.problems:
        raise SpecStructureError(b.problems, b.source)


def _block_env(b: _Builder, d: Definition, use: Call) -> Env:
    """A parameterised block's arguments at this use, defaults filled in."""
    env: Env = {}
    params = {p.name: p for p in d.params}
    positional = [a for a in use.args if a.name is None]
    if len(positional) > len(d.params):
        b.fail("block_args", f"block '{d.name}' takes {len(d.params)} argument"
               f"{'s' if len(d.params) != 1 else ''}, got {len(positional)}",
               positional[len(d.params)].span, hint=_block_usage(d))
    for p, a in zip(d.params, positional, strict=False):
        env[p.name] = (a.value, a.value_span)
    for a in use.args:
        if a.name is None:
            continue
        if a.name not in params:
            b.fail("block_args", f"block '{d.name}' has no parameter '{a.name}'", a.span,
                   hint=suggest(a.name, params) or _block_usage(d))
        if a.name in env:
            b.fail("duplicate_arg", f"'{a.name}' is given twice", a.span)
        env[a.name] = (a.value, a.value_span)
    for p in d.params:
        if p.name not in env:
            if p.default is None:
                b.fail("block_args", f"block '{d.name}' needs a value for '{p.name}'",
                       use.span, hint=_block_usage(d))
            env[p.name] = (p.default, p.span)
    return env


def _block_usage(d: Definition) -> str:
    shown = [p.name if p.default is None else f"{p.name}={p.default!r}" for p in d.params]
    return f"usage: {d.name}({', '.join(shown)})"


def _substituted(call: Call, env: Env) -> Call:
    """`call` with every argument that names a block parameter replaced by its value, located
    where the value was given (the use `cbr(16)`, or the default `p=1`), so a bad value is
    reported there; the error's notes still name the block use."""
    if not env or not call.args:
        return call
    args = tuple(replace(a, value=env[a.value.name][0], value_span=env[a.value.name][1])
                 if isinstance(a.value, Call) and not a.value.has_parens and
                 a.value.name in env else a for a in call.args)
    return replace(call, args=args)
