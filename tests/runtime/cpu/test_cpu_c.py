"""The C backend for fused groups: every C-expressible elementwise op against the reference semantics,
NumPy's NaN behaviour, reductions, broadcasting, threads, and the fallbacks."""
from __future__ import annotations

import numpy as np
import pytest

import graphc.runtime.cpu.c_kernel as cpu_c
from graphc.config import config
from graphc.ir import REGISTRY, Graph, building, emit
from graphc.ir.errors import ShapeError
from graphc.ir.graph import const
from graphc.ir.interpret import evaluate
from graphc.passes.fuse import fuse
from graphc.runtime.cpu.chunked import FusedCPUKernel
from graphc.runtime.lower import lower

pytestmark = pytest.mark.skipif(cpu_c.compiler() is None, reason="no C compiler")

BOOL_IN = {"logical_not", "logical_and", "logical_or", "logical_xor"}
NOT_FUSED = {"stop_gradient"}
BOOL_OUT = {"isnan", "isinf", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}
ATTRS = {"leaky_relu": {"slope": 0.1}, "clip": {"lower": -0.5, "upper": 0.75}, "astype": {"dtype": "float32"}}


def fused_node(build, specs):
    """Build inputs of the given (shape, dtype), apply `build`, fuse, and return the single fused node."""
    g = Graph()
    ins = [g.add_input(s, d) for s, d in specs]
    with building(g):
        out = build(*ins)
    g.outputs = list(out) if isinstance(out, (list, tuple)) else [out]
    fuse(g)
    nodes = [n for n in g.nodes if n.op.name == "fused"]
    assert len(nodes) == 1, [n.op.name for n in g.nodes]
    return nodes[0]


def compare(node, arrays, **tol):
    sub = node.attrs["subgraph"]
    env = evaluate(sub, dict(zip(sub.inputs, arrays)))
    want = [env[v] for v in sub.outputs]
    got = cpu_c.CFusedKernel(node)(*arrays)
    got = [got] if len(want) == 1 else list(got)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), **tol)


def _elementwise_cases():
    for name, op in sorted(REGISTRY.items()):
        if op.elementwise and op.c_expr is not None and name not in BOOL_IN | NOT_FUSED and name != "where":
            for dt in (np.float32, np.float64):
                yield name, np.dtype(dt)


