"""graphc.functional (F): MegEngine's functional API."""
from . import nn
from .creation import arange, eye, full, full_like, linspace, ones, ones_like, zeros, zeros_like
from .elementwise import (abs, acos, add, asin, atan, atan2, ceil, clip, cos, cosh, div, equal, erf, exp, expm1,
                          floor, floor_div, gelu, greater, greater_equal, isinf, isnan, leaky_relu, less,
                          less_equal, log, log1p, logical_and, logical_not, logical_or, logical_xor, logsigmoid,
                          maximum, minimum, mod, mul, neg, not_equal, pow, relu, round, sigmoid, sign, silu, sin,
                          sinh, softplus, sqrt, square, sub, tan, tanh, where)
from .indexing import getitem, setitem
from .linalg import dot, linear, matmul
from .nn import dropout, embedding, logsoftmax, one_hot, softmax
from .reduction import argmax, argmin, logsumexp, max, mean, min, norm, prod, std, sum, var
from .shape import (broadcast_to, concat, expand_dims, flatten, gather, pad, repeat, reshape, roll, scatter,
                    split, squeeze, stack, tile, transpose)

__all__ = [n for n in dir() if not n.startswith("_")]
