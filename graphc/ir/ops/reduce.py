"""Reductions over axes (attrs: axis = sorted tuple of ints, keepdims = bool).

How each reduction combines elements is its OpDef's `reduction` (a ufunc, an identity, whether it
averages); the kernel, the result dtype and every backend's fused form derive from it.
"""
from __future__ import annotations

import math

import numpy as np

from .. import attrs as A
from ..dtypes import int32
from ..errors import ShapeError
from ..graph import Value, emit
from ..opdef import OpDef, Reduction, register
from ..symbols import prod
from .common import normalize_axes

AXES = {"axis": A.AXES, "keepdims": A.BOOL}


def reduced_shape(shape: tuple, axis: tuple[int, ...], keepdims: bool) -> tuple:
    """The shape of a reduction's result."""
    if keepdims:
        return tuple(1 if i in axis else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axis)


def _infer(red: Reduction | None, needs_elements: bool):
    def infer(types, attrs):
        (shape, d), = types
        axis = normalize_axes(attrs["axis"], len(shape))
        if needs_elements and any(shape[a] == 0 for a in axis):
            raise ShapeError(f"cannot reduce an empty axis of shape {shape}")
        out = red.accumulator(d) if red is not None else int32
        return [(reduced_shape(shape, axis, attrs["keepdims"]), out)]
    return infer


def _kernel(red: Reduction):
    def kernel(xp, x, axis, keepdims):
        dt = red.accumulator(x.dtype)
        if xp is np and x.size:  # the ufunc's own reduce skips np.sum's Python-level dispatch
            r = getattr(np, red.ufunc).reduce(x, axis=axis, keepdims=keepdims, dtype=dt)
        else:
            fn = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min"}[red.ufunc]
            typed = {"dtype": dt} if red.ufunc in ("add", "multiply") else {}   # xp.max takes no dtype
            r = getattr(xp, fn)(x, axis=axis, keepdims=keepdims, **typed)
        if red.mean:
            n = math.prod(x.shape[a] for a in axis)
            r = xp.multiply(r, dt.type(1.0 / n)) if n else xp.full_like(r, np.nan)
        return r
    return kernel


def _arg(fn: str):
    def kernel(xp, x, axis, keepdims):
        if len(axis) == x.ndim and x.ndim != 1:
            r = getattr(xp, fn)(x.reshape(-1))
            r = r.reshape((1,) * x.ndim) if keepdims else r
        else:
            r = getattr(xp, fn)(x, axis=axis[0], keepdims=keepdims)
        return xp.asarray(r, dtype=np.int32)
    return kernel


def expand_to(dy: Value, x: Value, axis: tuple[int, ...], keepdims: bool) -> Value:
    """Broadcast a reduction's gradient back to the operand's shape."""
    if not keepdims:
        dy = emit("reshape", [dy], shape=reduced_shape(x.shape, axis, True))
    return emit("broadcast_to", [dy], shape=x.shape)


def _sum_vjp(ins, outs, douts, attrs):
    x, = ins
    return [expand_to(douts[0], x, attrs["axis"], attrs["keepdims"])]


def _mean_vjp(ins, outs, douts, attrs):
    x, = ins
    dy = douts[0]
    n = prod(x.shape[a] for a in attrs["axis"])
    if type(n) is int:
        dy = dy * (1.0 / max(n, 1))
    else:   # a batch of N elements: the count is read from the operand at run time
        dy = dy / emit("count", [x], axis=attrs["axis"], dtype=str(dy.dtype))
    return [expand_to(dy, x, attrs["axis"], attrs["keepdims"])]


def _extreme_vjp(ins, outs, douts, attrs):
    # As MegEngine: every element equal to the extreme receives the full gradient.
    x, = ins
    ax, kd = attrs["axis"], attrs["keepdims"]
    mask = emit("astype", [emit("equal", [x, expand_to(outs[0], x, ax, kd)])], dtype=str(x.dtype))
    return [mask * expand_to(douts[0], x, ax, kd)]


def _prod_vjp(ins, outs, douts, attrs):
    x, = ins
    ax, kd = attrs["axis"], attrs["keepdims"]
    return [expand_to(douts[0] * outs[0], x, ax, kd) / x]


def _reduction(name: str, red: Reduction, vjp, needs_elements: bool = False) -> None:
    register(OpDef(name, "reduce", _infer(red, needs_elements), _kernel(red), vjp, attrs=AXES, reduction=red,
                   fusable=True))


_reduction("sum", Reduction("add", "zero"), _sum_vjp)
_reduction("mean", Reduction("add", "zero", mean=True), _mean_vjp)
_reduction("max", Reduction("maximum", "lowest"), _extreme_vjp, needs_elements=True)
_reduction("min", Reduction("minimum", "highest"), _extreme_vjp, needs_elements=True)
_reduction("prod", Reduction("multiply", "one"), _prod_vjp)
register(OpDef("argmax", "reduce", _infer(None, True), _arg("argmax"), attrs=AXES))
register(OpDef("argmin", "reduce", _infer(None, True), _arg("argmin"), attrs=AXES))


def _infer_count(types, attrs):
    (shape, _), = types
    normalize_axes(attrs["axis"], len(shape))
    return [((), np.dtype(attrs["dtype"]))]


def _count(xp, x, axis, dtype):
    return xp.asarray(int(np.prod([x.shape[a] for a in axis], dtype=np.int64)), dtype=dtype)


# The number of elements a reduction over `axis` combines, read from the operand's shape when the plan runs
# (a symbolic batch's mean divides by it); simplify turns it into a constant when the shape is static.
register(OpDef("count", "shape", _infer_count, _count, attrs={"axis": A.AXES, "dtype": A.DTYPE}))
