"""Generated passes: valid, readable Python; correct buffer aliasing; no code injection."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

import netc
from netc.compiler.codegen import passes_source, step_source
from netc.runtime import generated, optim
from netc.runtime.gradcheck import random_batch
from netc.source import Source

SPEC = ("input: 4\naffine(6) -> batchnorm -> relu -> dropout(0.2) -> matmul(6) -> sigmoid"
        " -> leaky_relu(0.1) -> repeat(2) -> tanh -> sum(3) -> softmax -> affine(3) -> softmax_ce")
KEY = re.compile(r"^\d+\.[a-z_]+\.[A-Za-z_]+$")
PASSES = ("forward", "loss", "backward", "predict", "first_nonfinite")


def _functions(tree: ast.AST) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def _calls(fn: ast.FunctionDef) -> list[ast.Call]:
    """The calls that are statements of `fn`'s body (one per generated line)."""
    return [s.value for s in fn.body if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)]


def _name(call: ast.Call) -> str:
    return ast.unparse(call.func)


def _args(call: ast.Call) -> list[str]:
    return [ast.unparse(a) for a in call.args]


def assert_clean(tree: ast.AST) -> None:
    """Only kernels, np.*, the passes and locally bound names; no imports; strings are keys."""
    bound = {"np", *generated._KERNELS}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            bound.add(node.name)
            bound.update(a.arg for a in node.args.args)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    docstrings = {id(f.body[0].value) for f in _functions(tree).values()
                  if isinstance(f.body[0], ast.Expr)}
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.Import, ast.ImportFrom, ast.Lambda, ast.Global,
                                     ast.ClassDef, ast.With, ast.Try)), ast.dump(node)
        if isinstance(node, ast.Name):
            assert node.id in bound, node.id
            assert not node.id.startswith("__"), node.id
        if isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_"), node.attr
            assert ast.unparse(node).startswith(("np.", "np.isfinite(")), ast.unparse(node)
        if isinstance(node, ast.Call):
            func = _name(node)
            assert (func in generated._KERNELS or func == "forward" or func.startswith("np.")
                    or re.fullmatch(r"np\.isfinite\(\w+\)\.all", func)), func
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert id(node) in docstrings or KEY.match(node.value) or re.fullmatch(
                r"\w+/\d+\.[a-z_]+\.\w+", node.value), node.value


# ---- validity and readability ----------------------------------------------------------

def test_codegen_source_is_valid_python_with_the_passes():
    net = netc.compile(SPEC, dtype="float64")
    tree = ast.parse(net.source)
    assert [f.name for f in tree.body] == ["bind"]
    assert set(PASSES) <= set(_functions(tree))
    assert_clean(tree)
    assert net.source == passes_source(net.plan)


def test_codegen_forward_is_one_kernel_call_per_layer():
    plan = netc.plan(SPEC)
    fns = _functions(ast.parse(passes_source(plan)))
    body = plan.layers[:-1]
    forward = _calls(fns["forward"])
    assert [_name(c) for c in forward] == [f"{layer.op}_forward" for layer in body]
    assert len(fns["forward"].body) == len(body) + 1  # the calls and `return`
    assert [_name(c) for c in _calls(fns["loss"])] == []
    assert _name(fns["loss"].body[0].value) == "softmax_ce_forward"


def test_codegen_backward_is_one_kernel_call_per_layer_and_loss():
    plan = netc.plan(SPEC)
    backward = _calls(_functions(ast.parse(passes_source(plan)))["backward"])
    expected = ["softmax_ce_backward", *(f"{lr.op}_backward" for lr in reversed(plan.layers[:-1]))]
    assert [_name(c) for c in backward] == expected


def test_codegen_lines_carry_layer_and_spec_location():
    plan = netc.plan(SPEC)
    src = passes_source(plan)
    for layer in plan.layers:
        assert f"# {layer.label} ({layer.n_in} -> {layer.n_out}) at {layer.where}" in src
    assert "at 2:1" in src


@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_codegen_bind_step_is_one_update_over_flat_buffers(name):
    info = optim.OPTIMIZERS[name]
    plan = netc.plan(SPEC)
    hyper = [v for _, v in info.hyper]
    src = step_source(plan, info.kernel.__name__, info.state, hyper, info.counts_steps)
    tree = ast.parse(src)
    assert_clean(tree)
    calls = _calls(_functions(tree)["step"])
    assert [_name(c) for c in calls] == [info.kernel.__name__]
    assert _args(calls[0])[:2 + len(info.state)] == ["p", "g", *info.state]

    # The generated step does what the interpreted optimizer does, parameter by parameter.
    net = netc.compile(SPEC, dtype="float64")
    x, t = random_batch(net, 6)
    grads = net.gradients(x, t)
    flat_state = [np.zeros_like(net.flat_params) for _ in info.state]
    reference = {k: v.copy() for k, v in net.params.items()}
    ns = generated.load(src, "test")
    step = ns["bind_step"](net.flat_params, net.flat_grads, *flat_state)
    opt = optim.Optimizer(name)
    for t_step in (1, 2):
        for k in grads:
            net.grads[k][...] = grads[k]
        step(t_step)
        opt.update(reference, {k: g.copy() for k, g in grads.items()})
    for k in net.params:
        np.testing.assert_allclose(net.params[k], reference[k], rtol=1e-12, atol=1e-15)


