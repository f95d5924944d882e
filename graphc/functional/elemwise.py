"""Elementwise functions (F.add ... F.where) with MegEngine's dtype promotion; MegEngine's module of them is
`megengine.functional.elemwise`, whose names `__all__` lists."""
from __future__ import annotations

from ..ir.dtypes import bool_, float_of, promote, scalar_dtype
from ..ir.errors import ArgumentError
from ..ir.location import user_location
from ..tensors import Tensor, apply1, as_tensor, binary, cast

__all__ = ["abs", "acos", "acosh", "add", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "clip", "cos",
           "cosh", "div", "equal", "exp", "expm1", "floor", "floor_div", "greater", "greater_equal", "less",
           "less_equal", "log", "log1p", "logaddexp", "logical_and", "logical_not", "logical_or", "logical_xor",
           "maximum", "minimum", "mod", "mul", "neg", "not_equal", "pow", "round", "sin", "sinh", "sqrt",
           "square", "sub", "tan", "tanh"]


def add(x, y) -> Tensor:
    """x + y."""
    return binary("add", x, y)


def sub(x, y) -> Tensor:
    """x - y."""
    return binary("sub", x, y)


def mul(x, y) -> Tensor:
    """x * y."""
    return binary("mul", x, y)


def div(x, y) -> Tensor:
    """x / y (true division; integers give float32)."""
    return binary("div", x, y, float_result=True)


def floor_div(x, y) -> Tensor:
    """x // y."""
    return binary("floor_div", x, y)


def mod(x, y) -> Tensor:
    """x % y (the sign of y, as Python's %)."""
    return binary("mod", x, y)


def pow(x, y) -> Tensor:
    """x ** y; integer operands give float32, as in MegEngine."""
    return binary("pow", x, y, float_result=True)


def maximum(x, y) -> Tensor:
    """Elementwise maximum."""
    return binary("maximum", x, y)


def minimum(x, y) -> Tensor:
    """Elementwise minimum."""
    return binary("minimum", x, y)


def atan2(y, x) -> Tensor:
    """The angle of (x, y): atan(y / x) in the right quadrant."""
    return binary("atan2", y, x, float_result=True)


def logaddexp(x, y) -> Tensor:
    """log(exp(x) + exp(y)), computed without overflow."""
    return binary("logaddexp", x, y, float_result=True)


def _unary_float(name: str):
    def f(x) -> Tensor:
        x = as_tensor(x)
        return apply1(name, [cast(x, float_of(x.dtype))])
    f.__name__ = name
    f.__doc__ = f"Elementwise {name} (integers are computed in float32)."
    return f


def _unary(name: str):
    def f(x) -> Tensor:
        return apply1(name, [as_tensor(x)])
    f.__name__ = name
    f.__doc__ = f"Elementwise {name}."
    return f


exp, log, log1p, expm1, sqrt = map(_unary_float, ("exp", "log", "log1p", "expm1", "sqrt"))
sin, cos, tan, tanh, sinh, cosh = map(_unary_float, ("sin", "cos", "tan", "tanh", "sinh", "cosh"))
asin, acos, atan, erf = map(_unary_float, ("asin", "acos", "atan", "erf"))
asinh, acosh, atanh = map(_unary_float, ("asinh", "acosh", "atanh"))
hswish, hsigmoid = map(_unary_float, ("hswish", "hsigmoid"))
sigmoid, gelu, silu, softplus, logsigmoid = map(_unary_float, ("sigmoid", "gelu", "silu", "softplus",
                                                               "logsigmoid"))
isnan, isinf = map(_unary_float, ("isnan", "isinf"))
neg, abs, square, relu, sign = map(_unary, ("neg", "abs", "square", "relu", "sign"))


def _rounding(name: str):
    def f(x) -> Tensor:
        return as_tensor(x)._rounded(name)
    f.__name__ = name
    f.__doc__ = f"Elementwise {name} (integers are returned unchanged)."
    return f


floor, ceil, round = map(_rounding, ("floor", "ceil", "round"))


def leaky_relu(inp, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, else negative_slope * x."""
    return apply1("leaky_relu", [as_tensor(inp)], slope=float(negative_slope))


def relu6(x) -> Tensor:
    """min(max(x, 0), 6)."""
    return clip(x, 0, 6)


def clip(x, lower=None, upper=None) -> Tensor:
    """Clamp into [lower, upper]; either bound may be None; bounds may be tensors (broadcast)."""
    x = as_tensor(x)
    if lower is None and upper is None:
        raise ArgumentError(f"clip: at least one of lower and upper must be given (at {user_location()})")
    if isinstance(lower, Tensor) or isinstance(upper, Tensor):
        # Elementwise bounds: min(max(x, lower), upper); ties keep the gradient on x, as MegEngine.
        r = x if lower is None else maximum(x, lower)
        return r if upper is None else minimum(r, upper)
    bounds = [b for b in (lower, upper) if b is not None]
    d = promote(x.dtype, *(scalar_dtype(b, x.dtype) for b in bounds))
    lo = None if lower is None else float(lower)
    hi = None if upper is None else float(upper)
    return apply1("clip", [cast(x, d)], lower=lo, upper=hi)


def _compare(name: str):
    def f(x, y) -> Tensor:
        return binary(name, x, y)
    f.__name__ = name
    f.__doc__ = f"Elementwise {name}, a bool tensor."
    return f


equal, not_equal, less, less_equal, greater, greater_equal = map(
    _compare, ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"))


def _logical(name: str):
    def f(x, y) -> Tensor:
        return binary(name, cast(as_tensor(x), bool_), cast(as_tensor(y), bool_))
    f.__name__ = name
    f.__doc__ = f"Elementwise {name} of bool tensors."
    return f


logical_and, logical_or, logical_xor = map(_logical, ("logical_and", "logical_or", "logical_xor"))


def logical_not(x) -> Tensor:
    """Elementwise not of a bool tensor."""
    return apply1("logical_not", [cast(as_tensor(x), bool_)])


def where(mask, x, y) -> Tensor:
    """x where mask is true, else y."""
    mask = as_tensor(mask)
    if not isinstance(x, Tensor) and isinstance(y, Tensor):
        x = as_tensor(x, like=y)
    x = as_tensor(x)
    y = as_tensor(y, like=x)
    d = promote(x.dtype, y.dtype)
    return apply1("where", [cast(mask, bool_), cast(x, d), cast(y, d)])
