"""Indexing as functions: F.getitem(x, key) is x[key]; F.setitem returns the updated copy."""
from __future__ import annotations

from ..indexing import check_bounds
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
