"""graphc.functional (F): MegEngine's functional API."""
import importlib

from . import nn
from .creation import arange, eye, full, full_like, linspace, ones, ones_like, zeros, zeros_like
from .elementwise import (
    abs,
    acos,
    add,
    asin,
    atan,
    atan2,
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
    isinf,
    isnan,
    leaky_relu,
    less,
    less_equal,
    log,
    log1p,
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
from .indexing import getitem, setitem
from .linalg import dot, linear, matmul
from .nn import dropout, embedding, logsoftmax, one_hot, softmax
from .reduction import argmax, argmin, logsumexp, max, mean, min, norm, prod, std, sum, var
from .shape import (
    broadcast_to,
    concat,
    expand_dims,
    flatten,
    gather,
    pad,
    repeat,
    reshape,
    roll,
    scatter,
    split,
    squeeze,
    stack,
    tile,
    transpose,
)

__all__ = ["abs", "acos", "add", "arange", "argmax", "argmin", "asin", "atan", "atan2", "broadcast_to",
           "ceil", "clip", "concat", "cos", "cosh", "creation", "div", "dot", "dropout", "elementwise",
           "embedding", "equal", "erf", "exp", "expand_dims", "expm1", "eye", "flatten", "floor",
           "floor_div", "full", "full_like", "gather", "gelu", "getitem", "greater", "greater_equal",
           "indexing", "isinf", "isnan", "leaky_relu", "less", "less_equal", "linalg", "linear", "linspace",
           "log", "log1p", "logical_and", "logical_not", "logical_or", "logical_xor", "logsigmoid",
           "logsoftmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "mod", "mul",
           "neg", "nn", "norm", "not_equal", "one_hot", "ones", "ones_like", "pad", "pow", "prod",
           "reduction", "relu", "repeat", "reshape", "roll", "round", "scatter", "setitem", "shape",
           "sigmoid", "sign", "silu", "sin", "sinh", "softmax", "softplus", "split", "sqrt", "square",
           "squeeze", "stack", "std", "sub", "sum", "tan", "tanh", "tile", "transpose", "var", "where",
           "zeros", "zeros_like"]


def __getattr__(name: str) -> object:
    # F.distributed, as in MegEngine: graphc.distributed.functional, loaded on first use (it imports this package).
    if name == "distributed":
        return importlib.import_module("graphc.distributed.functional")
    raise AttributeError(f"module 'graphc.functional' has no attribute {name!r}")