def test_codegen_params_are_views_of_one_flat_buffer():
    net = netc.compile(SPEC)
    assert all(np.shares_memory(p, net.flat_params) for p in net.params.values())
    assert all(np.shares_memory(g, net.flat_grads) for g in net.grads.values())
    assert net.flat_params.size == sum(p.size for p in net.params.values())


# ---- aliasing ----------------------------------------------------------------------------

def _forward_args(spec: str) -> list[list[str]]:
    return [_args(c) for c in _calls(_functions(ast.parse(netc.compile(spec).source))["forward"])]


def test_codegen_affine_relu_shares_a_buffer():
    args = _forward_args("input: 3\naffine(4) -> relu -> affine(2) -> mse")
    assert args[1] == ["y0", "y0"]
    assert args[2][0] == "y0"


def test_codegen_relu_sigmoid_does_not_overwrite_relu_output():
    args = _forward_args("input: 3\naffine(4) -> relu -> sigmoid -> affine(2) -> mse")
    relu_out, sigmoid_out = args[1][-1], args[2][-1]
    assert args[2][0] == relu_out
    assert sigmoid_out != relu_out


def test_codegen_first_layer_never_overwrites_the_input():
    for op in ("relu", "sigmoid", "tanh", "dropout", "batchnorm", "leaky_relu", "softmax"):
        net = netc.compile(f"input: 3\n{op} -> affine(2) -> mse", dtype="float64")
        x, t = random_batch(net, 5)
        keep = x.copy()
        net.gradients(x, t, input_grad=True)
        net.predict(x)
        np.testing.assert_array_equal(x, keep, err_msg=op)


ALIAS_CHAINS = [
    "affine(4) -> relu -> affine(3)",
    "affine(4) -> relu -> sigmoid -> tanh -> relu -> affine(3)",
    "affine(4) -> sigmoid -> relu -> affine(3)",
    "affine(4) -> softmax -> tanh -> affine(3)",
    "affine(4) -> leaky_relu(0.1) -> sigmoid -> leaky_relu(0.2) -> affine(3)",
    "affine(4) -> batchnorm -> relu -> dropout(0.3) -> tanh -> affine(3)",
    "matmul(4) -> dropout(0.4) -> dropout(0.2) -> sigmoid -> affine(3)",
    "affine(4) -> repeat(2) -> relu -> sum(2) -> tanh -> affine(3)",
    "tanh -> tanh -> batchnorm -> batchnorm -> affine(3)",
    "affine(4) -> relu -> softmax -> relu -> affine(3)",
    "affine(3) -> sigmoid",
    "affine(3) -> tanh",
]


@pytest.mark.parametrize("chain", ALIAS_CHAINS)
@pytest.mark.parametrize("loss", ["softmax_ce", "sigmoid_ce", "mse"])
def test_codegen_aliasing_keeps_gradients_exact(chain, loss):
    net = netc.compile(f"input: 3\n{chain} -> {loss}", dtype="float64")
    x, t = random_batch(net, 6, seed=1)
    x *= 0.5
    results = netc.gradcheck(net, x, t)
    assert all(r.ok(1e-6) for r in results), [(r.name, r.error) for r in results]


def test_codegen_loss_value_independent_of_aliasing():
    # Same math with and without an in-place relu (dropout in eval mode separates them).
    a = netc.compile("input: 3\naffine(4) -> relu -> sigmoid -> affine(2) -> mse",
                     dtype="float64", seed=3)
    b = netc.compile("input: 3\naffine(4) -> relu -> dropout(0.1) -> sigmoid -> affine(2) -> mse",
                     dtype="float64", seed=3)
    for k in a.params:
        b.params[k.replace("3.affine", "4.affine")][...] = a.params[k]
    x, t = random_batch(a, 6)
    assert a.loss(x, t) == b.loss(x, t)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


# ---- injection -------------------------------------------------------------------------

