"""Matrix products: matmul (batched, with transposes; defined with Tensor.__matmul__), dot, linear."""
from __future__ import annotations

from ..ir.dtypes import promote
from ..ir.errors import ShapeError
from ..ir.location import user_location
from ..tensors import Tensor, apply1, as_tensor, cast, matmul


def dot(inp1, inp2) -> Tensor:
    """Inner product of two vectors (a scalar tensor)."""
    a, b = as_tensor(inp1), as_tensor(inp2)
    if a.ndim > 1 or b.ndim > 1:
        raise ShapeError(f"dot: needs 1-d operands, got shapes {a.shape} and {b.shape} "
                         f"(at {user_location()})")
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    d = promote(a.dtype, b.dtype)
    return apply1("vdot", [cast(a, d), cast(b, d)])


def linear(inp, weight, bias=None) -> Tensor:
    """inp @ weight.T + bias, with weight of shape (out_features, in_features)."""
    out = matmul(inp, weight, transpose_b=True)
    return out if bias is None else out + bias
