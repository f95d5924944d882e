"""Each pass: the structure it produces, and numeric equality with the unoptimized graph."""
from __future__ import annotations

import numpy as np
import pytest
from graphs import emit, feeds_for, make, ops, reference

from graphc.config import config
from graphc.ir import building, verify
from graphc.ir.dtypes import float32
from graphc.ir.graph import const
from graphc.passes.cse import cse
from graphc.passes.dce import dce
from graphc.passes.fold import fold
from graphc.passes.fuse import fuse
from graphc.passes.pipeline import optimize, passes_for
from graphc.passes.simplify import simplify, simplify_keep_sums

F32 = float32


def check(g, pass_fn):
    """Apply a pass (in place) to a copy; verify it and compare numbers with the original; return the copy."""
    arrays = feeds_for(g)
    want = reference(g, arrays)
    h = g.copy()
    pass_fn(h)
    verify(h)
    got = reference(h, arrays)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=1e-5, atol=1e-6)
    return h


def test_dce_drops_unused_nodes_and_keeps_updates():
    def fn(x, w):
        emit("exp", [x])                       # dead
        return emit("mul", [x, w])
    g = make(fn, ((4,), F32), ((), F32))
    w = g.inputs[1]
    with building(g):
        new_w = emit("sub", [w, emit("sin", [w])])
    g.updates.append((w, new_w))
    h = check(g, dce)
    assert ops(h) == ["mul", "sin", "sub"]


def test_cse_merges_duplicates_commutative_and_constants():
    def fn(x, y):
        a = emit("mul", [x, y])
        b = emit("mul", [y, x])                # commutative duplicate
        c = emit("exp", [x])
        d = emit("exp", [x])                   # exact duplicate
        return [emit("add", [a, b]), emit("add", [c, d])]
    g = make(fn, ((3,), F32), ((3,), F32))
    h = check(g, cse)
    assert ops(h).count("mul") == 1 and ops(h).count("exp") == 1


def _draw(like):
    """A uniform draw from a constant key (the same key both times: only the random flag keeps them apart)."""
    key = const(np.array([7, 0], np.int32), np.dtype(np.int32))
    return emit("uniform", [key], shape=like.shape, low=0.0, high=1.0)


def test_cse_never_merges_random_ops():
    g = make(lambda x: [emit("add", [_draw(x), x]), emit("add", [_draw(x), x])], ((3,), F32))
    h = g.copy()
    cse(h)
    verify(h)
    assert ops(h).count("uniform") == 2


def test_cse_merges_equal_constants():
    g = make(lambda x: [x * 3.0, x + 3.0], ((2,), F32))
    assert len(g.consts) == 2
    h = check(g, cse)
    assert len(h.consts) == 1


def test_fold_computes_constant_subexpressions():
    def fn(x):
        c = emit("exp", [emit("add", [_c(x, 1.0), _c(x, 2.0)])])
        return emit("mul", [x, c])
    g = make(fn, ((3,), F32))
    h = check(g, fold)
    assert ops(h) == ["mul"]
    const = [c for c in h.consts if c in h.nodes[0].inputs][0]
    np.testing.assert_allclose(const.data, np.exp(np.float32(3.0)), rtol=1e-6)


def _c(like, value):
    return const(value, like.dtype)


def test_fold_keeps_random_ops_and_broadcasts():
    def fn(x):
        u = _draw(x)
        b = emit("broadcast_to", [_c(x, 1.0)], shape=(3,))
        return emit("add", [emit("add", [x, u]), b])
    g = make(fn, ((3,), F32))
    h = g.copy()
    fold(h)
    verify(h)
    assert "uniform" in ops(h) and "broadcast_to" in ops(h)


