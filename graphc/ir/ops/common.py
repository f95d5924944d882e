"""Helpers shared by the op definitions: broadcasting, axes, and gradient plumbing."""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, AxisError, DTypeError, ShapeError
from ..graph import Shape, Value, const, emit
from ..symbols import assume


def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy broadcasting of shapes, or a ShapeError naming all of them.

    A symbolic size meeting another size other than 1 is assumed equal to it (a guard); meeting 1 it wins.
    """
    first = shapes[0]
    if len(shapes) == 2 and (shapes[1] == first or shapes[1] == ()):
        return first
    if all(s == first for s in shapes):
        return first
    nd = max(len(s) for s in shapes)
    out = []
    for i in range(nd):
        dims = list(dict.fromkeys(s[i - nd + len(s)] for s in shapes if i - nd + len(s) >= 0 and
                                  s[i - nd + len(s)] != 1))
        static = [d for d in dims if type(d) is int]
        if len(static) > 1:
            raise ShapeError("shapes " + " and ".join(str(tuple(s)) for s in shapes) + " cannot be broadcast")
        result = static[0] if static else (dims[0] if dims else 1)
        for d in dims:
            if d != result:
                assume("equal", d, result, "broadcasting " + " and ".join(str(tuple(s)) for s in shapes))
        out.append(result)
    return tuple(out)


def normalize_axis(axis: int, ndim: int) -> int:
    """A non-negative axis, or an AxisError naming the axis and the rank."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise AxisError(f"axis must be an int, got {axis!r}")
    if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise AxisError(f"axis {axis} is out of range for a tensor of rank {ndim}")
    return int(axis) % max(ndim, 1)


def normalize_axes(axis: object, ndim: int) -> tuple[int, ...]:
    """Sorted axes from None, an int or a sequence; the same axis twice is an error (as in MegEngine)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        axes = [normalize_axis(a, ndim) for a in axis]
        if len(set(axes)) != len(axes):
            raise ArgumentError(f"axis {tuple(axis)} names the same axis twice for a tensor of rank {ndim}")
        return tuple(sorted(axes))
    return (normalize_axis(axis, ndim),)


def same_dtype(types: list, op: str = "") -> np.dtype:
    """The common dtype of the inputs; the front end casts, so a mismatch is an internal error."""
    d = types[0][1]
    for _, e in types[1:]:
        if e != d:
            raise DTypeError(f"operands have dtypes {', '.join(str(t[1]) for t in types)}")
    return d


def require_float(d: np.dtype) -> None:
    """Raise unless `d` is a floating dtype."""
    if d.kind != "f":
        raise DTypeError(f"needs a floating-point operand, got {d}")


def sum_to(g: Value, shape: Shape) -> Value:
    """Sum a broadcast gradient back to `shape` (the reverse of broadcasting)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, d in enumerate(shape)
                                      if d == 1 and g.shape[i + lead] != 1)
    if axes:
        g = emit("sum", [g], axis=axes, keepdims=True)
    if g.shape != shape:
        g = emit("reshape", [g], shape=shape)
    return g


def add_at(xp, out, idx, vals) -> None:
    """out[idx] += vals, accumulating over repeated indices."""
    if hasattr(xp.add, "at"):      # NumPy, and CuPy >= 13
        xp.add.at(out, idx, vals)
    else:
        import cupyx
        cupyx.scatter_add(out, idx, vals)


def zeros(shape: Shape, dtype: np.dtype) -> Value:
    """A zero Value of this shape (a broadcast scalar constant)."""
    z = const(0, dtype)
    return z if shape == () else emit("broadcast_to", [z], shape=shape)


def where(cond: Value, a: Value, b: Value) -> Value:
    """Elementwise select."""
    return emit("where", [cond, a, b])
