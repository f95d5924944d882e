"""Ordering ops: sort (values and the permutation) and topk, both along one axis. As MegEngine: ascending
order keeps equal elements in their order, descending order is the ascending one reversed.

The gradient of the values is scattered back to where each came from; the indices have none.
"""
from __future__ import annotations

import numpy as np

from .. import attrs as A
from ..dtypes import int32
from ..errors import ShapeError
from ..graph import emit
from ..opdef import OpDef, register
from .common import zeros


def _order(xp, x, axis: int, descending: bool):
    """Indices sorting `x` along `axis` (a stable ascending sort, reversed for descending)."""
    idx = xp.argsort(x, axis=axis, kind="stable")
    return idx[(slice(None),) * axis + (slice(None, None, -1),)] if descending else idx


def _scatter_back(x, idx, dv, axis: int):
    """The gradient of values taken from `x` at `idx` along `axis`: dv added where each value came from."""
    return emit("scatter", [zeros(x.shape, dv.dtype), idx, dv], axis=axis, accumulate=True)


# ---- sort -----------------------------------------------------------------------------------------------

def _infer_sort(types, attrs):
    (shape, d), = types
    if attrs["axis"] >= max(len(shape), 1):
        raise ShapeError(f"axis {attrs['axis']} does not fit a tensor of shape {shape}")
    return [(shape, d), (shape, int32)]


def _sort(xp, x, axis, descending):
    if x.ndim == 0:
        return x.copy(), xp.zeros((), np.int32)
    idx = _order(xp, x, axis, descending)
    return xp.take_along_axis(x, idx, axis), idx.astype(np.int32)


def _sort_vjp(ins, outs, douts, attrs):
    x, = ins
    if x.ndim == 0:
        return [douts[0]]
    return [_scatter_back(x, outs[1], douts[0], attrs["axis"])]


register(OpDef("sort", "sort", _infer_sort, _sort, _sort_vjp, attrs={"axis": A.AXIS, "descending": A.BOOL}))


# ---- topk -----------------------------------------------------------------------------------------------
# The k smallest (or with descending the k largest) elements along the last axis and their indices;
# kth_only gives only the k-th; no_sort allows them in any order (graphc returns them sorted anyway).
# As MegEngine, a k beyond the axis gives the whole axis (kth_only needs the k-th to exist).

def _infer_topk(types, attrs):
    (shape, d), = types
    k = attrs["k"]
    if not shape or k < 1 or (attrs["kth_only"] and k > shape[-1]):
        raise ShapeError(f"k={k} does not fit a tensor of shape {shape} (needs 1 <= k"
                         f"{' <= the last axis' if attrs['kth_only'] else ''})")
    out = shape[:-1] if attrs["kth_only"] else shape[:-1] + (min(k, shape[-1]),)
    return [(out, d), (out, int32)]


def _topk(xp, x, k, descending, kth_only, no_sort):
    axis = x.ndim - 1
    order = _order(xp, x, axis, descending)
    idx = order[..., k - 1:k] if kth_only else order[..., :min(k, x.shape[-1])]
    vals = xp.take_along_axis(x, idx, axis)
    if kth_only:
        vals, idx = vals[..., 0], idx[..., 0]
    return vals, idx.astype(np.int32)


def _topk_vjp(ins, outs, douts, attrs):
    x, = ins
    idx, dv = outs[1], douts[0]
    if attrs["kth_only"]:
        idx = emit("reshape", [idx], shape=idx.shape + (1,))
        dv = emit("reshape", [dv], shape=dv.shape + (1,))
    return [_scatter_back(x, idx, dv, x.ndim - 1)]


register(OpDef("topk", "sort", _infer_topk, _topk, _topk_vjp,
               attrs={"k": A.COUNT, "descending": A.BOOL, "kth_only": A.BOOL, "no_sort": A.BOOL}))
