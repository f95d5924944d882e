"""Ops that make data rather than transform it: one_hot, and random sources (never merged by CSE)."""
from __future__ import annotations

import numpy as np

from .. import attrs as A
from ..dtypes import float32, int32
from ..errors import DTypeError
from ..opdef import OpDef, register


def _infer_one_hot(types, attrs):
    (shape, d), = types
    if d.kind not in "iu":
        raise DTypeError(f"labels must be integers, got {d}")
    return [(shape + (attrs["num_classes"],), int32)]


def _one_hot(xp, x, num_classes):
    if xp is np and x.size and (x.min() < 0 or x.max() >= num_classes):
        bad = x[(x < 0) | (x >= num_classes)].flat[0]
        raise IndexError(f"label {bad} is out of range for {num_classes} classes")
    return (x[..., None] == xp.arange(num_classes, dtype=x.dtype)).astype(np.int32)


register(OpDef("one_hot", "nn", _infer_one_hot, _one_hot, attrs={"num_classes": A.COUNT}))


def _infer_uniform(types, attrs):
    return [(tuple(attrs["shape"]), float32)]


def _uniform(xp, shape):
    return xp.random.random_sample(shape).astype(np.float32)


register(OpDef("uniform", "random", _infer_uniform, _uniform, arity=0, attrs={"shape": A.SHAPE}, random=True))
