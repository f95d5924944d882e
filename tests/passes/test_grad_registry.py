"""Registry-driven gradient checks: every differentiable op's vjp against central differences (float64).

Each case builds a small Graph with the op, reduces its output with a random weighting to a scalar,
derives the gradient with passes.autodiff.grad, evaluates it with graphc.ir.evaluate and compares with
central differences of the forward graph. Sample points stay away from kinks and discontinuities.
"""
from __future__ import annotations

import numpy as np
import pytest
from op_cases import CASES, DIFFERENTIABLE, Case, forward_graph, rng

import graphc.functional as F
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.ir import REGISTRY, Graph, building, emit, verify
from graphc.ir.interpret import evaluate
from graphc.passes.autodiff import grad


def test_every_differentiable_op_has_a_case():
    covered = {c.op for c in CASES}
    missing = [name for name in DIFFERENTIABLE if name not in covered]
    assert not missing, f"differentiable ops without a gradient-check case: {missing}"
    unknown = sorted(covered - set(DIFFERENTIABLE))
    assert not unknown, f"cases for ops that are not differentiable registry entries: {unknown}"


def test_binary_ops_have_broadcasting_cases():
    for op in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "mod", "where"):
        assert any(len({np.shape(a) for a in c.inputs if a.dtype.kind == "f"}) > 1
                   for c in CASES if c.op == op), op


# ---- the check ---------------------------------------------------------------------------------------------

def _scalar(g: Graph, nodes: int, feeds: dict, v) -> float:
    view = Graph()
    view.nodes, view.consts = g.nodes[:nodes], g.consts
    return float(evaluate(view, feeds)[v])


def _numeric(g, nodes, ins, arrays, v, wrt, h):
    """Central differences of scalar v with respect to input `wrt`."""
    base = dict(zip(ins, arrays, strict=True))
    x = arrays[wrt]
    out = np.zeros(x.shape)
    for j in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[j] += h
        lo[j] -= h
        f_hi = _scalar(g, nodes, {**base, ins[wrt]: hi}, v)
        f_lo = _scalar(g, nodes, {**base, ins[wrt]: lo}, v)
        out[j] = (f_hi - f_lo) / (2 * h)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vjp_matches_finite_differences(case: Case):
    g, ins, _, s = forward_graph(case)
    n_fwd = len(g.nodes)
    wrt = [i for i, a in enumerate(case.inputs) if a.dtype.kind == "f"]
    one = g.add_const(np.ones((), s.dtype))
    grads = grad(g, [s], [one], [ins[i] for i in wrt])
    verify(g)
    env = evaluate(g, dict(zip(ins, case.inputs, strict=True)))
    for i, gv in zip(wrt, grads, strict=True):
        if i in case.no_grad:
            assert gv is None, f"{case.id}: input {i} should get no gradient"
            continue
        assert gv is not None, f"{case.id}: no gradient for input {i}"
        assert gv.shape == ins[i].shape and gv.dtype == ins[i].dtype
        analytic = np.asarray(env[gv], dtype=np.float64)
        numeric = _numeric(g, n_fwd, ins, case.inputs, s, i, case.h)
        np.testing.assert_allclose(analytic, numeric, rtol=case.tol, atol=case.tol,
                                   err_msg=f"{case.id}: gradient of input {i}")
    assert all(n.role == "gradient" for n in g.nodes[n_fwd:])


# ---- second order ------------------------------------------------------------------------------------------

SECOND_ORDER = [c for c in CASES if c.id in {
    "exp", "log", "sin", "tanh", "sigmoid", "softplus", "gelu", "silu", "sqrt", "atan", "erf",
    "mul-(2, 3)x(3,)", "div-(2, 3)x(2, 3)", "pow-(2, 1)x(1, 3)", "atan2-(2, 3)x(2, 3)",
    "matmul-ta0tb0", "matmul-batch-bcast", "prod-(1,)", "mean-(0, 2)k", "max-(2,)k",
    "getitem-array-dups", "gather", "concat", "where-broadcast", "vdot",
}]


def test_second_order_cases_exist():
    assert len(SECOND_ORDER) == 25