@pytest.mark.parametrize("name, dtype", list(_elementwise_cases()))
def test_every_c_expressible_op_matches_reference(name, dtype):
    n_in = 2 if REGISTRY[name].infer.__qualname__.startswith("_infer_binary") else 1
    attrs = ATTRS.get(name, {})
    if name == "astype":
        attrs = {"dtype": str(dtype)}

    def build(*xs):
        y = emit(name, list(xs[:n_in]), **attrs)
        if name in BOOL_OUT:
            y = emit("astype", [y], dtype=str(dtype))
        return emit("add", [emit("mul", [y, const(1.5, dtype)]), xs[0]])
    node = fused_node(build, [((4096,), dtype)] * n_in)
    rng = np.random.default_rng(0)
    arrays = [(rng.random(4096) * 1.6 - 0.8).astype(dtype) for _ in range(n_in)]
    if name in ("log", "sqrt", "log1p", "pow"):
        arrays = [np.abs(a) + 0.1 for a in arrays]
    if name == "acosh":   # defined from 1 on
        arrays = [a + 1.9 for a in arrays]
    # libmvec's vector functions are within a few ulp.
    compare(node, arrays, rtol=2e-6 if dtype == np.float32 else 1e-13, atol=1e-6 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("name", ["maximum", "minimum", "relu", "clip"])
def test_nan_propagates_as_in_numpy(name):
    n_in = 2 if name in ("maximum", "minimum") else 1
    node = fused_node(lambda *xs: emit("add", [emit(name, list(xs), **ATTRS.get(name, {})), xs[0]]),
                      [((8,), np.dtype(np.float32))] * n_in)
    a = np.array([np.nan, 1, -1, np.nan, 2, -3, 0.5, np.inf], np.float32)
    b = np.array([0, np.nan, np.nan, np.nan, 1, 1, -1, 0], np.float32)
    compare(node, [a, b][:n_in], equal_nan=True)


def test_full_reductions_with_prologue():
    f32 = np.dtype(np.float32)
    def build(p, y):
        d = p - y
        return [emit("mean", [d * d], axis=(0, 1), keepdims=False),
                emit("sum", [d * p], axis=(0, 1), keepdims=False), d * 2.0]
    node = fused_node(build, [((64, 64), f32), ((64, 64), f32)])
    rng = np.random.default_rng(1)
    compare(node, [rng.standard_normal((64, 64)).astype(f32), rng.standard_normal((64, 64)).astype(f32)],
            rtol=1e-5)


def test_trailing_broadcast_and_unsupported_forms():
    f32 = np.dtype(np.float32)
    node = fused_node(lambda x, b: emit("relu", [x + b]) * 2.0, [((32, 16), f32), ((16,), f32)])
    rng = np.random.default_rng(2)
    compare(node, [rng.standard_normal((32, 16)).astype(f32), rng.standard_normal(16).astype(f32)])
    col = fused_node(lambda x, b: emit("relu", [x + b]) * 2.0, [((32, 16), f32), ((32, 1), f32)])
    with pytest.raises(cpu_c.Unsupported):
        cpu_c.CFusedKernel(col)
    mx = fused_node(lambda x: emit("max", [x * 2.0], axis=(0,), keepdims=False), [((32,), f32)])
    with pytest.raises(cpu_c.Unsupported):
        cpu_c.CFusedKernel(mx)
    i32 = fused_node(lambda x: (x + x) * x, [((32,), np.dtype(np.int32))])
    with pytest.raises(cpu_c.Unsupported):
        cpu_c.CFusedKernel(i32)


@pytest.fixture
def two_threads(monkeypatch):
    """Every group, however small, split across two threads."""
    monkeypatch.setattr(config, "parallel_min", 16)
    monkeypatch.setattr(config, "threads", 2)


def test_broadcast_block_loop_with_ranges_starting_mid_block(two_threads):
    """A bias row is read by a loop over whole rows (which vectorizes); thread ranges split rows."""
    f32 = np.dtype(np.float32)

    def bias_relu_mask(x, b):
        h = x + b
        return [emit("relu", [h]), emit("astype", [emit("greater", [h, const(0.0, f32)])], dtype="float32"),
                emit("sum", [h], axis=(0, 1), keepdims=False)]
    node = fused_node(bias_relu_mask, [((37, 29), f32), ((29,), f32)])
    src = cpu_c.CFusedKernel(node).src
    assert "x1[b0 + j]" in src and "i % 29" not in src
    assert "_Bool t" not in src          # bool values live in int registers
    rng = np.random.default_rng(3)
    compare(node, [rng.standard_normal((37, 29)).astype(f32), rng.standard_normal(29).astype(f32)], rtol=1e-5)
    two = fused_node(lambda x, b, c: x + b + c, [((4, 5, 6), f32), ((6,), f32), ((5, 6), f32)])
    assert "i % 6" in cpu_c.CFusedKernel(two).src        # two block sizes: indexed by remainders
    compare(two, [rng.standard_normal(s).astype(f32) for s in ((4, 5, 6), (6,), (5, 6))])


def test_reductions_over_leading_axes(two_threads):
    """Column sums (a bias gradient) accumulate per block element; thread ranges split rows."""
    f32 = np.dtype(np.float32)

    def grads(d, m, b):
        g = d * m
        return [g, emit("sum", [g], axis=(0,), keepdims=False), emit("mean", [g + b], axis=(0,), keepdims=True)]
    node = fused_node(grads, [((37, 29), f32), ((37, 29), f32), ((29,), f32)])
    src = cpu_c.CFusedKernel(node).src
    assert "c0[b0 + j] +=" in src and "c1[b0 + j] +=" in src
    rng = np.random.default_rng(4)
    compare(node, [rng.standard_normal(s).astype(f32) for s in ((37, 29), (37, 29), (29,))], rtol=1e-5)
    three = fused_node(lambda x: emit("sum", [x * x], axis=(0, 1), keepdims=False), [((3, 4, 5), f32)])
    compare(three, [rng.standard_normal((3, 4, 5)).astype(f32)], rtol=1e-5)
    inner = fused_node(lambda x: emit("sum", [x * x], axis=(1,), keepdims=False), [((6, 5), f32)])
    with pytest.raises(cpu_c.Unsupported, match="leading axes"):
        cpu_c.CFusedKernel(inner)


def test_threads_split_the_range(two_threads):
    f32 = np.dtype(np.float32)
    def build(x):
        t = emit("tanh", [x])
        return [t * 3.0, emit("sum", [t * x], axis=(0,), keepdims=False)]
    node = fused_node(build, [((1000,), f32)])
    compare(node, [np.linspace(-2, 2, 1000, dtype=np.float32)], rtol=1e-5)


def test_plain_arithmetic_needs_more_elements_to_thread_than_vector_math():
    f32 = np.dtype(np.float32)
    plain = cpu_c.CFusedKernel(fused_node(lambda p, g: p - g * 0.1, [((64,), f32)] * 2))
    heavy = cpu_c.CFusedKernel(fused_node(lambda x: emit("tanh", [emit("exp", [x])]), [((64,), f32)]))
    assert plain.parallel_min == 8 * config.parallel_min      # an update of 2^20 elements stays on one
    assert heavy.parallel_min < config.parallel_min // 2


def test_writes_into_given_output_and_caches_the_library(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "cache_dir", str(tmp_path))
    f64 = np.dtype(np.float64)
    node = fused_node(lambda x: emit("exp", [x]) - 1.0, [((257,), f64)])
    k = cpu_c.CFusedKernel(node)
    x = np.linspace(0, 1, 257)
    target = np.empty(257)
    r = k(x, out={0: target})
    assert r is target
    np.testing.assert_allclose(target, np.expm1(x), rtol=1e-12)
    cpu_c._build.cache_clear()
    libs = list(tmp_path.glob("fused-*.so"))
    assert len(libs) == 1
    cpu_c.CFusedKernel(node)                      # built again from the same source: loaded from disk
    assert list(tmp_path.glob("fused-*.so")) == libs


def test_backend_can_be_switched_off(monkeypatch):
    monkeypatch.setattr(config, "cpu_backend", "numpy")
    node = fused_node(lambda x: emit("exp", [x]) * 2.0, [((8,), np.dtype(np.float32))])
    with pytest.raises(cpu_c.Unsupported):
        cpu_c.CFusedKernel(node)


def test_kernels_check_the_buffers_they_are_handed():
    """Issue 15 item 1: the C loop trusts its pointers, so the sizes of the arrays it is given are checked first."""
    f32 = np.dtype(np.float32)
    node = fused_node(lambda x, b: x * 2.0 + b, [((64, 8), f32), ((8,), f32)])
    k = cpu_c.CFusedKernel(node)
    x, b = np.ones((64, 8), f32), np.ones(8, f32)
    np.testing.assert_array_equal(k(x, b), np.full((64, 8), 3, f32))
    with pytest.raises(ShapeError, match="input 1 has 1 elements, the loop reads 8"):
        k(x, np.ones(1, f32))
    with pytest.raises(ShapeError, match="input 0 has 8 elements"):
        k(np.ones(8, f32), b)
    with pytest.raises(ShapeError, match="1 arrays given for 2 inputs"):
        k(x)
    with pytest.raises(ShapeError, match="output 0 must be a writable contiguous float32"):
        k(x, b, out={0: np.empty(8, f32)})
    with pytest.raises(ShapeError, match="output 0"):
        k(x, b, out={0: np.empty((8, 64), f32).T})
    with pytest.raises(ShapeError, match="fused kernel"):
        FusedCPUKernel(node)(x, np.ones(1, f32))


def test_groups_of_another_form_run_op_by_op(monkeypatch):
    """Issue 15 item 1: a hand-built group whose outputs have different shapes is not given to the C loop."""
    f32 = np.dtype(np.float32)
    monkeypatch.setattr(config, "inline_max", 0)
    g = Graph()
    x = g.add_input((4096,), f32)
    c = g.add_const(np.float32(2.0))
    sub = Graph()
    sx, sc = sub.add_input((4096,), f32), sub.add_const(np.float32(2.0))
    with building(sub):
        sub.outputs = [sx * sc, emit("neg", [sc])]
    g.outputs = g.emit("fused", [x, c], {"name": "two_shapes", "subgraph": sub})
    with pytest.raises(cpu_c.Unsupported, match="gives shape"):
        cpu_c.CFusedKernel(g.outputs[0].producer)
    plan = lower(g)
    a = np.arange(4096, dtype=f32)
    y, z = plan(a)
    np.testing.assert_array_equal(y, a * 2)
    assert z.shape == () and z == -2
