"""Matrix products: matmul (batched, with transposes), dot, linear."""
from __future__ import annotations

from ..dispatch import apply1, as_tensor, cast
from ..ir.dtypes import promote
from ..ir.errors import ShapeError
from ..ir.location import user_location
from ..tensor import Tensor
from .shape import reshape


def matmul(inp1, inp2, transpose_a: bool = False, transpose_b: bool = False) -> Tensor:
    """Matrix product; 1-d operands are treated as a row or column vector and squeezed after."""
    a, b = as_tensor(inp1), as_tensor(inp2)
    d = promote(a.dtype, b.dtype)
    a, b = cast(a, d), cast(b, d)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must not be scalars, got shapes {a.shape} and {b.shape} "
                         f"(at {user_location()})")
    a1, b1 = a.ndim == 1, b.ndim == 1
    shapes = (a.shape, b.shape)
    if a1:
        a = reshape(a, (1, -1))
    if b1:
        b = reshape(b, (-1, 1))
    try:
        out = apply1("matmul", [a, b], transpose_a=bool(transpose_a and not a1),
                     transpose_b=bool(transpose_b and not b1))
    except ShapeError:
        if not (a1 or b1):
            raise
        # Name the user's shapes, not those of the vectors made 2-d above.
        raise ShapeError(f"matmul: shapes {shapes[0]} and {shapes[1]} do not match for matrix product "
                         f"(at {user_location()})") from None
    if a1 or b1:
        shape = out.shape[:-2] + (() if a1 else out.shape[-2:-1]) + (() if b1 else out.shape[-1:])
        out = reshape(out, shape)
    return out


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
