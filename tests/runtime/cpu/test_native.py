"""The native plan (runtime/cpu/native.py): every op case's forward and gradient graph as one C function
against the NumPy plan, every elementwise op on NaN and infinities, tiering, checked inputs, free sizes,
threads and the fallbacks."""
from __future__ import annotations

import os
import sysconfig

import numpy as np
import pytest
from concurrency import in_threads
from op_cases import CASES, forward_graph, rng
from steps import line_fit_run

from graphc.config import config
from graphc.ir import REGISTRY, Graph, building, emit
from graphc.ir.symbols import Dim
from graphc.passes.autodiff import grad
from graphc.runtime.compile import compile_graph
from graphc.runtime.cpu import native
from graphc.runtime.cpu.c_kernel import Unsupported, compiler

pytestmark = pytest.mark.skipif(
    compiler() is None or not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")),
    reason="no C compiler or no Python headers")

# Ops the native plan has no C form for: a plan holding one keeps running on NumPy.
NO_NATIVE = {"sort", "topk", "cumsum", "matinv", "ctc_loss", "ctc_loss_grad", "scatter", "uniform", "normal",
             "permutation", "repeat", "tile", "roll", "pad"}
PARTLY = "with index arrays"   # getitem and setitem: basic indices only
N = Dim.symbol("N")


def _ops(g: Graph) -> set[str]:
    names = set()
    for n in g.nodes:
        names.add(n.op.name)
        if n.op.family == "fused":
            names |= _ops(n.attrs["subgraph"])
    return names


def _assert_same(got, want, tol: float) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert np.shape(a) == np.shape(b) and np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=tol, atol=tol)


def _case_graph(case) -> Graph:
    """y = op(inputs), s = sum(y * r) and the gradient of s for every float input: outputs y and the grads."""
    g, ins, y, s = forward_graph(case)
    wrt = [v for v, a in zip(ins, case.inputs) if a.dtype.kind == "f"]
    grads = grad(g, [s], [g.add_const(np.ones((), s.dtype))], wrt)
    g.outputs = [y, s] + [d for d in grads if d is not None]
    return g


LOCAL = [c for c in CASES if not REGISTRY[c.op].collective]   # plans with collectives are not tiered


@pytest.mark.parametrize("case", LOCAL, ids=[c.id for c in LOCAL])
def test_every_op_case_runs_natively_as_on_numpy(case):
    plan = compile_graph(_case_graph(case))
    try:
        fn = native.build(plan.graph)
    except Unsupported as e:
        assert _ops(plan.graph) & NO_NATIVE or PARTLY in str(e), f"{case.id}: {e}"
        return
    _assert_same(fn(*case.inputs), plan.fn(*case.inputs), 1e-10)


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-38, 1e-45, -2.5, 0.5, 3.0, 88.0, -104.0, 1e30],
                   np.float32)
ELEMENTWISE_ATTRS = {"leaky_relu": {"slope": 0.1}, "clip": {"lower": -0.5, "upper": 0.75}, "astype": {"dtype": "int32"}}


def _elementwise(dtype):
    for name, op in sorted(REGISTRY.items()):
        if not op.elementwise or op.c_expr is None:
            continue
        arity = op.arity or 1
        for kind in (dtype, np.bool_):
            types = [((len(SPECIAL),), np.dtype(kind))] * arity
            if name == "where":
                types = [((len(SPECIAL),), np.dtype(np.bool_))] + [((len(SPECIAL),), np.dtype(dtype))] * 2
            try:
                op.infer(types, ELEMENTWISE_ATTRS.get(name, {}))
            except Exception:   # the op takes the other kind of operand
                continue
            yield name, [np.dtype(t) for _, t in types]
            break


def _operands(dtypes: list) -> list[np.ndarray]:
    out = []
    for k, dt in enumerate(dtypes):
        if dt == np.bool_:
            out.append(np.arange(len(SPECIAL)) % (k + 2) == 0)
        elif dt.kind == "f":
            out.append(np.roll(SPECIAL, 3 * k).astype(dt))
        else:
            out.append(np.roll(np.array([0, 1, -1, 2, -7, 3, 5, 11, -2, 4, 6, 9, 1 << 20]), k).astype(dt))
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_every_elementwise_op_agrees_with_numpy_on_special_values(dtype):
    checked = 0
    for name, dtypes in _elementwise(dtype):
        if name in ("floor_div", "mod", "pow") and dtype == np.int32:
            continue   # integer division and powers by negatives: not native (C traps) / NumPy raises
        g = Graph()
        ins = [g.add_input(a.shape, a.dtype) for a in _operands(dtypes)]
        with building(g):
            g.outputs = g.emit(name, ins, ELEMENTWISE_ATTRS.get(name, {}))
        plan = compile_graph(g)
        arrays = _operands(dtypes)
        with np.errstate(all="ignore"):
            want = plan.fn(*arrays)
        got = native.build(plan.graph)(*arrays)
        for a, b in zip(got, want):
            np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=2e-6, atol=1e-30,
                                       equal_nan=True, err_msg=name)
        checked += 1
    assert checked >= (40 if dtype == np.float32 else 15)


def _line_fit(native_after: int, steps: int = 40):
    """The tutorial's traced line fit with native plans from call `native_after` (0: never)."""
    config.native_after = native_after
    step, losses, params, _ = line_fit_run("cpux", steps)
    return [float(loss.item()) for loss in losses], step.plan, [p.numpy() for p in params]


