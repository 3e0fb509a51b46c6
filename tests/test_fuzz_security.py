"""Property tests against hostile specs: compiled all the way to a `Network` (generated code
loaded and run), every input gives a `Network` or a `SpecError`, and no text placed in a name,
a setting, a string or a comment is ever executed or copied into the generated code.

`NETC_FUZZ_EXAMPLES` raises the number of examples (see README, "Fuzzing").
"""

from __future__ import annotations

import ast
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netc.api
from netc.errors import SpecError
from netc.runtime.network import Network

EXAMPLES = int(os.environ.get("NETC_FUZZ_EXAMPLES", "0")) or 150
_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture])
MARKER = Path(tempfile.gettempdir()) / f"netc-pwned-{os.getpid()}"


def payloads(marker: Path) -> list[str]:
    """Python that would create `marker` if anything ever evaluated it."""
    m = str(marker)
    return [
        f"__import__('os').system('touch {m}')",
        f"open({m!r}, 'w').write('x')",
        f"exec(\"open({m!r}, 'w')\")",
        f"\"); open({m!r}, 'w') #",
        f"'); open({m!r}, 'w') #",
        f"\n__import__('pathlib').Path({m!r}).touch()\n",
        f"\\\"; __import__('os').system('touch {m}'); \\\"",
        f"{{__import__('os').system('touch {m}')}}",
        f"$(touch {m})",
    ]


_INJECT_NAMES = ["__import__", "exec", "eval", "os", "sys", "open", "__builtins__",
                 "globals", "np", "self", "lambda", "import", "None", "True", "_"]


def _quote(text: str, quote: str) -> str:
    """A spec string literal holding `text` (backslashes and quotes escaped, newlines too)."""
    body = text.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n")
    return quote + body + quote


@st.composite
def _hostile_specs(draw: st.DrawFn, marker: Path) -> tuple[str, str]:
    """A small valid spec with one payload put into one string or name position."""
    payload = draw(st.sampled_from(payloads(marker)))
    quoted = _quote(payload, draw(st.sampled_from(['"', "'"])))
    name = draw(st.sampled_from(_INJECT_NAMES))
    slot = draw(st.sampled_from(["data", "init", "dtype", "optimizer", "act", "block",
                                 "block_use", "keyword", "comment", "raw", "setting"]))
    spec = {
        "data": f"data: {quoted}\n",
        "init": f"init: {quoted}\n",
        "dtype": f"train: dtype={quoted}\n",
        "optimizer": f"optimizer: {quoted}\n",
        "setting": f"{name}: {quoted}\n",
        "comment": f"# {payload.replace(chr(10), ' ')}\n",
    }.get(slot, "")
    layer = {
        "act": f"affine(4, init={quoted})",
        "block": f"{name}",
        "block_use": f"{name}({quoted})",
        "keyword": f"affine(4, {name}={quoted})",
        "raw": payload.replace("\n", " "),
    }.get(slot, "relu")
    head = f"{name} = tanh\n" if slot == "block" else ""
    return head + "input: 3\n" + spec + f"affine(3, 4) -> {layer} -> affine(2) -> softmax_ce\n", \
        payload


def _code_outside_comments(source: str) -> str:
    """Every string constant and name in the generated module, as one text."""
    tree = ast.parse(source)
    parts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
             and isinstance(n.value, str)]
    parts += [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]
    parts += [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)]
    return "\n".join(parts)


def _compile_or_spec_error(text: str) -> Network | None:
    try:
        net = netc.api.compile(text, seed=0)
    except SpecError as e:
        assert e.diagnostics and str(e)
        return None
    assert isinstance(net, Network)
    return net


@_SETTINGS
@given(st.data())
def test_fuzz_security_payloads_are_never_executed(data: st.DataObject) -> None:
    marker = MARKER
    text, payload = data.draw(_hostile_specs(marker))
    net = _compile_or_spec_error(text)
    if net is not None:
        x = np.zeros((2, 3))
        net.predict(x)
        net.loss(x, np.array([0, 1]))
        code = _code_outside_comments(net.source)
        assert payload.strip() not in code
        assert str(marker) not in code
    assert not marker.exists(), f"payload ran: {text!r}"


_widths = st.integers(1, 6).map(str)
_acts = st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu(0.1)", "dropout(0.3)",
                         "batchnorm", "softmax"])
_layers = st.one_of(_acts, _widths.map(lambda w: f"affine({w})"),
                    _widths.map(lambda w: f"matmul({w})"),
                    st.integers(1, 3).map(lambda n: f"repeat({n})"),
                    st.just("(affine(4) -> relu) * 2"), st.just("blk"))


@st.composite
def _small_specs(draw: st.DrawFn) -> str:
    """Grammar-shaped specs with widths of at most 6, so compiling them is cheap."""
    head = draw(st.sampled_from(["input: 3\n", "input: 3\noptimizer: adam(lr=0.01)\n",
                                 "input: 3\ninit: he\ntrain: epochs=1, seed=2\n"]))
    body = draw(st.lists(_layers, max_size=5))
    loss = draw(st.sampled_from(["affine(2) -> softmax_ce", "affine(1) -> sigmoid_ce",
                                 "affine(2) -> mse"]))
    arrow = draw(st.sampled_from([" -> ", "\n  -> ", " ->\n  "]))
    return head + "blk = affine(5) -> tanh\n" + arrow.join(["affine(3)", *body, loss]) + "\n"


_chars = st.sampled_from(list("()->*=:,#\"'\\\n .0123456789eE+-_") +
                         ["\0", "\ufeff", "é", "__import__", "exec", "os", "9" * 400, "(" * 50])


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    text = draw(_small_specs())
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "swap"]))
        if op == "insert":
            text = text[:i] + draw(_chars) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 4)):]
        else:
            j = draw(st.integers(0, len(text)))
            a, b = sorted((i, j))
            text = text[:a] + text[b:] + text[a:b]
    return text


@_SETTINGS
@given(_small_specs())
def test_fuzz_security_grammar_specs_compile_to_a_network(text: str) -> None:
    net = _compile_or_spec_error(text)
    if net is not None:
        out = net.predict(np.ones((2, 3)))
        assert out.shape == (2, net.plan.n_outputs)


@_SETTINGS
@given(_mutated())
def test_fuzz_security_mutated_specs_compile_or_raise_spec_error(text: str) -> None:
    _compile_or_spec_error(text)


def test_fuzz_security_hostile_names_and_comments_compile_without_reaching_the_code() -> None:
    # Specs that are valid although full of payloads: the property above is not vacuous.
    for payload in payloads(MARKER):
        for name in ("__import__", "exec", "os", "open", "np", "self"):
            comment = payload.replace("\n", " ")
            text = (f"# {comment}\n{name} = tanh -> dropout(0.5)  # {comment}\ninput: 3\n"
                    f"affine(3, 4) -> {name} * 2 -> affine(2) -> softmax_ce  # {comment}\n")
            net = _compile_or_spec_error(text)
            assert net is not None, text
            net.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), epochs=1, batch_size=2)
            code = _code_outside_comments(net.source)
            assert comment.strip() not in code and str(MARKER) not in code
            assert f"'{name}'" not in net.source and f'"{name}"' not in net.source
    assert not MARKER.exists()
