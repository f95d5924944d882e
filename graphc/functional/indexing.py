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
            k = as_tensor(np.asarray(k) if isinstance(k, list) else k)
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
    for kind, k in items:
        if kind == "mask":
            if State.tracing is not None:
                raise TraceError("indexing with a boolean mask has a data-dependent shape and cannot be "
                                 f"traced; use F.where instead (at {user_location()})")
            for nz in np.nonzero(k.numpy()):
                spec.append(("array", len(arrays)))
                arrays.append(Tensor(nz.astype(np.int32), device=x.device))
        elif k is Ellipsis:
            spec.extend([("slice", None, None, None)] * (x.ndim - used))
        elif k is None:
            spec.append(("none",))
        elif isinstance(k, slice):
            spec.append(("slice", _index_int(k.start), _index_int(k.stop), _index_int(k.step)))
        elif isinstance(k, Tensor):
            if k.dtype.kind not in "iu":
                raise GraphcIndexError(f"getitem: index arrays must be integers, got {k.dtype} "
                                       f"(at {user_location()})")
            spec.append(("array", len(arrays)))
            arrays.append(cast(k, int32))
        elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            spec.append(("int", int(k)))
        else:
            raise GraphcIndexError(f"getitem: unsupported index {k!r} (at {user_location()})")
    return tuple(spec), arrays


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
