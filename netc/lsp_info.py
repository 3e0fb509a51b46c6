"""The language server's hover text, completions and inlay hints, as pure functions.

Stage: an editor front end over the compiler (with netc/lsp_features.py, which compiles a
buffer into an `Analysis`; netc/lsp.py speaks the protocol). What an op, setting or optimizer
is and takes comes from the registry's schemas (`compiler/registry.py`), so a new op shows
up here with nothing to add; shapes and parameter counts come from the `NetPlan`, and are
left out, not guessed, while the spec does not compile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .lsp_features import Analysis, Position, Symbol, Token, type_name


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # "op", "optimizer", "setting", "keyword" or "name"
    detail: str = ""
    documentation: str = ""
    insert_text: str | None = None


def _tables() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    from .compiler.registry import OPS, OPTIMIZERS, SETTINGS

    return OPS, SETTINGS, OPTIMIZERS


def _info(name: str) -> tuple[str, Any] | None:
    """("op", OpDef) / ("setting", OpInfo) / ("optimizer", OpInfo) for a callable name."""
    for kind, table in zip(("op", "setting", "optimizer"), _tables(), strict=True):
        if name in table:
            return kind, table[name]
    return None


def _fields(info: Any) -> list[tuple[str, str, str, str]]:
    """(name, type, default, description) of every argument a schema takes."""
    out = []
    for name, f in info.schema.model_fields.items():
        if name in ("op", "name", "kind"):  # the discriminator, not an argument
            continue
        default = "required" if f.is_required() else repr(f.default)
        out.append((name, type_name(f.annotation), default, f.description or ""))
    return out


def _call_doc(name: str, kind: str, info: Any) -> str:
    head = f"**{name}** ({getattr(info, 'kind', kind)})"
    lines = [f"{head}: {info.description}" if info.description else head, ""]
    fields = _fields(info)
    if fields:
        lines.append("arguments:")
        lines += [f"- `{n}`: {t} = {d}" + (f" — {desc}" if desc else "")
                  for n, t, d, desc in fields]
    forms = [f"{name}({', '.join(p)})" for p in getattr(info, "positional", ()) if p]
    if forms:
        lines += ["", "positional: " + ", ".join(f"`{f}`" for f in forms)]
    return "\n".join(lines)


def _layers_at(a: Analysis, tok: Token) -> list[Any]:
    return [layer for layer in (a.plan.layers if a.plan else ())
            if layer.span is not None and layer.span.start == tok.start]


def _layer_line(layer: Any) -> str:
    from .compiler.descriptor import shown

    count = sum(p.size for p in layer.params)
    params = f", {count:,} parameter{'s' * (count != 1)}" if count else ""
    return f"- `{layer.label}`: {shown(layer.in_shape)} -> {shown(layer.shape)}{params}"


def hover(a: Analysis, pos: Position) -> tuple[str, tuple[int, int]] | None:
    """Markdown for the name under the cursor and the offsets it covers, or None."""
    tok = a.token_at(pos)
    if tok is None:
        return None
    sym = a.symbol_at(pos)
    if sym is not None:
        return _symbol_doc(a, sym), (tok.start, tok.end)
    parts = []
    found = _info(tok.text)
    if found is not None:
        parts.append(_call_doc(tok.text, *found))
    else:
        keyword = _keyword_doc(a, tok)
        if keyword:
            parts.append(keyword)
    layers = _layers_at(a, tok)
    if layers:
        parts.append("in this network:\n" + "\n".join(_layer_line(x) for x in layers[:12]))
    return ("\n\n".join(parts), (tok.start, tok.end)) if parts else None


def _keyword_doc(a: Analysis, tok: Token) -> str | None:
    """`n_out=`: the argument's type, default and description, from the enclosing call."""
    i = a.tokens.index(tok)
    if i + 1 >= len(a.tokens) or a.tokens[i + 1].text != "=":
        return None
    found = _info(enclosing(a.tokens, i) or "")
    for n, t, d, desc in _fields(found[1]) if found else ():
        if n == tok.text:
            return f"`{n}`: {t} = {d}" + (f" — {desc}" if desc else "")
    return None


