"""Stage 3, validate: expanded calls + declarations -> `NetSpec` and a `SourceMap`.

Arguments are bound to field names (positional forms come from the registry), checked by the
Pydantic schemas in `spec.py`, and every problem in the file is collected into one
`SpecValidationError` whose diagnostics point at the exact argument. Pydantic's own
exceptions never leave this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ..dsl.nodes import Arg, Call, Declaration, Dims, Program, TooLarge
from ..errors import Diagnostic, SpecValidationError
from ..source import Span
from . import spec as s
from .expand import Expanded
from .messages import describe_error
from .registry import OPS, OPTIMIZERS, SETTINGS, OpInfo, suggest
from .unsupported import is_tokens


@dataclass
class SourceMap:
    """Where each part of the validated spec came from: layer calls, arguments, settings."""

    layers: tuple[Expanded, ...] = ()
    args: dict[tuple[Any, ...], Span] = field(default_factory=dict)

    def call_span(self, index: int) -> Span | None:
        return self.layers[index].call.span if index < len(self.layers) else None

    def arg_span(self, index: int, name: str) -> Span | None:
        return self.args.get((index, name)) or self.call_span(index)

    def notes(self, index: int) -> tuple[str, ...]:
        return self.layers[index].notes() if index < len(self.layers) else ()


def validate(program: Program, calls: Sequence[Expanded]) -> tuple[s.NetSpec, SourceMap]:
    """Validate every call and declaration; raise one `SpecValidationError` with all problems."""
    problems: list[Diagnostic] = []
    smap = SourceMap(tuple(calls))
    blocks = {d.name for d in program.definitions}
    tokens = any(d.key == "input" and any(is_tokens(a.value) for a in d.args)
                 for d in program.declarations)
    layers = [_layer(i, ex, smap, problems, blocks, tokens) for i, ex in enumerate(calls)]
    run = _run(program.declarations, smap, problems)
    if problems:
        raise SpecValidationError(problems, program.source)
    inputs = tuple(ex.inputs or (i - 1,) for i, ex in enumerate(calls))
    labels = tuple(ex.call.label for ex in calls)
    return s.NetSpec.model_construct(layers=tuple(layers), run=run, inputs=inputs,
                                     labels=labels), smap


def _layer(i: int, ex: Expanded, smap: SourceMap, problems: list[Diagnostic],
           blocks: frozenset[str] | set[str] = frozenset(), tokens: bool = False) -> Any:
    """One call validated; `tokens`: the spec reads token ids (an affine before a softmax_ce
    may then leave its width to the vocabulary)."""
    call, notes = ex.call, ex.notes()
    info = OPS.get(call.name)
    if info is None and call.name in blocks:  # `h(3)` where `h = ...` is a block
        problems.append(Diagnostic(
            "block_with_args", f"block '{call.name}' takes no arguments", call.span,
            hint=f"write '{call.name}' without parentheses", notes=notes))
        return None
    if info is None:
        problems.append(Diagnostic(
            "unknown_op", f"unknown layer '{call.name}'", call.name_span,
            hint=suggest(call.name, [*OPS, *sorted(blocks)])  # `hiden` for block `hidden`
            or "run `netc layers` to list them", notes=notes))
        return None
    before = len(problems)
    fields = _bind(info, call.args, call, problems, notes)
    for a_name, span in fields.pop("__spans__").items():
        smap.args[(i, a_name)] = span
    if len(problems) > before:
        return None
    if fields.get("tied") is not None and "n_out" not in fields and "n_out" in \
            info.schema.model_fields:
        # Why a stand-in: a tied layer's width is its label's weight's, which only shape
        # inference knows; it never reads n_out of a tied layer (shapes.py).
        fields["n_out"] = 1
    elif call.name == "affine" and "n_out" not in fields and tokens and \
            _scores_tokens(i, smap):
        # `... -> affine -> softmax_ce` over tokens: the vocabulary's size, which lowering
        # knows (LANGUAGE-V2); a stand-in until then, marked so.
        fields["n_out"], smap.args[(i, "n_out:vocab")] = 1, call.span
    return _check(info, fields, call, lambda f: smap.arg_span(i, f), problems, notes)


def _scores_tokens(i: int, smap: SourceMap) -> bool:
    """Whether layer i feeds a softmax_ce (which may score a token vocabulary)."""
    return any(i in ex.inputs and ex.call.name == "softmax_ce" for ex in smap.layers[i + 1:])


def _bind(info: OpInfo, args: Sequence[Arg], call: Call, problems: list[Diagnostic],
          notes: tuple[str, ...] = ()) -> dict[str, Any]:
    """Map positional and keyword arguments onto field names; spans go under `__spans__`."""
    positional = [a for a in args if a.name is None]
    forms = info.positional
    fields: dict[str, Any] = {}
    spans: dict[str, Span] = {}
    if len(positional) >= len(forms):
        extra = positional[len(forms) - 1]
        most = len(forms) - 1
        problems.append(Diagnostic(
            "too_many_args", f"{call.name} takes {_count(most)} positional argument"
            f"{'s' if most != 1 else ''}, got {len(positional)}", extra.span,
            hint=_usage(info), notes=notes))
        positional = positional[:most]
    for name, a in zip(forms[len(positional)], positional, strict=False):
        fields[name], spans[name] = _value(a, problems, notes, name, call), a.value_span
    for a in args:
        if a.name is None:
            continue
        if a.name in fields:
            problems.append(Diagnostic("duplicate_arg", f"'{a.name}' is given twice", a.span,
                                       notes=notes))
        fields[a.name], spans[a.name] = _value(a, problems, notes, a.name, call), a.value_span
    fields["__spans__"] = spans
    return fields


def _value(a: Arg, problems: list[Diagnostic], notes: tuple[str, ...], field: str,
           call: Call) -> Any:
    v = a.value
    if isinstance(v, TooLarge):
        problems.append(Diagnostic("too_large", f"{v.describe()} is too large for '{field}' of "
                                   f"{call.name}", a.value_span, loc=(call.name, field),
                                   notes=notes))
        return None
    if isinstance(v, Dims):
        return v.dims  # `3x5`: (height, width), for the ops that take a pair
    if not isinstance(v, Call):
        return v
    if v.has_parens:
        problems.append(Diagnostic("bad_value", f"'{v.name}(...)' is not a value here",
                                   v.span, hint="write a number, a name or a string",
                                   notes=notes))
        return None
    return {"true": True, "false": False}.get(v.name, v.name)


def _check(info: OpInfo, fields: dict[str, Any], call: Call, span_of: Any,
           problems: list[Diagnostic], notes: tuple[str, ...] = (),
           schema: type[BaseModel] | None = None) -> Any:
    schema = schema or info.schema
    try:
        return schema.model_validate(fields)
    except ValidationError as e:
        seen = set()
        for err in e.errors(include_url=False):
            key = (err["loc"][:1], err["type"])
            if key in seen:
                continue
            seen.add(key)
            problems.append(describe_error(err, call, schema, span_of, _usage(info), notes))
        return None


def _run(decls: Sequence[Declaration], smap: SourceMap, problems: list[Diagnostic]) -> Any:
    parts: dict[str, Any] = {}
    seen: dict[str, Declaration] = {}
    for d in decls:
        info = SETTINGS.get(d.key)
        if info is None:
            problems.append(Diagnostic(
                "unknown_setting", f"unknown setting '{d.key}'", d.key_span,
                hint=suggest(d.key, SETTINGS) or f"settings are: {', '.join(SETTINGS)}"))
            continue
        if d.key in seen:
            first = seen[d.key].key_span
            problems.append(Diagnostic("duplicate_setting", f"'{d.key}' is set twice",
                                       d.key_span, notes=(f"first set at {first.line}:"
                                                          f"{first.column}",)))
            continue
        seen[d.key] = d
        parts[d.key] = _setting(info, d, smap, problems)
    if any(v is None for v in parts.values()):
        return None
    run = s.RunSpec(**parts)
    if run.input is not None and run.input.named and run.train.bptt:
        problems.append(Diagnostic(
            "bad_bptt", "bptt streams one token input through a language model, but this "
            "spec reads several inputs by name", smap.args.get(("run", "train", "bptt"),
                                                               seen["train"].span),
            loc=("train", "bptt"), hint="leave bptt out: a seq2seq model trains on whole "
            "question/answer rows"))
        return None
    return _token_steps(run, seen.get("input"), "data" in seen, problems)


def _token_steps(run: s.RunSpec, d: Declaration | None, data: bool,
                 problems: list[Diagnostic]) -> Any:
    """`input: tokens` holds `steps` token ids a row: as given, else `train: bptt`'s window.
    Its `data:`, where declared (the Python API may give its own arrays), must be text."""
    given = run.input
    if data and given is not None and given.tokens is not None and \
            run.data.source in ("spiral", "mnist"):
        problems.append(Diagnostic(
            "data_mismatch", f"a token input reads text, but the data is {run.data.source!r}",
            d.span if d is not None else None, loc=("input",),
            hint='train on text: data: corpus("train.txt") or markov(words=300), or a .npz '
                 "of token ids"))
        return None
    if given is None or given.tokens is None or given.steps is not None or given.named:
        return run
    if not run.train.bptt:
        assert d is not None
        problems.append(Diagnostic(
            "missing_steps", "a token input needs its length: how many tokens a row holds",
            d.span, loc=("input",), hint="train a language model with `train: bptt=35` (the "
            "window), or give the length: `input: tokens, steps=2`"))
        return None
    steps = run.train.bptt
    return run.model_copy(update={"input": given.model_copy(update={"width": steps,
                                                                    "steps": steps})})


def _setting(info: OpInfo, d: Declaration, smap: SourceMap,
             problems: list[Diagnostic]) -> Any:
    args = _input_shape(d) if d.key == "input" else list(d.args)
    head = args[0].value if args and args[0].name is None else None
    if isinstance(head, Call) and head.has_parens:
        # `optimizer: adam(lr=0.001)` reads as `optimizer: adam, lr=0.001`.
        # Why: `adam(0.001)` passes lr by position, as the OPTIMIZERS forms say.
        found = OPTIMIZERS.get(head.name) if d.key == "optimizer" else None
        # `data: corpus("ptb.train.txt")` gives the path by position.
        names = iter(found.positional[-1] if found else
                     ("path",) if d.key == "data" and head.name in ("corpus", "pairs") else
                     ("input", "steps") if d.key == "generate" else ())
        inner = [a if a.name else Arg(next(names, None), a.value, a.span, a.value_span)
                 for a in head.args]
        args = [Arg(None, Call(head.name, (), head.name_span, head.name_span, False),
                    head.name_span, head.name_span), *inner, *args[1:]]
    call = Call(d.key, tuple(args), d.span, d.key_span, True)
    before = len(problems)
    fields = _bind(info, args, call, problems)
    spans = fields.pop("__spans__")
    smap.args.update({("run", d.key, k): v for k, v in spans.items()})
    if len(problems) > before:
        return None
    schema = info.schema
    if d.key == "optimizer":
        schema = _optimizer_schema(fields, spans.get("name", d.span), problems)
        if schema is None:
            return None
        # Why: messages and usage then name the optimizer ("adam has no argument ...").
        name = str(fields["name"])
        info = OpInfo(name, schema, OPTIMIZERS[name].positional)
        call = Call(name, call.args, call.span, call.name_span, True)
    result = _check(info, fields, call, lambda f: spans.get(f, d.span), problems, schema=schema)
    if d.key == "data" and result is not None and not _known_data(result.source):
        problems.append(_unknown_data(result.source, spans.get("source", d.span)))
        return None
    if d.key == "data" and result is not None and (result.source in ("corpus", "pairs")) != \
            (result.path is not None):
        example = 'pairs("addition.txt")' if result.source == "pairs" else \
            'corpus("ptb.train.txt")'
        problems.append(Diagnostic(
            "bad_data", f"{result.source} needs the path of its text file"
            if result.path is None else f"{result.source} takes no path",
            spans.get("path", d.span), loc=("data", "path"), hint=f"write data: {example}"))
        return None
    return result


def _input_shape(d: Declaration) -> list[Arg]:
    """`input: 1x28x28` and `input: 1, 28, 28` as one `shape` argument; `input: 784` as is;
    `input: a: 784, b: 1x28x28` as one `named` argument of (name, shape) pairs."""
    args = list(d.args)
    head = args[0] if args and args[0].name is None else None
    if head is not None and is_tokens(head.value):
        # `input: tokens` (the data's vocabulary) or `input: tokens(10000)`
        sizes = [a.value for a in head.value.args]
        vocab = sizes[0] if len(sizes) == 1 else 0 if not sizes else sizes
        return [Arg("tokens", vocab, head.span, head.value_span), *args[1:]]
    if any(a.colon for a in args):
        named = tuple((a.name, _named_shape(a.value)) for a in args if a.colon)
        span = args[0].span.through(args[-1].span)
        tokens = [a for a in args if a.colon and is_tokens(a.value)]
        # `src: tokens, tgt: tokens`: one vocabulary (`tokens(V)` on any of them), and each
        # input's length from the data (shape () until then) or `tokens(V, steps=7)`.
        vocab = [a.value.args[0].value for a in tokens if a.value.args and
                 a.value.args[0].name is None]
        given = [Arg("tokens", vocab[0] if vocab else 0, tokens[0].span,
                     tokens[0].value_span)] if tokens else []
        return [Arg("named", named, span, span), *given, *(a for a in args if not a.colon)]
    positional = [a for a in args if a.name is None]
    if len(positional) == 1 and isinstance(positional[0].value, Dims):
        a = positional[0]
        return [Arg("shape", a.value.dims, a.span, a.value_span),
                *(b for b in args if b is not a)]
    if len(positional) > 1 and all(type(a.value) is int for a in positional):
        span = positional[0].span.through(positional[-1].span)
        return [Arg("shape", tuple(a.value for a in positional), span, span),
                *(b for b in args if b.name is not None)]
    return args


def _named_shape(value: object) -> object:
    """A named input's row shape: `784`, `1x28x28`, or a token input's steps (`()`: the
    data's)."""
    if isinstance(value, Dims):
        return value.dims
    if is_tokens(value):
        steps = [a.value for a in value.args if a.name == "steps"]  # type: ignore[attr-defined]
        return tuple(steps)
    return (value,)


def _known_data(source: str) -> bool:
    # Why not the file's existence: `check` reads no data, and the file may be made later.
    return source in s.DATA_NAMES or source.lower().endswith(s.DATA_SUFFIXES)


def _unknown_data(source: str, span: Span) -> Diagnostic:
    """`data: minst` or `data: "x.txt"`: named at check time, not after the run starts."""
    choices = "spiral, mnist, or a quoted path to a .npz or .csv file"
    if any(sep in source for sep in "./\\"):
        return Diagnostic("unknown_data", f"data {source!r} is not a .npz or .csv file",
                          span, loc=("data", "source"), hint=f"data is {choices}")
    return Diagnostic("unknown_data", f"unknown data {source!r}", span, loc=("data", "source"),
                      hint=suggest(source.lower(), s.DATA_NAMES) or f"data is {choices}")


def _optimizer_schema(fields: dict[str, Any], span: Span,
                      problems: list[Diagnostic]) -> type[BaseModel] | None:
    name = fields.setdefault("name", "sgd")
    found = OPTIMIZERS.get(name) if isinstance(name, str) else None
    if found is None:
        problems.append(Diagnostic(
            "unknown_optimizer", f"unknown optimizer {name!r}", span,
            hint=suggest(str(name), OPTIMIZERS) or f"choose one of {', '.join(OPTIMIZERS)}"))
        return None
    return found.schema


def _count(n: int) -> str:
    return {0: "no", 1: "one", 2: "two"}.get(n, str(n))


def _usage(info: OpInfo) -> str:
    forms = [f"{info.name}({', '.join(f)})" for f in info.positional if f]
    # Why not `tied`: usage lines keep to the everyday keywords (and so the messages users
    # learned); `netc layers` and docs/language.md document every argument.
    names = [n for n in info.schema.model_fields if n not in ("op", "name", "tied")]
    if not names:
        return f"{info.name} takes no arguments"
    return "usage: " + (" or ".join(forms) + "; " if forms else "") + \
        "keywords: " + ", ".join(names)