# (build, ops left by default, ops left with fast math): rewrites that change a result at some input (signed
# zeros, infinities, NaN, underflow) are made only with fast math.
@pytest.mark.parametrize("build, exact, fast", [
    (lambda x: x * 1.0, [], []),
    (lambda x: x + 0.0, ["add"], []),                      # -0.0 + 0.0 is 0.0
    (lambda x: x + (-0.0), [], []),
    (lambda x: x - 0.0, [], []),
    (lambda x: x - (-0.0), ["sub"], []),
    (lambda x: 0.0 - x, ["sub"], ["neg"]),                 # 0.0 - 0.0 is 0.0, -(0.0) is -0.0
    (lambda x: -0.0 - x, ["neg"], ["neg"]),
    (lambda x: emit("neg", [emit("neg", [x])]), [], []),
    (lambda x: x / 1.0, [], []),
    (lambda x: x ** 2.0, ["mul"], ["mul"]),
    (lambda x: x ** 0.5, ["sqrt"], ["sqrt"]),              # NumPy's power by a scalar 0.5 is sqrt
    (lambda x: x ** _c(x, np.full((2, 3), 0.5)), ["pow"], ["sqrt"]),   # by an array: pow(-0.0, 0.5) is 0.0
    (lambda x: x ** 1.0, [], []),
    (lambda x: emit("exp", [emit("log", [x])]), ["log", "exp"], []),
    (lambda x: emit("log", [emit("exp", [x])]), ["exp", "log"], []),
    (lambda x: emit("reshape", [emit("reshape", [x], shape=(6,))], shape=(3, 2)), ["reshape"], ["reshape"]),
    (lambda x: emit("transpose", [emit("transpose", [x], perm=(1, 0))], perm=(1, 0)), [], []),
    (lambda x: emit("astype", [x], dtype="float32"), [], []),
    (lambda x: (x * 2.0) * 3.0, ["mul", "mul"], ["mul"]),  # 2*3 may round, underflow or overflow
    (lambda x: (x * 2.0) * -1.0, ["mul"], ["mul"]),
    (lambda x: emit("sum", [x * 4.0], axis=(0, 1), keepdims=False), ["mul", "sum"], ["sum", "mul"]),
    (lambda x: emit("mean", [x], axis=(1,), keepdims=False), ["sum", "mul"], ["sum", "mul"]),
])
def test_simplify_rules(build, exact, fast, monkeypatch):
    g = make(build, ((2, 3), F32))
    assert ops(check(g, simplify)) == exact
    monkeypatch.setattr(config, "fast_math", True)
    assert ops(check(g, simplify)) == fast


def test_simplify_never_changes_ieee_results_without_fast_math():
    """Issue 15 item 12: exp(log x) -> x, log(exp x) -> x and (x*c1)*c2 -> x*(c1*c2) changed results (x < 0,
    exp overflowing, c1*c2 underflowing to 0 turned inf into nan); so did sqrt for x**0.5, x + 0.0 -> x and the
    scalings moved out of sums. Every such graph computes what it computes op by op."""
    f32 = np.dtype(np.float32)
    x = np.array([-1.0, -0.0, 0.0, 100.0, np.inf, -np.inf, 3e38, np.nan], f32)
    big = np.array([3e38, 3e38, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0], f32)    # sum(big * 0.5) is finite, sum(big) not
    cases = [(lambda v: emit("exp", [emit("log", [v])]), x), (lambda v: emit("log", [emit("exp", [v])]), x),
             (lambda v: (v * 1e-30) * 1e-30, x), (lambda v: v ** 0.5, x), (lambda v: v + 0.0, x),
             (lambda v: 0.0 - v, x), (lambda v: v - (-0.0), x),
             (lambda v: emit("sum", [v * 0.5], axis=(0,), keepdims=False), big)]
    for build, data in cases:
        g = make(build, ((8,), f32))
        h = g.copy()
        simplify(h)
        with np.errstate(all="ignore"):
            want, got = reference(g, [data]), reference(h, [data])
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
            np.testing.assert_array_equal(a, b)


def test_simplify_vector_inner_product_and_integer_subtraction():
    g = make(lambda a, b: emit("sum", [a * b], axis=(0,), keepdims=False), ((5,), F32), ((5,), F32))
    assert ops(check(g, simplify)) == ["vdot"]
    # For the GPU the sum stays, and fusion folds it into the kernel making its operand (one pass).
    gpu = check(g, lambda g: optimize(g, 3, device="gpu"))
    assert ops(gpu) == ["fused"] and [n.op.name for n in gpu.nodes[0].attrs["subgraph"].nodes] == ["mul", "sum"]
    assert simplify_keep_sums in passes_for(3, "gpu") and simplify not in passes_for(3, "gpu")
    gi = make(lambda a: a - a, ((3,), np.dtype(np.int32)))
    assert "sub" not in ops(check(gi, simplify))
    gf = make(lambda a: a - a, ((3,), F32))        # floats: inf - inf is nan, so this one stays
    assert ops(check(gf, simplify)) == ["sub"]


def test_simplify_removes_materialized_broadcasts():
    def fn(x, s):
        return emit("mul", [x, emit("broadcast_to", [emit("reshape", [s], shape=(1,))], shape=(4,))])
    g = make(fn, ((4,), F32), ((), F32))
    assert ops(check(g, simplify)) == ["mul"]


def test_fuse_chain_becomes_one_node():
    g = make(lambda x: emit("tanh", [x * 0.5 + 0.1]) * emit("exp", [x]) + x * x - emit("abs", [x]), ((64,), F32))
    h = check(g, fuse)
    assert ops(h) == ["fused"]
    sub = h.nodes[0].attrs["subgraph"]
    assert len(sub.nodes) == 9 and len(h.nodes[0].outputs) == 1


def test_fuse_reduction_prologue():
    g = make(lambda p, y: emit("mean", [(p - y) * (p - y)], axis=(0,), keepdims=False), ((8,), F32), ((8,), F32))
    h = check(g, fuse)
    assert ops(h) == ["fused"]
    assert [n.op.name for n in h.nodes[0].attrs["subgraph"].nodes][-1] == "mean"


