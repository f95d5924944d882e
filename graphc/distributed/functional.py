"""Collectives on Tensors (MegEngine's distributed.functional): differentiable, traced as graph nodes.

Every rank must call the same collectives in the same order with operands of the same shape and dtype (graphc
checks this the first time each call or compiled plan runs, and reports ranks that differ). Only the WORLD
group exists; `device` puts the result on another device.
"""
from __future__ import annotations

from ..ir.errors import AxisError, with_context
from ..ir.location import user_location
from ..ir.ops.common import normalize_axis
from ..tensors import Tensor, apply1, as_tensor
from .group import WORLD, Group, get_rank, group_size

__all__ = ["all_reduce_sum", "all_reduce_max", "all_reduce_min", "broadcast", "reduce_sum", "all_gather",
           "reduce_scatter_sum"]


def _apply(name: str, inp, group: Group | None, device, **attrs) -> Tensor:
    out = apply1(name, [as_tensor(inp)], **attrs, size=group_size(group, name))
    return out if device is None else out.to(device)


def _axis(name: str, x: Tensor, axis: int) -> int:
    try:
        return normalize_axis(axis, x.ndim)
    except AxisError as e:
        raise with_context(e, name, user_location()) from None


def all_reduce_sum(inp: Tensor, group: Group | None = WORLD, device=None) -> Tensor:
    """The elementwise sum of every rank's `inp` (same shape on every rank), on every rank."""
    return _apply("all_reduce_sum", inp, group, device)


def all_reduce_max(inp: Tensor, group: Group | None = WORLD, device=None) -> Tensor:
    """The elementwise maximum over the ranks; its gradient goes to the ranks holding the maximum."""
    return _apply("all_reduce_max", inp, group, device)


def all_reduce_min(inp: Tensor, group: Group | None = WORLD, device=None) -> Tensor:
    """The elementwise minimum over the ranks; its gradient goes to the ranks holding the minimum."""
    return _apply("all_reduce_min", inp, group, device)


def broadcast(inp: Tensor, group: Group | None = WORLD, device=None) -> Tensor:
    """Rank 0's `inp` on every rank (every rank passes a tensor of that shape and dtype)."""
    return _apply("broadcast", inp, group, device, root=0)


def reduce_sum(inp: Tensor, group: Group | None = WORLD, device=None) -> Tensor | None:
    """The sum over the ranks on rank 0; None on the others (as MegEngine)."""
    out = _apply("reduce_sum", inp, group, device, root=0)
    return out if get_rank() == 0 else None


def all_gather(inp: Tensor, group: Group | None = WORLD, device=None, axis: int = 0) -> Tensor:
    """Every rank's `inp` concatenated along `axis`, in rank order, on every rank."""
    x = as_tensor(inp)
    return _apply("all_gather", x, group, device, axis=_axis("all_gather", x, axis))


def reduce_scatter_sum(inp: Tensor, group: Group | None = WORLD, device=None, axis: int = 0) -> Tensor:
    """The sum over the ranks split along `axis` into one equal part per rank; rank r gets part r."""
    x = as_tensor(inp)
    return _apply("reduce_scatter_sum", x, group, device, axis=_axis("reduce_scatter_sum", x, axis))
