"""Reductions with axis and keepdims, and the composite statistics built from them."""
from __future__ import annotations

import builtins

from ..ir.dtypes import float_of
from ..ir.errors import ArgumentError, AxisError, GraphcTypeError, with_context
from ..ir.location import user_location
from ..ir.ops.common import normalize_axes
from ..tensors import Tensor, apply1, as_tensor, cast
from .elemwise import abs, exp, log, sqrt
from .shape import squeeze


def _axes(name: str, x: Tensor, axis) -> tuple[int, ...]:
    try:
        return normalize_axes(axis, x.ndim)
    except (AxisError, ArgumentError) as e:
        raise with_context(type(e)(f"{e} (shape {x.shape})"), name, user_location()) from None


def sum(inp, axis=None, keepdims: bool = False) -> Tensor:
    """Sum over axes (all when axis is None)."""
    return as_tensor(inp).sum(axis, keepdims)


def mean(inp, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over axes."""
    return as_tensor(inp).mean(axis, keepdims)


def max(inp, axis=None, keepdims: bool = False) -> Tensor:
    """Maximum over axes."""
    return as_tensor(inp).max(axis, keepdims)


def min(inp, axis=None, keepdims: bool = False) -> Tensor:
    """Minimum over axes."""
    return as_tensor(inp).min(axis, keepdims)


def prod(inp, axis=None, keepdims: bool = False) -> Tensor:
    """Product over axes."""
    return as_tensor(inp).prod(axis, keepdims)


def _arg(name: str, x, axis, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    if isinstance(axis, (list, tuple)):
        # As MegEngine: one axis after another, the last first; each step indexes the previous one's result.
        for a in reversed(_axes(name, x, axis)):
            x = apply1(name, [x], axis=(a,), keepdims=bool(keepdims))
        return x
    return apply1(name, [x], axis=_axes(name, x, axis), keepdims=bool(keepdims))


def argmax(inp, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the maximum (over the flattened tensor when axis is None), int32."""
    return _arg("argmax", inp, axis, keepdims)


def argmin(inp, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the minimum, int32."""
    return _arg("argmin", inp, axis, keepdims)


def var(inp, axis=None, keepdims: bool = False) -> Tensor:
    """Variance (population, ddof=0) over axes."""
    x = as_tensor(inp)
    x = cast(x, float_of(x.dtype))
    d = x - mean(x, axis, keepdims=True)
    return mean(d * d, axis, keepdims)


def std(inp, axis=None, keepdims: bool = False) -> Tensor:
    """Standard deviation (ddof=0) over axes."""
    return sqrt(var(inp, axis, keepdims))


def norm(inp, ord: float = None, axis=None, keepdims: bool = False) -> Tensor:
    """Vector p-norm over axes (default 2; inf and -inf take max/min of |x|; 0 counts non-zeros)."""
    x = as_tensor(inp)
    if axis is None and x.ndim > 1:
        raise GraphcTypeError(f"norm: axis is required unless the input is a vector, got shape {x.shape} "
                              f"(at {user_location()})")
    x = cast(x, float_of(x.dtype))
    p = 2 if ord is None else ord
    if p == 2:
        return sqrt(sum(x * x, axis, keepdims))
    if p == float("inf"):
        return max(abs(x), axis, keepdims)
    if p == -float("inf"):
        return min(abs(x), axis, keepdims)
    if p == 0:
        return sum(x != 0, axis, keepdims)
    if p == 1:
        return sum(abs(x), axis, keepdims)
    return sum(abs(x) ** float(p), axis, keepdims) ** (1.0 / p)


def logsumexp(inp, axis, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over axes, computed stably."""
    x = as_tensor(inp)
    x = cast(x, float_of(x.dtype))
    m = max(x, axis, keepdims=True).detach()
    r = log(sum(exp(x - m), axis, keepdims=True)) + m
    if keepdims:
        return r
    axes = _axes("logsumexp", x, axis)
    return squeeze(r, axes) if builtins.len(axes) else r
