"""Indexing as functions: F.getitem(x, key) is x[key]; F.setitem returns the updated copy; F.cond_take."""
from __future__ import annotations

import numpy as np

from ..indexing import check_bounds
from ..ir.errors import ShapeError, TraceError
from ..ir.location import user_location
from ..state import State
from ..tensors import Tensor, _value_or_none, as_tensor


def getitem(x, key) -> Tensor:
    """x[key]."""
    return as_tensor(x)[key]


def setitem(x, key, value) -> Tensor:
    """A copy of x with x[key] replaced by value (the functional form of x[key] = value)."""
    return as_tensor(x)._with_item(key, value)


def check_index(op: str, idx: Tensor, size: int, axis: int, negative: bool = True) -> None:
    """Raise unless every entry of the integer tensor idx indexes an axis of length `size` (eager only)."""
    check_bounds(op, _value_or_none(idx), size, axis, negative)


def cond_take(mask, x) -> tuple[Tensor, Tensor]:
    """The elements of x where mask is true, and their int32 positions in the flattened x.

    The result's length depends on the mask's values, so it cannot be traced: inside a traced function it is
    a TraceError (use F.where, which keeps the shape)."""
    x, m = as_tensor(x), as_tensor(mask)
    if m.shape != x.shape:
        raise ShapeError(f"cond_take: mask of shape {m.shape} does not fit x of shape {x.shape} "
                         f"(at {user_location()})")
    flat = x.reshape(-1)
    positions = Tensor(np.flatnonzero(_host(m)).astype(np.int32), device=x.device)
    return flat[positions], positions


def _host(t: Tensor) -> np.ndarray:
    v = _value_or_none(t)
    if v is None or State.tracing is not None:
        raise TraceError("cond_take: its result's length depends on the mask's values, and a traced function "
                         f"has fixed shapes; use F.where (at {user_location()})")
    return v