EVIL = [
    'data: "x\\"); import os; os.system(\'touch /tmp/pwned\') #"',
    "data: \"'''; import os #\"",
    'data: "\\n__import__(\'os\').system(\'touch /tmp/pwned\')\\n"',
    "data: __import__('os')",
    'data: "/tmp/evil\\nimport os.npz"',
    'optimizer: sgd(lr="1); import os #")',
    'optimizer: adam(lr=0.1, beta1="__import__(\'os\')")',
    "optimizer: __import__('os')",
    'optimizer: "sgd\\nimport os"',
    "init: __import__",
    'init: normal(std="0.1); import os")',
    'train: seed="__import__(\'os\')"',
    'train: dtype="float64\\nimport os"',
    "__import__: 1",
    'os = affine(3)\ninput: 2',
]
EVIL_PIPELINES = [
    'affine("3); import os #") -> mse',
    "affine(__import__('os')) -> mse",
    'affine(3, init="he\\nimport os") -> mse',
    'affine(3, __import__="x") -> mse',
    'dropout(p="0.5); import os") -> affine(3) -> mse',
    "leaky_relu(alpha=__import__) -> affine(3) -> mse",
    'repeat(n="2") -> affine(3) -> mse',
    'sum(n="os") -> affine(3) -> mse',
    'batchnorm(eps="1e-5); import os", momentum=0.9) -> affine(3) -> mse',
    "__import__ -> mse",
    "os.system -> mse",
    "a__import__ -> mse",
    'affine(3) -> mse("import os")',
    "affine(3) -> softmax_ce(__import__('os'))",
]
BLOCKS = [
    "a__import__ = affine(3) -> relu\na__import__ -> mse",
    "__import__ = affine(3) -> relu\n__import__ -> mse",
    "os = affine(3)\nos * 2 -> mse",
    "system = relu\naffine(3) -> system -> mse",
]
MARKERS = ("import", "os", "pwned", "system", "evil", "__")


def _assert_not_injected(net) -> None:
    from netc.runtime.generated import standalone_module

    for src in (net.source, standalone_module(net.plan)):
        tree = ast.parse(src)
        imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imports |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert imports <= {"numpy", "__future__", "argparse"}  # argparse: the module's --help
        assert_clean(_functions(tree)["bind"])
        assert "pwned" not in src and "__import__" not in src and "evil" not in src
        assert "import os" not in src and "os.system" not in src


def _compile_or_reject(text: str, path: str | None = None):
    try:
        return netc.compile(Source.from_text(text, path) if path else text)
    except netc.SpecError:
        return None


@pytest.mark.parametrize("decl", EVIL)
def test_codegen_injection_in_declarations_is_inert(decl):
    net = _compile_or_reject(f"input: 2\n{decl}\naffine(3) -> mse")
    if net is not None:
        _assert_not_injected(net)


@pytest.mark.parametrize("pipeline", EVIL_PIPELINES + BLOCKS)
def test_codegen_injection_in_pipelines_is_inert(pipeline):
    net = _compile_or_reject(f"input: 2\n{pipeline}")
    if net is not None:
        _assert_not_injected(net)


def test_codegen_injection_cases_that_compile_are_exercised():
    compiled = [t for t in BLOCKS if _compile_or_reject(f"input: 2\n{t}") is not None]
    assert len(compiled) >= 3  # block names are free identifiers: they must stay out


@pytest.mark.parametrize("path", ["evil\nimport os", "evil'); import os #", 'evil"""\nimport os'])
def test_codegen_injection_through_the_file_path_is_inert(path):
    net = _compile_or_reject("input: 2\naffine(3) -> relu -> affine(2) -> mse", path)
    assert net is not None
    assert net.plan.path == path
    _assert_not_injected(net)
    with pytest.raises(netc.SpecError) as e:
        netc.compile(Source.from_text("input: 2\naffine(3) -> nope -> mse", path))
    assert path in str(e.value)


def test_codegen_injection_string_data_source_stays_data():
    text = 'input: 2\ndata: "x\\"); import os; os.system(\'touch /tmp/pwned\') #"\naffine(3) -> mse'
    net = _compile_or_reject(text)
    if net is not None:
        assert "pwned" in net.plan.run.data
        _assert_not_injected(net)


def test_codegen_first_nonfinite_names_the_first_bad_layer():
    net = netc.compile("input: 2\naffine(3) -> relu -> affine(2) -> tanh -> mse", dtype="float64")
    first_nonfinite = net.passes(4)[5]
    x = np.ones((4, 2))
    assert first_nonfinite(x, False) is None
    net.params["2.affine.b"][0] = np.inf
    assert first_nonfinite(x, False) == 2
    net.params["0.affine.W"][0, 0] = np.nan
    assert first_nonfinite(x, False) == 0
