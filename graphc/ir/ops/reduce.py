"""Reductions over axes (attrs: axis = sorted tuple of ints, keepdims = bool)."""
from __future__ import annotations

import numpy as np

from ..dtypes import bool_, float32, int32
from ..errors import ShapeError
from ..graph import Value, emit
from ..opdef import OpDef, register
from .common import normalize_axes


def _reduced_shape(shape, axis, keepdims):
    if keepdims:
        return tuple(1 if i in axis else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axis)


def _infer(result: str):
    def infer(types, attrs):
        (shape, d), = types
        axis = normalize_axes(attrs["axis"], len(shape))
        if result in ("max", "arg") and any(shape[a] == 0 for a in axis):
            raise ShapeError(f"cannot reduce an empty axis of shape {shape}")
        if result == "mean":
            d = d if d == np.float64 else float32
        elif result == "sum":
            d = int32 if d == bool_ else d
        elif result == "arg":
            d = int32
        return [(_reduced_shape(shape, axis, attrs["keepdims"]), d)]
    return infer


_UFUNC = {"sum": "add", "prod": "multiply", "max": "maximum", "min": "minimum"}


def _kernel(fn: str):
    def kernel(xp, x, axis, keepdims, out=None):
        if xp is np and x.size:  # the ufunc's own reduce skips np.sum's Python-level dispatch
            uf = getattr(np, _UFUNC[fn])
            if fn in ("max", "min"):
                return uf.reduce(x, axis=axis, keepdims=keepdims)
            return uf.reduce(x, axis=axis, keepdims=keepdims, dtype=_accum(x.dtype))
        dt = None if fn in ("max", "min") else _accum(x.dtype)
        return getattr(xp, fn)(x, axis=axis, keepdims=keepdims, **({"dtype": dt} if dt else {}))
    return kernel


def _accum(d):
    return np.dtype(np.int32) if d.kind == "b" else d


def _mean(xp, x, axis, keepdims, out=None):
    dt = x.dtype if x.dtype == np.float64 else np.dtype(np.float32)
    if xp is np and x.size:
        n = int(np.prod([x.shape[a] for a in axis], dtype=np.int64))
        return np.multiply(np.add.reduce(x, axis=axis, keepdims=keepdims, dtype=dt), dt.type(1.0 / n))
    return xp.mean(x, axis=axis, keepdims=keepdims, dtype=dt)


def _arg(fn: str):
    def kernel(xp, x, axis, keepdims, out=None):
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
        dy = emit("reshape", [dy], shape=_reduced_shape(x.shape, axis, True))
    return emit("broadcast_to", [dy], shape=x.shape)


def _sum_vjp(ins, outs, douts, attrs):
    x, = ins
    return [expand_to(douts[0], x, attrs["axis"], attrs["keepdims"])]


def _mean_vjp(ins, outs, douts, attrs):
    x, = ins
    n = int(np.prod([x.shape[a] for a in attrs["axis"]], dtype=np.int64))
    return [expand_to(douts[0] * (1.0 / max(n, 1)), x, attrs["axis"], attrs["keepdims"])]


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


register(OpDef("sum", "reduce", _infer("sum"), _kernel("sum"), _sum_vjp))
register(OpDef("mean", "reduce", _infer("mean"), _mean, _mean_vjp))
register(OpDef("max", "reduce", _infer("max"), _kernel("max"), _extreme_vjp))
register(OpDef("min", "reduce", _infer("max"), _kernel("min"), _extreme_vjp))
register(OpDef("prod", "reduce", _infer("sum"), _kernel("prod"), _prod_vjp))
register(OpDef("argmax", "reduce", _infer("arg"), _arg("argmax")))
register(OpDef("argmin", "reduce", _infer("arg"), _arg("argmin")))