def test_fuse_keeps_groups_convex():
    # a -> reshape (not fusable) -> c, and a -> c directly: a and c in one group would need the
    # reshape both before and after the group.
    def fn(x):
        a = emit("exp", [x])
        r = emit("reshape", [emit("reshape", [a], shape=(2, 2))], shape=(4,))
        return emit("add", [emit("sin", [a]), r])
    g = make(fn, ((4,), F32))
    h = check(g, fuse)
    for n in h.nodes:
        if n.op.name == "fused":
            inner = [m.op.name for m in n.attrs["subgraph"].nodes]
            assert not ("exp" in inner and "add" in inner)


def test_fuse_does_not_read_a_reduction_inside_its_group():
    g = make(lambda x: x - emit("broadcast_to", [emit("mean", [x], axis=(0,), keepdims=True)], shape=(6,)),
             ((6,), F32))
    h = check(g, lambda g: (simplify(g), fuse(g)))
    for n in h.nodes:
        if n.op.name == "fused":
            names = [m.op.name for m in n.attrs["subgraph"].nodes]
            assert not ("mean" in names and "sub" in names)


def test_fuse_never_makes_two_groups_depend_on_each_other():
    # Group A (3, 4): exp, its column sum, and a later add; group B (4,): a scale and an add reading A's
    # sum, whose other result feeds A's add through a reshape. Fusing both would need A before B and B
    # before A.
    def fn(x, y):
        a = emit("exp", [x])
        s = emit("sum", [a], axis=(0,), keepdims=False)
        b = y * 2.0
        c = emit("add", [b, s])
        d = emit("add", [a, emit("reshape", [b], shape=(1, 4)) * 3.0])
        return [c, d]
    g = make(fn, ((3, 4), F32), ((4,), F32))
    h = check(g, fuse)
    assert ops(h).count("fused") == 1


def test_fuse_multiple_outputs_and_shapes():
    def fn(x, v):
        a = emit("exp", [x])
        b = a * 2.0
        s = emit("sum", [b], axis=(0,), keepdims=False)          # (3,) from (4, 3)
        return [a, emit("add", [s, v])]
    g = make(fn, ((4, 3), F32), ((3,), F32))
    h = check(g, fuse)
    big = [n for n in h.nodes if n.op.name == "fused"][0]
    assert len(big.outputs) == 2


def test_fuse_merges_independent_groups_of_one_shape():
    # Two parameter updates with no path between them become one kernel (horizontal fusion).
    def updates(w, gw, b, gb):
        return [w - gw * 0.1, b - gb * 0.1]
    g = make(updates, *[((8,), F32)] * 4)
    h = check(g, fuse)
    assert ops(h) == ["fused"] and len(h.nodes[0].outputs) == 2

    # A path between them through an outside node (a reshape) keeps them apart: one group would need
    # the reshape both before and after it.
    def chained(w, b):
        u = emit("exp", [w])
        r = emit("reshape", [emit("reshape", [u], shape=(2, 4))], shape=(8,))
        return [u, emit("sin", [r]) + b]
    assert ops(check(make(chained, ((8,), F32), ((8,), F32)), fuse)).count("exp") == 1

    # Different shapes, or a reduction in either group, stay apart.
    def mixed(a, b, c):
        return [emit("exp", [a]) * 2.0, emit("sin", [b]) + 1.0, emit("sum", [c * c], axis=(0,), keepdims=False)]
    h = check(make(mixed, ((8,), F32), ((4,), F32), ((8,), F32)), fuse)
    assert ops(h) == ["fused"] * 3


def test_pipeline_levels_and_verification():
    assert passes_for(0) == []
    with pytest.raises(ValueError):
        passes_for(7)
    g = make(lambda x: emit("exp", [x * 1.0]) - 0.0, ((5,), F32))
    h = check(g, lambda g: optimize(g, 3, check=True))
    assert ops(h) == ["exp"]


def test_pass_report(monkeypatch, capsys):
    monkeypatch.setattr(config, "pass_report", True)
    optimize(make(lambda x: x * 1.0, ((2,), F32)), 3)
    err = capsys.readouterr().err
    assert "simplify" in err and "fuse" in err and "ms" in err


def test_autodiff_builds_only_the_gradients_asked_for():
    from graphc.passes.autodiff import grad
    g = make(lambda w, x: emit("sum", [w * x], axis=(0,), keepdims=False), ((3,), F32), ((3,), F32))
    w, x = g.inputs
    dy = g.add_input((), F32)
    n = len(g.nodes)
    (gw,) = grad(g, g.outputs, [dy], [w])
    new = g.nodes[n:]
    # d/dw = dy * x only: the vjp's d/dx = dy * w was dropped, so w is read by no gradient node.
    assert all(w not in m.inputs for m in new) and any(x in m.inputs for m in new)
    verify(g)
