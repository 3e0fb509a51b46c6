"""Property tests against hostile specs: compiled all the way to a `Network` (generated code
loaded and run), every input gives a `Network` or a `SpecError`, and no text placed in a name,
a setting, a string or a comment is ever executed or copied into the generated code. Then
hostile files: mutated CSV, `.npz` and checkpoint bytes either load or raise a `NetcError`.

`NETC_FUZZ_EXAMPLES` raises the number of examples (see README, "Fuzzing").
"""

from __future__ import annotations

import ast
import atexit
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netc.api
from netc.errors import NetcError, SpecError
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


# ---- data files and checkpoints: mutated bytes of valid files -------------------------------
# Every reader (training data, `predict` inputs, checkpoints for `load_checkpoint`, `--resume`)
# either works or raises netc's own `NetcError` with a short message: never a NumPy, zipfile,
# JSON or Python error. Each example is one file in a private folder, rewritten in place.

FILES = Path(tempfile.mkdtemp(prefix="netc-fuzz-files-"))
atexit.register(shutil.rmtree, FILES, True)
NET4 = ("input: 4\noptimizer: adam(lr=0.01)\n"
        "affine(5) -> relu -> batchnorm -> affine(3) -> softmax_ce\n")
_X = np.random.default_rng(0).standard_normal((12, 4))
_T = np.arange(12) % 3