@pytest.fixture
def knobs():
    saved = config.native_after, config.cpu_backend
    yield
    config.native_after, config.cpu_backend = saved


def test_a_traced_step_runs_natively_after_its_first_calls(knobs):
    losses, plan, params = _line_fit(native_after=5)
    assert plan.tier == "native" and type(plan.fn).__name__ == "builtin_function_or_method"
    base, numpy_plan, base_params = _line_fit(native_after=0)
    assert numpy_plan.tier == "numpy"
    np.testing.assert_allclose(losses, base, rtol=1e-5)
    np.testing.assert_allclose(params, base_params, rtol=1e-5)
    assert losses[-1] < 1e-2 * losses[0]


def test_without_a_compiler_the_plan_stays_on_numpy(knobs):
    config.cpu_backend = "numpy"
    losses, plan, _ = _line_fit(native_after=2, steps=5)
    assert plan.tier == "numpy" and losses[-1] < losses[0]


def _plan(build, *specs):
    g = Graph()
    ins = [g.add_input(s, np.dtype(d), name=f"in{i}") for i, (s, d) in enumerate(specs)]
    with building(g):
        out = build(*ins)
    g.outputs = list(out) if isinstance(out, (list, tuple)) else [out]
    plan = compile_graph(g)
    return plan, native.build(plan.graph)


def test_inputs_are_checked_and_errors_name_them():
    _, fn = _plan(lambda a, b: a * b + 1.0, ((3, 4), "float32"), ((4,), "float32"))
    a, b = np.ones((3, 4), np.float32), np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"plan input 'in1' must be float32\[4\], got shape \(5,\)"):
        fn(a, np.ones(5, np.float32))
    with pytest.raises(ValueError, match="in0.*got 1 dimensions"):
        fn(np.ones(12, np.float32), b)
    with pytest.raises(TypeError, match="in0"):
        fn(a.astype(np.float64), b)
    with pytest.raises(TypeError, match="takes 2 arrays"):
        fn(a)
    out, = fn(np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)), b[::1])   # copied to C order
    np.testing.assert_array_equal(out, np.arange(12).reshape(3, 4) + 1)


def test_indices_out_of_range_raise_index_error():
    _, fn = _plan(lambda x, i: emit("gather", [x, i], axis=1), ((2, 3), "float32"), ((2, 1), "int32"))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(fn(x, np.array([[2], [-1]], np.int32))[0], [[2], [5]])
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 1 with size 3"):
        fn(x, np.array([[0], [3]], np.int32))
    _, hot = _plan(lambda i: emit("one_hot", [i], num_classes=3), ((2,), "int32"))
    with pytest.raises(IndexError, match="label 4 is out of range for 3 classes"):
        hot(np.array([0, 4], np.int32))


def test_free_sizes_run_natively_and_large_calls_on_numpy():
    plan, fn = _plan(lambda x, w: emit("sum", [emit("tanh", [x * w])], axis=(0,), keepdims=False),
                     ((N, 3), "float32"), ((3,), "float32"))
    w = np.array([0.5, -1.0, 2.0], np.float32)
    small = rng.standard_normal((7, 3)).astype(np.float32)
    _assert_same(fn(small, w), plan.fn(small, w), 1e-6)
    large = rng.standard_normal((native.MAX_WORK, 3)).astype(np.float32)
    assert fn(large, w) is None       # the tier runs the NumPy plan for it


def test_size_guards_are_checked():
    g = Graph()
    x, y = g.add_input((N, 3), np.float32, "x"), g.add_input((4, 3), np.float32, "y")
    with building(g):
        g.outputs = [x + y]
    fn = native.build(compile_graph(g).graph)
    np.testing.assert_array_equal(fn(np.ones((4, 3), np.float32), np.ones((4, 3), np.float32))[0], 2)
    with pytest.raises(ValueError, match="guard N == 4"):
        fn(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32))


def test_results_are_fresh_arrays_and_constants_copies():
    plan, fn = _plan(lambda x: [x * 2.0, emit("reshape", [x], shape=(4,)), x], ((2, 2), "float32"))
    g = plan.graph
    g.outputs.append(g.add_const(np.array([1.0, 2.0], np.float32)))
    fn = native.build(g)
    x = np.arange(4, dtype=np.float32).reshape(2, 2)
    doubled, flat, same, c = fn(x)
    assert same is x and not np.shares_memory(flat, x) and flat.shape == (4,)
    c[0] = 9.0
    np.testing.assert_array_equal(fn(x)[3], [1.0, 2.0])


def test_a_native_plan_is_safe_to_call_from_several_threads():
    _, fn = _plan(lambda a, b: emit("matmul", [a, b], transpose_a=False, transpose_b=True),
                  ((8, 16), "float32"), ((4, 16), "float32"))
    def work(seed: int) -> int:
        r = np.random.default_rng(seed)
        wrong = 0
        for _ in range(200):
            a, b = r.standard_normal((8, 16)).astype(np.float32), r.standard_normal((4, 16)).astype(np.float32)
            wrong += not np.allclose(fn(a, b)[0], a @ b.T, rtol=1e-5, atol=1e-5)
        return wrong
    assert sum(in_threads(work, 6)) == 0
