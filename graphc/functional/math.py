"""Sorting, top-k, normalization and matrix inverse; with the reductions, MegEngine's
megengine.functional.math."""
from __future__ import annotations

from ..ir.errors import AxisError, with_context
from ..ir.location import user_location
from ..ir.ops.common import normalize_axis
from ..tensors import Tensor, apply, apply1, as_tensor, cast
from .elemwise import clip, isinf, isnan, sign  # noqa: F401  (F.math holds them in MegEngine)
from .linalg import dot, matmul  # noqa: F401
from .reduction import argmax, argmin, max, mean, min, norm, prod, std, sum, var  # noqa: F401

__all__ = ["argmax", "argmin", "argsort", "dot", "isinf", "isnan", "matinv", "matmul", "max", "mean", "min",
           "norm", "normalize", "prod", "sign", "sort", "std", "sum", "topk", "var"]


def _axis(op: str, x: Tensor, axis: int) -> int:
    try:
        return normalize_axis(axis, x.ndim)
    except AxisError as e:
        raise with_context(AxisError(f"{e} (shape {x.shape})"), op, user_location()) from None


def sort(inp, descending: bool = False, axis: int = -1) -> tuple[Tensor, Tensor]:
    """The values sorted along axis (the last by default) and the int32 indices they came from. As MegEngine:
    ascending keeps equal values in their order, descending is the ascending order reversed."""
    x = as_tensor(inp)
    vals, idx = apply("sort", [x], {"axis": _axis("sort", x, axis) if x.ndim else 0,
                                    "descending": bool(descending)})
    return vals, idx


def argsort(inp, descending: bool = False) -> Tensor:
    """The int32 indices that sort the last axis."""
    return sort(inp, descending)[1]


def topk(inp, k: int, descending: bool = True, kth_only: bool = False, no_sort: bool = False) \
        -> tuple[Tensor, Tensor]:
    """The k largest (descending=True, the default) or smallest values along the last axis and their int32
    indices; kth_only gives only the k-th of them. graphc returns them sorted even with no_sort."""
    x = as_tensor(inp)
    vals, idx = apply("topk", [x], {"k": int(k), "descending": bool(descending), "kth_only": bool(kth_only),
                                    "no_sort": bool(no_sort)})
    return vals, idx


def normalize(inp, ord: float = None, axis: int = None, eps: float = 1e-12) -> Tensor:
    """inp divided by its p-norm over axis (all elements of a vector when None), at least eps."""
    x = as_tensor(inp)
    return x / clip(norm(x, ord, axis, keepdims=axis is not None), lower=eps)


def matinv(inp) -> Tensor:
    """The inverse of each square matrix in the last two axes."""
    x = as_tensor(inp)
    return apply1("matinv", [cast(x, x.dtype if x.dtype.kind == "f" else "float32")])