def _netc_error_only(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """`fn(...)`, or None if it raised a `NetcError`; any other exception fails the test."""
    try:
        return fn(*args, **kwargs)
    except NetcError as e:
        assert str(e) and len(str(e)) < 4000, str(e)[:400]
        return None


def _train_on(data: Any) -> None:
    """Train a fresh 4-feature network on what a reader returned, as `netc run` would."""
    net = netc.api.compile(NET4, seed=0)
    val = (data.x_test, data.t_test) if data.x_test is not None else None
    _netc_error_only(net.fit, data.x_train, data.t_train, epochs=1, batch_size=5,
                     validation_data=val, data_name="fuzz")


_TOKENS = [b"\x00", b"\xff", b",", b"\n", b"\r", b'"', b"-", b"+", b".", b"e", b" ", b"\x1b",
           b"1e999", b"nan", b"inf", b"9" * 30, b"\xef\xbb\xbf", "\u0663".encode(), b"1_0",
           b"0x10", b"\xd8\x00"]


@st.composite
def _mutated_bytes(draw: st.DrawFn, seed: bytes, hot: int | None = None) -> bytes:
    """`seed` with 1-4 edits; with `hot`, most edits land in its first `hot` bytes."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        top = min(len(data), hot) if hot and draw(st.booleans()) else len(data)
        i = draw(st.integers(0, top))
        op = draw(st.sampled_from(["insert", "delete", "replace", "flip", "cut", "repeat"]))
        if op == "insert":
            data[i:i] = draw(st.sampled_from(_TOKENS))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 8))]
        elif op == "replace":
            data[i:i + 1] = bytes([draw(st.integers(0, 255))])
        elif op == "flip" and i < len(data):
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[i:]
        else:
            data[i:i] = data[i:i + draw(st.integers(1, 16))]
    return bytes(data)


_CSV_SEEDS = [
    b"a,b,c,d,label\n" + b"".join(b"%g,%g,%g,%g,%d\n" % (*row, t)
                                   for row, t in zip(_X, _T, strict=True)),
    b"0.5,1,-2,3e-1,0\n1,2,3,4,1\n-1,-2,-3,-4,2\n0,0,0,0,0\n",
    b'"a","b","c","d","y"\r\n1,2,3,4,1\r\n5,6,7,8,2\r\n',
]


def check_data_file(raw: bytes, suffix: str) -> None:
    """Training data (`netc run --data`) and `predict` input from these bytes."""
    from netc.predict import read_inputs
    from netc.runtime.data import load_dataset

    path = FILES / f"data{suffix}"
    path.write_bytes(raw)
    data = _netc_error_only(load_dataset, str(path))
    if data is not None:
        _train_on(data)
    _netc_error_only(read_inputs, str(path), 4)


CSV_FILES = st.sampled_from(_CSV_SEEDS).flatmap(_mutated_bytes)


@_SETTINGS
@given(CSV_FILES)
def test_fuzz_csv_files_load_or_raise_netc_error(raw: bytes) -> None:
    check_data_file(raw, ".csv")


def _npy(descr: str, fortran: bool, shape: str, payload: bytes) -> bytes:
    """A version 1.0 `.npy` member with exactly this header text (valid or not)."""
    header = f"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    header += " " * ((-len(header) - 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + payload


_DESCRS = ["'<f8'", "'<f4'", "'>f8'", "'<i8'", "'|u1'", "'<u8'", "'|b1'", "'<f2'", "'<c16'",
           "'|O'", "'<U5'", "'|S3'", "'<M8[s]'", "'|V8'", "[('a', '<f8')]", "'<f16'", "'x'",
           "None", "7"]
_SHAPES = ["(12, 4)", "(12,)", "()", "(0, 4)", "(12, 4, 1)", "(3, 2, 2, 4)", "(10**12, 4)",
           "(-1, 4)", "(4194304, 2097152, 2097152)", "(12, 0)", "(2**63, 2)", "[12, 4]",
           "(1.5, 4)", "'12'"]


@st.composite
def _npy_members(draw: st.DrawFn) -> bytes:
    """A `.npy` member: a real array's bytes mutated, or a header assembled from parts."""
    if draw(st.booleans()):
        array = draw(st.sampled_from([_X, _T, _X.astype(np.float32), _T.astype(np.uint8),
                                      np.full((12, 4), np.nan), np.full(12, 2**64 - 1, np.uint64),
                                      np.full((12, 4), 1e300)]))
        buf = io.BytesIO()
        np.lib.format.write_array(buf, array, allow_pickle=False)
        return draw(_mutated_bytes(buf.getvalue(), hot=128))
    payload = draw(st.sampled_from([_X.tobytes(), _T.tobytes(), b"", b"\x00" * 7,
                                    _X.tobytes() * 3]))
    return _npy(draw(st.sampled_from(_DESCRS)), draw(st.booleans()),
                draw(st.sampled_from(_SHAPES)), payload)


def _zip(members: dict[str, bytes], compress: bool) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _members(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    out = {}
    for name, array in arrays.items():
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.asarray(array), allow_pickle=False)
        out[f"{name}.npy"] = buf.getvalue()
    return out


@st.composite
def _archives(draw: st.DrawFn, seeds: list[dict[str, bytes]]) -> bytes:
    """A zip of `.npy` members: the seed's bytes mutated (CRCs then mostly fail), or a well
    formed zip whose one member (or its name) is replaced or mutated."""
    members = dict(draw(st.sampled_from(seeds)))
    compress = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        return draw(_mutated_bytes(_zip(members, compress)))
    name = draw(st.sampled_from(sorted(members)))
    how = draw(st.sampled_from(["member", "member", "rename", "drop", "add"]))
    if how == "member":
        members[name] = draw(_npy_members())
    elif how == "rename":
        new = draw(st.sampled_from(["x_train", "t_train", "x", "meta", "../x", "param/", "a/b/c",
                                    "x_train\x1b[2J", "caf\xe9", "meta.npy.npy", "-"]))
        members[new + ".npy" if draw(st.booleans()) else new] = members.pop(name)
    elif how == "drop":
        del members[name]
    else:
        members[draw(st.sampled_from(["x_test.npy", "t_test.npy", "param/extra.npy",
                                      "optim/m/9.x.npy"]))] = draw(_npy_members())
    return _zip(members, compress)


_NPZ_SEEDS = [_members({"x_train": _X, "t_train": _T}),
              _members({"x_train": _X, "t_train": _T, "x_test": _X[:6], "t_test": _T[:6]}),
              _members({"x": _X.astype(np.float32), "t_train": np.eye(3)[_T]})]


NPZ_FILES = _archives(_NPZ_SEEDS)


@_SETTINGS
@given(NPZ_FILES)
def test_fuzz_npz_files_load_or_raise_netc_error(raw: bytes) -> None:
    check_data_file(raw, ".npz")


def _checkpoint_members() -> dict[str, bytes]:
    net = netc.api.compile(NET4, seed=0)
    path = FILES / "seed.ckpt.npz"
    net.fit(_X, _T, epochs=2, batch_size=5, checkpoint=path)
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


_CKPT = _checkpoint_members()
_META = json.loads(np.load(FILES / "seed.ckpt.npz")["meta"][()])
_META_VALUES = [None, True, -1, 0, 2**70, 1e308, float("nan"), "x", "", [], {}, [1, 2],
                {"a": 1}, [[0] * 3], "\x1b[2J", 12, 0.5]


@st.composite
def _meta_members(draw: st.DrawFn) -> bytes:
    """The checkpoint's JSON meta with one value replaced, a key dropped, or its text mutated."""
    meta = dict(_META)
    key = draw(st.sampled_from(sorted(meta)))
    how = draw(st.sampled_from(["value", "drop", "text"]))
    if how == "value":
        meta[key] = draw(st.sampled_from(_META_VALUES))
    elif how == "drop":
        del meta[key]
    text = json.dumps(meta)
    if how == "text":
        text = draw(_mutated_bytes(text.encode(), hot=None)).decode("utf-8", "replace")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array(text), allow_pickle=False)
    return buf.getvalue()


@st.composite
def _checkpoints(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 2)) == 0:
        members = dict(_CKPT)
        members["meta.npy"] = draw(_meta_members())
        return _zip(members, draw(st.booleans()))
    return draw(_archives([_CKPT]))


CHECKPOINTS = _checkpoints()


@_SETTINGS
@given(CHECKPOINTS)
def test_fuzz_checkpoints_load_or_raise_netc_error(raw: bytes) -> None:
    check_checkpoint(raw)


def check_checkpoint(raw: bytes) -> None:
    """The checkpoint readers: `load_checkpoint`, `Network.load_checkpoint` (`predict`,
    `export`) and `--resume`, from these bytes."""
    from netc.runtime.checkpoint import load_checkpoint

    path = FILES / "fuzzed.ckpt.npz"
    path.write_bytes(raw)
    _netc_error_only(load_checkpoint, path)
    net = netc.api.compile(NET4, seed=0)
    _netc_error_only(net.load_checkpoint, path)
    # `netc run --resume` and `Network.fit(resume=...)`: restore, then train on.
    _netc_error_only(netc.api.compile(NET4, seed=0).fit, _X, _T, epochs=3, batch_size=5,
                     resume=path)