def _symbol_doc(a: Analysis, sym: Symbol) -> str:
    from .compiler.descriptor import shown

    line = a.position(sym.definition.start)[0] + 1
    text = a.source.line_text(line).strip()
    doc = f"{sym.kind} **{sym.name}**, defined on line {line}:\n```net\n{text}\n```"
    shapes = _symbol_shapes(a, sym)
    if shapes and sym.kind == "label":
        doc += f"\n\nweight: {shapes[0]}"
    elif shapes:
        doc += "\n\nshape: " + " | ".join(dict.fromkeys(shown(s) for s in shapes))
    elif a.plan is None:
        doc += "\n\n(shapes appear once the spec compiles)"
    return doc


def _symbol_shapes(a: Analysis, sym: Symbol) -> list[tuple[int, ...]]:
    if a.plan is None:
        return []
    if sym.kind == "label":
        return [p.shape for layer in a.plan.layers if layer.weight_label == sym.name
                for p in layer.params[:1]]
    named = dict(a.plan.input_parts or ())
    if sym.kind == "tensor" and sym.name in named:
        return [named[sym.name]]
    lo, hi = sym.statement
    hi = sym.definition.start if sym.kind == "tensor" else hi + 1
    inside = [x for x in a.plan.layers if x.span and lo <= x.span.start and x.span.end <= hi]
    if not inside:
        return []
    last = max(x.span.end for x in inside)
    ends = [x for x in inside if x.span.end == last]
    first = min(x.span.start for x in ends)
    return [x.shape for x in ends if x.span.start == first]


def enclosing(tokens: list[Token], i: int) -> str | None:
    """The call whose parentheses hold token `i` (`affine` in `affine(8, n|`), else the
    setting its line declares (`train` in `train: epochs=3, b|`)."""
    depth, start = 0, 0
    for k in range(min(i, len(tokens)) - 1, -1, -1):
        text = tokens[k].text
        if tokens[k].kind == "nl" and tokens[k + 1:k + 2] and tokens[k + 1].text != "->":
            start = k + 1
            break
        depth += (text == ")") - (text == "(")
        if depth < 0:
            return tokens[k - 1].text if k and tokens[k - 1].kind == "id" else None
    line = tokens[start:start + 2]
    if len(line) == 2 and line[1].text == ":" and line[0].text in _tables()[1]:
        return line[0].text
    return None


def completions(a: Analysis, pos: Position) -> list[Completion]:
    """The enclosing call's keyword arguments first, then ops, optimizers, settings keys
    and the blocks and tensors this document defines."""
    at = a.offset(pos)
    i = next((k for k, t in enumerate(a.tokens) if t.start >= at), len(a.tokens))
    ops, settings, optimizers = _tables()
    found = _info(enclosing(a.tokens, i) or "")
    items = [Completion(n, "keyword", f"{t} = {d}", desc, f"{n}=")
             for n, t, d, desc in (_fields(found[1]) if found else ())]
    items += [Completion(n, "op", info.kind, _call_doc(n, "op", info)) for n, info in ops.items()]
    items += [Completion(n, "optimizer", "optimizer", _call_doc(n, "optimizer", info))
              for n, info in optimizers.items()]
    items += [Completion(n, "setting", "setting", _call_doc(n, "setting", info), f"{n}: ")
              for n, info in settings.items()]
    items += [Completion(s.name, "name", s.kind) for s in a.symbols.values()
              if s.kind != "label"]
    return items


def inlay_hints(a: Analysis, lo: int = 0, hi: int | None = None) -> list[tuple[int, str]]:
    """(offset, label): the shape after each stage, at the end of its call. A block used
    several times shows each distinct shape once; nested calls ending together show the
    outer one (`residual(... -> batchnorm)` shows the sum's shape)."""
    from .compiler.descriptor import shown

    if a.plan is None:
        return []
    hi = len(a.source.text) if hi is None else hi
    by_end: dict[int, tuple[int, list[str]]] = {}
    for layer in a.plan.layers:
        s = layer.span
        if s is None or layer.kind == "loss" or not lo <= s.end <= hi:
            continue
        label = shown(layer.shape)
        start, labels = by_end.get(s.end, (s.start, []))
        if s.start < start:
            start, labels = s.start, []
        if s.start == start and label not in labels:
            labels.append(label)
        by_end[s.end] = (start, labels)
    return [(end, ": " + " | ".join(labels)) for end, (_, labels) in sorted(by_end.items())]
