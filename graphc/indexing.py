"""Python indexing (ints, slices, None, Ellipsis, integer arrays, boolean masks) as a getitem spec.

The translation works on anything with .shape, .dtype and .ndim (Tensors and NumPy arrays alike) and never
makes tensors: it returns the spec and its index operands, which the caller turns into tensors on its device.
Values are read through `value_of`, which gives None for a tensor of a symbolic trace.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .ir.errors import GraphcIndexError
from .ir.location import user_location

ValueOf = Callable[[object], "np.ndarray | None"]


def _is_array(k: object) -> bool:
    return hasattr(k, "dtype") and hasattr(k, "shape") and not isinstance(k, np.generic)


def _scalar(k: object, value_of: ValueOf) -> object:
    """A 0-d integer array becomes its int; other items pass unchanged."""
    if _is_array(k) and k.ndim == 0 and k.dtype.kind in "iu":
        return int(value_of(k))
    return k


def _items(key: object) -> list[tuple[str, object]]:
    """("mask" | "array" | "item", payload) per index entry; lists and tuples become integer arrays."""
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if isinstance(k, (list, tuple)):
            a = np.asarray(k)
            k = a.astype(np.int32) if a.dtype.kind not in "biu" else a   # [] is an empty integer index
        if _is_array(k) and k.dtype == np.bool_ and k.ndim > 0:
            out.append(("mask", k))
        elif _is_array(k) and k.ndim > 0:
            out.append(("array", k))
        else:
            out.append(("item", k))
    return out


def check_bounds(op: str, values: np.ndarray | None, size: int, axis: int, negative: bool = True) -> None:
    """Raise unless every index in `values` fits an axis of length `size` (nothing to check when None).

    Kernels do not check (a GPU one cannot raise), so eager code checks here."""
    if values is None or values.size == 0:
        return
    lo, hi = int(values.min()), int(values.max())
    low = -size if negative else 0
    if lo < low or hi >= size:
        bad = lo if lo < low else hi
        raise GraphcIndexError(f"{op}: index {bad} is out of bounds for axis {axis} with size {size} "
                               f"(at {user_location()})")


def translate(shape: tuple[int, ...], key: object, value_of: ValueOf, tracing: bool,
              static_of: ValueOf | None = None) -> tuple[tuple, list]:
    """The getitem spec for `x[key]` on a tensor of `shape`, and its index operands in spec order.

    An operand is an integer array-like of the caller's (kept, so a traced index stays symbolic) or an int32
    NumPy array (from a list or a boolean mask). Inside a trace a 0-d integer tensor is an operand too (NumPy
    indexes with a 0-d array as with its int), and boolean masks and slice bounds, which decide the result's
    shape, are read with `static_of` (the trace checks them before each replay)."""
    static_of = static_of or value_of
    items = [(kind, k) if kind != "item" or (tracing and _is_array(k) and k.ndim == 0 and k.dtype.kind in "iu")
             else (kind, _scalar(k, value_of)) for kind, k in _items(key)]
    items = [("array", k) if kind == "item" and _is_array(k) and k.ndim == 0 else (kind, k) for kind, k in items]
    ndim = len(shape)
    used = sum(k.ndim if kind == "mask" else int(k is not None and k is not Ellipsis) for kind, k in items)
    if sum(1 for _, k in items if k is Ellipsis) > 1:
        raise GraphcIndexError(f"getitem: an index can only have one ellipsis (at {user_location()})")
    if used > ndim:
        raise GraphcIndexError(f"getitem: too many indices ({used}) for a tensor of shape {shape} "
                               f"(at {user_location()})")
    spec, operands = [], []
    dim = 0   # the axis the next item indexes
    for kind, k in items:
        if kind == "mask":
            if tuple(k.shape) != shape[dim:dim + k.ndim]:
                raise GraphcIndexError(f"getitem: a boolean mask of shape {tuple(k.shape)} does not fit axes "
                                       f"{dim}..{dim + k.ndim - 1} of shape {shape} (at {user_location()})")
            for nz in np.nonzero(static_of(k)):
                spec.append(("array", len(operands)))
                operands.append(nz.astype(np.int32))
            dim += k.ndim
        elif kind == "array":
            if k.dtype.kind not in "iu":
                raise GraphcIndexError(f"getitem: index arrays must be integers, got {k.dtype} "
                                       f"(at {user_location()})")
            check_bounds("getitem", value_of(k), shape[dim], dim)
            spec.append(("array", len(operands)))
            operands.append(k)
            dim += 1
        elif k is Ellipsis:
            spec.extend([("slice", None, None, None)] * (ndim - used))
            dim += ndim - used
        elif k is None:
            spec.append(("none",))
        elif isinstance(k, slice):
            spec.append(("slice", *(None if b is None else _bound(b, static_of) for b in (k.start, k.stop, k.step))))
            dim += 1
        elif isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            spec.append(("int", int(k)))
            dim += 1
        else:
            raise GraphcIndexError(f"getitem: unsupported index {k!r} (at {user_location()})")
    return tuple(spec), operands


def _bound(b: object, static_of: ValueOf) -> int:
    """A slice bound as an int (a one-element tensor gives its value)."""
    return int(np.asarray(static_of(b)).reshape(-1)[0]) if _is_array(b) else int(b)


def is_full(spec: tuple) -> bool:
    """True when the spec selects everything (x[:], x[...])."""
    return all(s == ("slice", None, None, None) for s in spec)
