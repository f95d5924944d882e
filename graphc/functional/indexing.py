"""Tensor indexing: ints, slices, None, Ellipsis, integer arrays and boolean masks."""
from __future__ import annotations

import numpy as np

from ..dispatch import State, apply1, as_tensor, cast
from ..ir.dtypes import int32
from ..ir.errors import GraphcIndexError, TraceError
from ..ir.location import user_location
from ..tensor import Tensor


def _index_int(v) -> int | None:
    if v is None:
        return None
    if isinstance(v, Tensor):
        v = v.item()
    return int(v)


def _spec(x: Tensor, key) -> tuple[tuple, list[Tensor]]:
    """Translate a Python index into a getitem spec and its integer index tensors."""
    if not isinstance(key, tuple):
        key = (key,)
    items = []
    for k in key:
        if isinstance(k, (list, np.ndarray)) or (isinstance(k, Tensor) and k.ndim > 0):
            k = k if isinstance(k, Tensor) else Tensor(np.asarray(k), device=x.device)
            if k.dtype == np.bool_:
                items.append(("mask", k))
                continue
        elif isinstance(k, Tensor):
            k = k.item() if k.dtype != np.bool_ else k
        items.append(("item", k))
    used = sum(k.ndim if kind == "mask" else int(k is not None and k is not Ellipsis) for kind, k in items)
    if sum(1 for _, k in items if k is Ellipsis) > 1:
        raise GraphcIndexError(f"getitem: an index can only have one ellipsis (at {user_location()})")
    if used > x.ndim:
        raise GraphcIndexError(f"getitem: too many indices ({used}) for a tensor of shape {x.shape} "
                               f"(at {user_location()})")
    spec, arrays = [], []
    dim = 0   # the axis of x the next item indexes
    for kind, k in items:
        if kind == "mask":
            if State.tracing is not None:
                raise TraceError("indexing with a boolean mask has a data-dependent shape and cannot be "
                                 f"traced; use F.where instead (at {user_location()})")
            if k.shape != x.shape[dim:dim + k.ndim]:
                raise GraphcIndexError(f"getitem: a boolean mask of shape {k.shape} does not fit axes "
                                       f"{dim}..{dim + k.ndim - 1} of shape {x.shape} (at {user_location()})")
            for nz in np.nonzero(k.numpy()):
                spec.append(("array", len(arrays)))
                arrays.append(Tensor(nz.astype(np.int32), device=x.device))
            dim += k.ndim
        elif k is Ellipsis:
            spec.extend([("slice", None, None, None)] * (x.ndim - used))
            dim += x.ndim - used
        elif k is None:
            spec.append(("none",))
        elif isinstance(k, slice):
            spec.append(("slice", _index_int(k.start), _index_int(k.stop), _index_int(k.step)))
            dim += 1
        elif isinstance(k, Tensor):
            if k.dtype.kind not in "iu":
                raise GraphcIndexError(f"getitem: index arrays must be integers, got {k.dtype} "
                                       f"(at {user_location()})")
            check_index("getitem", k, x.shape[dim], dim)
            spec.append(("array", len(arrays)))
            arrays.append(cast(k, int32))
            dim += 1
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            spec.append(("int", int(k)))
            dim += 1
        else:
            raise GraphcIndexError(f"getitem: unsupported index {k!r} (at {user_location()})")
    return tuple(spec), arrays


def check_index(op: str, idx: Tensor, size: int, axis: int, negative: bool = True) -> None:
    """Raise unless every entry of the integer tensor idx indexes an axis of length `size`.

    Kernels do not check (a GPU one cannot raise), so eager code checks here; inside a symbolic trace
    the values are unknown and nothing is checked.
    """
    if idx._data is None or idx.size == 0:
        return
    a = idx.numpy()
    lo, hi = int(a.min()), int(a.max())
    low = -size if negative else 0
    if lo < low or hi >= size:
        bad = lo if lo < low else hi
        raise GraphcIndexError(f"{op}: index {bad} is out of bounds for axis {axis} with size {size} "
                               f"(at {user_location()})")


def getitem(x: Tensor, key) -> Tensor:
    """x[key]."""
    spec, arrays = _spec(x, key)
    if all(s == ("slice", None, None, None) for s in spec) and not arrays:
        return x
    return apply1("getitem", [x, *arrays], spec=spec)


def setitem(x: Tensor, key, value) -> Tensor:
    """A copy of x with x[key] replaced by value (the functional form of x[key] = value)."""
    spec, arrays = _spec(x, key)
    v = cast(as_tensor(value, like=x), x.dtype)
    if not arrays and all(s == ("slice", None, None, None) for s in spec):
        from .shape import broadcast_to
        if v.shape != x.shape:
            v = broadcast_to(v, x.shape)
        return v
    return apply1("setitem", [x, v, *arrays], spec=spec, accumulate=False)
