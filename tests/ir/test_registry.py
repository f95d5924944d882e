"""Every OpDef is complete and consistent: its attribute schema is what its kernel takes, the fusion pieces
exist where fusion needs them, and reductions say how they combine."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from graphc.ir import REGISTRY

OPS = sorted(REGISTRY)


def _kernel_keywords(op) -> set[str] | None:
    params = list(inspect.signature(op.kernel).parameters.values())[1:]   # after xp
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        named = [p for p in params if p.kind is p.KEYWORD_ONLY]
    else:
        named = params[op.arity or 0:]
    return {p.name for p in named if p.name != "out"}


@pytest.mark.parametrize("name", OPS)
def test_attribute_schema_is_what_the_kernel_takes(name):
    op = REGISTRY[name]
    assert _kernel_keywords(op) == set(op.attrs)


@pytest.mark.parametrize("name", [n for n in OPS if REGISTRY[n].elementwise])
def test_elementwise_ops_have_their_fusion_pieces(name):
    op = REGISTRY[name]
    assert op.c_expr is not None, "generated C and CUDA kernels need an expression"
    assert op.arity in (1, 2, 3)
    template = op.c_expr.template(False, {k: 1.0 for k in op.attrs})
    assert all(f"{{{i}}}" in template for i in range(op.arity))
    assert op.fusable or name == "stop_gradient"


@pytest.mark.parametrize("name", [n for n in OPS if REGISTRY[n].reduction is not None])
def test_reductions_say_how_they_combine(name):
    op = REGISTRY[name]
    red = op.reduction
    assert op.family == "reduce" and op.fusable and set(op.attrs) == {"axis", "keepdims"}
    x = np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], np.float32)
    want = op.kernel(np, x, axis=(1,), keepdims=False)
    acc = np.full(2, red.identity_value(red.accumulator(x.dtype)), red.accumulator(x.dtype))
    for col in x.T:                                    # the combination fused kernels perform
        acc = getattr(np, red.ufunc)(acc, col)
    np.testing.assert_allclose(acc / 3 if red.mean else acc, want, rtol=1e-6)


def test_commutative_ops_are_binary_and_commute():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    for name in OPS:
        op = REGISTRY[name]
        if not op.commutative:
            continue
        assert op.arity == 2, name
        a, b = (x > 0, y > 0) if name.startswith("logical") else (x, y)
        np.testing.assert_array_equal(op.kernel(np, a, b), op.kernel(np, b, a))
