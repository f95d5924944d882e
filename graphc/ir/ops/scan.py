"""Scans: cumsum along one axis (MegEngine's F.cumsum, inclusive)."""
from __future__ import annotations

import numpy as np

from .. import attrs as A
from ..dtypes import int32
from ..errors import ShapeError
from ..graph import emit
from ..opdef import OpDef, register


def _infer_cumsum(types, attrs):
    (shape, d), = types
    if attrs["axis"] >= len(shape):
        raise ShapeError(f"axis {attrs['axis']} does not fit a tensor of shape {shape}")
    return [(shape, int32 if d.kind == "b" else d)]


def _cumsum(xp, x, axis):
    return xp.cumsum(x, axis=axis, dtype=np.int32 if x.dtype.kind == "b" else x.dtype)


def _cumsum_vjp(ins, outs, douts, attrs):
    # Each input element reaches every later sum: the gradient is the cumulative sum taken from the end.
    axis = attrs["axis"]
    rev = (("slice", None, None, None),) * axis + (("slice", None, None, -1),)
    flipped = emit("getitem", [douts[0]], spec=rev)
    return [emit("getitem", [emit("cumsum", [flipped], axis=axis)], spec=rev)]


register(OpDef("cumsum", "scan", _infer_cumsum, _cumsum, _cumsum_vjp, attrs={"axis": A.AXIS}))
