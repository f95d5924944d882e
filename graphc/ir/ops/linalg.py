"""Matrix multiplication (batched, broadcasting over leading axes, optional transposes)."""
from __future__ import annotations

from .. import attrs as A
from ..errors import DTypeError, ShapeError
from ..graph import emit
from ..opdef import OpDef, register
from ..symbols import same
from .common import broadcast_shapes, sum_to


def _infer(types, attrs):
    (a, ad), (b, bd) = types
    if ad != bd:
        raise DTypeError(f"operands have dtypes {ad} and {bd}")
    if ad.kind == "b":
        raise DTypeError("does not take bool operands")
    if len(a) < 2 or len(b) < 2:
        raise ShapeError(f"needs operands of rank >= 2, got shapes {a} and {b}")
    m, k = (a[-1], a[-2]) if attrs["transpose_a"] else (a[-2], a[-1])
    k2, n = (b[-1], b[-2]) if attrs["transpose_b"] else (b[-2], b[-1])
    try:
        same(k, k2, f"matrix product of {a} and {b}")
    except ShapeError:
        raise ShapeError(f"shapes {a} and {b} do not match for matrix product "
                         f"(transpose_a={attrs['transpose_a']}, transpose_b={attrs['transpose_b']})") from None
    try:
        batch = broadcast_shapes(a[:-2], b[:-2])
    except ShapeError:
        raise ShapeError(f"batch shapes of {a} and {b} cannot be broadcast") from None
    return [(batch + (m, n), ad)]


def _kernel(xp, a, b, transpose_a, transpose_b):
    if transpose_a:
        a = xp.swapaxes(a, -1, -2)
    if transpose_b:
        b = xp.swapaxes(b, -1, -2)
    return xp.matmul(a, b)


def _mm(x, y, ta=False, tb=False):
    return emit("matmul", [x, y], transpose_a=ta, transpose_b=tb)


def _vjp(ins, outs, douts, attrs):
    a, b = ins
    dy = douts[0]
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    if ta:
        da = _mm(b, dy, True, True) if tb else _mm(b, dy, False, True)
    else:
        da = _mm(dy, b, False, False) if tb else _mm(dy, b, False, True)
    if tb:
        db = _mm(dy, a, True, True) if ta else _mm(dy, a, True, False)
    else:
        db = _mm(a, dy, False, False) if ta else _mm(a, dy, True, False)
    return [sum_to(da, a.shape), sum_to(db, b.shape)]


register(OpDef("matmul", "linalg", _infer, _kernel, _vjp, arity=2,
               attrs={"transpose_a": A.BOOL, "transpose_b": A.BOOL}))


def _infer_vdot(types, attrs):
    (a, ad), (b, bd) = types
    if ad != bd:
        raise DTypeError(f"operands have dtypes {ad} and {bd}")
    if len(a) != 1 or len(b) != 1:
        raise ShapeError(f"needs two vectors of the same length, got shapes {a} and {b}")
    try:
        same(a[0], b[0], f"inner product of {a} and {b}")
    except ShapeError:
        raise ShapeError(f"needs two vectors of the same length, got shapes {a} and {b}") from None
    return [((), ad)]


def _vdot_vjp(ins, outs, douts, attrs):
    a, b = ins
    dy = douts[0]
    return [dy * b, dy * a]


register(OpDef("vdot", "linalg", _infer_vdot, lambda xp, a, b: xp.dot(a, b), _vdot_vjp, arity=2,
               commutative=True))


def _infer_matinv(types, attrs):
    (shape, d), = types
    if d.kind != "f":
        raise DTypeError(f"needs a floating-point operand, got {d}")
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"needs square matrices (shape (..., n, n)), got shape {shape}")
    return [(shape, d)]


def _matinv_vjp(ins, outs, douts, attrs):
    # d(A^-1) = -A^-1 dA A^-1, so dA = -(A^-T) dY (A^-T).
    y = outs[0]
    return [-_mm(_mm(y, douts[0], True, False), y, False, True)]


register(OpDef("matinv", "linalg", _infer_matinv, lambda xp, x: xp.linalg.inv(x), _matinv_vjp))