@pytest.mark.parametrize("case", SECOND_ORDER, ids=[c.id for c in SECOND_ORDER])
def test_second_order_matches_finite_differences(case: Case):
    g, ins, _, s = forward_graph(case)
    wrt = [i for i, a in enumerate(case.inputs) if a.dtype.kind == "f"]
    one = g.add_const(np.ones((), s.dtype))
    first = grad(g, [s], [one], [ins[i] for i in wrt])
    # s2 = sum_i <first_i, r_i>: differentiate the gradient graph again.
    with building(g):
        terms = []
        for gv in first:
            r = g.add_const(rng.uniform(0.5, 1.5, gv.shape))
            terms.append(emit("sum", [emit("mul", [gv, r])], axis=tuple(range(gv.ndim)), keepdims=False))
        s2 = terms[0]
        for t in terms[1:]:
            s2 = emit("add", [s2, t])
    n_first = len(g.nodes)
    second = grad(g, [s2], [one], [ins[i] for i in wrt])
    verify(g)
    env = evaluate(g, dict(zip(ins, case.inputs, strict=True)))
    for i, gv in zip(wrt, second, strict=True):
        numeric = _numeric(g, n_first, ins, case.inputs, s2, i, 1e-5)
        if gv is None:   # the first gradient does not depend on this input (e.g. linear in it)
            np.testing.assert_allclose(numeric, 0, atol=1e-6)
            continue
        np.testing.assert_allclose(np.asarray(env[gv], np.float64), numeric, rtol=1e-4, atol=1e-5,
                                   err_msg=f"{case.id}: second derivative of input {i}")


# ---- non-differentiable ops and multiple uses --------------------------------------------------------------

def test_nondifferentiable_ops_have_no_vjp():
    for name in ("floor", "ceil", "round", "sign", "argmax", "argmin", "equal", "less", "isnan",
                 "logical_and", "one_hot", "floor_div"):
        assert REGISTRY[name].vjp is None, name


def test_astype_to_int_cuts_the_gradient():
    g = Graph()
    x = g.add_input((3,), np.dtype(np.float64))
    with building(g):
        y = emit("astype", [emit("astype", [x], dtype="int32")], dtype="float64")
        s = emit("sum", [y], axis=(0,), keepdims=False)
    one = g.add_const(np.ones((), np.float64))
    assert grad(g, [s], [one], [x]) == [None]


def test_gradients_sum_over_uses_and_unreached_is_none():
    g = Graph()
    x = g.add_input((3,), np.dtype(np.float64))
    z = g.add_input((3,), np.dtype(np.float64))
    with building(g):
        y = x * x + emit("sin", [x]) * x          # x used four times
        s = emit("sum", [y], axis=(0,), keepdims=False)
    one = g.add_const(np.ones((), np.float64))
    gx, gz = grad(g, [s], [one], [x, z])
    assert gz is None
    xv = np.array([0.3, -1.2, 2.0])
    env = evaluate(g, {x: xv, z: np.zeros(3)})
    np.testing.assert_allclose(env[gx], 2 * xv + np.cos(xv) * xv + np.sin(xv), rtol=1e-12)


# ---- grad of grad through the front end --------------------------------------------------------------------

def test_nested_grad_managers():
    # d/dx of sum(x**3) is 3x**2; differentiating <3x**2, c> again gives 6x*c. MegEngine prints
    # "first Tensor([ 3. 12. 27.])" and "second Tensor([   6.  120. 1800.])" for this program (venv).
    x = Parameter([1., 2., 3.])
    gm2 = GradManager().attach([x])
    gm1 = GradManager().attach([x])
    with gm2:
        with gm1:
            y = F.sum(x ** 3)
            gm1.backward(y)
        g = x.grad
        assert g.tolist() == [3., 12., 27.]
        x.grad = None
        gm2.backward(F.sum(g * Tensor([1., 10., 100.])))
    np.testing.assert_allclose(x.grad.numpy(), [6., 120., 1800.], rtol=1e-6)


def test_nested_grad_managers_mixed_function():
    # f = sum(sin(x) * w); df/dx = cos(x) * w; d/dx <df/dx, 1> = -sin(x) * w, d/dw = cos(x).
    xv = np.array([0.5, -1.0], np.float32)
    wv = np.array([2.0, 3.0], np.float32)
    x, w = Parameter(xv), Parameter(wv)
    outer = GradManager().attach([x, w])
    inner = GradManager().attach([x])
    with outer:
        with inner:
            inner.backward(F.sum(F.sin(x) * w))
        gx = x.grad
        x.grad = None
        outer.backward(F.sum(gx))
    np.testing.assert_allclose(gx.numpy(), np.cos(xv) * wv, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(xv) * wv, rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), np.cos(xv), rtol=1e-6)
