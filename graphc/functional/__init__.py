"""graphc.functional (F): MegEngine's functional API; MegEngine's submodules elemwise, loss, math and nn too."""
import importlib

from . import elemwise, loss, math, nn
from .creation import arange, copy, eye, full, full_like, linspace, ones, ones_like, zeros, zeros_like
from .elemwise import (
    abs,
    acos,
    acosh,
    add,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    ceil,
    clip,
    cos,
    cosh,
    div,
    equal,
    erf,
    exp,
    expm1,
    floor,
    floor_div,
    gelu,
    greater,
    greater_equal,
    hsigmoid,
    hswish,
    isinf,
    isnan,
    leaky_relu,
    less,
    less_equal,
    log,
    log1p,
    logaddexp,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logsigmoid,
    maximum,
    minimum,
    mod,
    mul,
    neg,
    not_equal,
    pow,
    relu,
    relu6,
    round,
    sigmoid,
    sign,
    silu,
    sin,
    sinh,
    softplus,
    sqrt,
    square,
    sub,
    tan,
    tanh,
    where,
)
from .indexing import cond_take, getitem, setitem
from .linalg import dot, linear, matmul
from .math import argsort, matinv, normalize, sort, topk
from .nn import dropout, embedding, indexing_one_hot, logsoftmax, one_hot, prelu, softmax
from .reduction import argmax, argmin, logsumexp, max, mean, min, norm, prod, std, sum, var
from .shape import (
    broadcast_to,
    concat,
    cumsum,
    diag,
    expand_dims,
    flatten,
    gather,
    meshgrid,
    pad,
    repeat,
    reshape,
    roll,
    scatter,
    split,
    squeeze,
    stack,
    swapaxes,
    tile,
    transpose,
)

__all__ = ["abs", "acos", "acosh", "add", "arange", "argmax", "argmin", "argsort", "asin", "asinh", "atan",
           "atan2", "atanh", "broadcast_to", "ceil", "clip", "concat", "cond_take", "copy", "cos", "cosh", "cumsum",
           "diag", "div", "dot", "dropout", "elemwise", "embedding", "equal", "erf", "exp", "expand_dims", "expm1",
           "eye", "flatten", "floor", "floor_div", "full", "full_like", "gather", "gelu", "getitem", "greater",
           "greater_equal", "hsigmoid", "hswish", "indexing_one_hot", "isinf", "isnan", "leaky_relu", "less",
           "less_equal", "linear", "linspace", "log", "log1p", "logaddexp", "logical_and", "logical_not",
           "logical_or", "logical_xor", "logsigmoid", "logsoftmax", "logsumexp", "loss", "math", "matinv",
           "matmul", "max", "maximum", "mean", "meshgrid", "min", "minimum", "mod", "mul", "neg", "nn", "norm",
           "normalize", "not_equal", "one_hot", "ones", "ones_like", "pad", "pow", "prelu", "prod", "relu",
           "relu6", "repeat", "reshape", "roll", "round", "scatter", "setitem", "sigmoid", "sign", "silu", "sin",
           "sinh", "softmax", "softplus", "sort", "split", "sqrt", "square", "squeeze", "stack", "std", "sub",
           "sum", "swapaxes", "tan", "tanh", "tile", "topk", "transpose", "var", "where", "zeros", "zeros_like"]


def __dir__() -> list[str]:   # tab completion shows the API, not the modules it is built from
    return __all__


def __getattr__(name: str) -> object:
    # F.distributed, as in MegEngine: graphc.distributed.functional, loaded on first use (it imports this package).
    if name == "distributed":
        return importlib.import_module("graphc.distributed.functional")
    raise AttributeError(f"module 'graphc.functional' has no attribute {name!r}")
