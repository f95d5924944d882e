"""Elementwise ops: one OpDef each, with a NumPy/CuPy kernel, a gradient rule and fusion pieces."""
from __future__ import annotations

import math

import numpy as np

from .. import attrs as A
from ..dtypes import bool_
from ..errors import DTypeError
from ..graph import Value, const, emit
from ..opdef import CExpr, OpDef, register
from .common import broadcast_shapes, require_float, same_dtype, sum_to, where


def _ufunc_kernel(name: str):
    def kernel(xp, *args, out=None):
        f = np_uf if xp is np else getattr(xp, name)
        return f(*args) if out is None else f(*args, out=out)
    np_uf = getattr(np, name)
    return kernel


def _check_kind(kind: str, d) -> None:
    """Operand dtype rules: float (floating only), num (no bool), bool (bool only); others take any."""
    if kind == "float":
        require_float(d)
    elif kind == "num" and d == bool_:
        raise DTypeError(f"does not take bool operands, got {d}")
    elif kind == "bool" and d != bool_:
        raise DTypeError(f"needs bool operands, got {d}")


def _infer_unary(kind: str):
    def infer(types, attrs):
        (shape, d), = types
        _check_kind(kind, d)
        return [(shape, bool_ if kind in ("test", "bool") else d)]
    return infer


def _infer_binary(kind: str):
    def infer(types, attrs):
        d = same_dtype(types)
        _check_kind(kind, d)
        shape = broadcast_shapes(types[0][0], types[1][0])
        return [(shape, bool_ if kind in ("cmp", "bool") else d)]
    return infer


def _as_cexpr(expr: str | CExpr | None) -> CExpr | None:
    return CExpr(expr) if isinstance(expr, str) else expr


def unary(name, ufunc, c_expr, vjp, kind="float", kernel=None, fusable=True):
    """Register an elementwise op of one operand."""
    register(OpDef(name, "elementwise", _infer_unary(kind), kernel or _ufunc_kernel(ufunc), vjp,
                   ufunc=ufunc if kernel is None else None, c_expr=_as_cexpr(c_expr), fusable=fusable))


def binary(name, ufunc, c_expr, vjp, kind="num", kernel=None, commutative=False):
    """Register an elementwise op of two operands (broadcasting)."""
    register(OpDef(name, "elementwise", _infer_binary(kind), kernel or _ufunc_kernel(ufunc), vjp, arity=2,
                   ufunc=ufunc if kernel is None else None, c_expr=_as_cexpr(c_expr), commutative=commutative,
                   fusable=True))


# Integer forms where C's integer arithmetic differs from the float template (the identity for rounding).
_SAME = "{0}"
_NOT_FLOAT = "0"


def _u(rule):
    """Adapt a rule (x, y, dy) -> dx to the vjp signature of a one-input op."""
    return lambda ins, outs, douts, attrs: [rule(ins[0], outs[0], douts[0])]


def _b(rule):
    """Adapt a rule (a, b, y, dy) -> (da, db) to a broadcasting two-input op."""
    def vjp(ins, outs, douts, attrs):
        a, b = ins
        da, db = rule(a, b, outs[0], douts[0])
        return [None if da is None else sum_to(da, a.shape), None if db is None else sum_to(db, b.shape)]
    return vjp


def _mask(cond: Value, dtype) -> Value:
    return emit("astype", [cond], dtype=str(dtype))


# ---- kernels that are not a single ufunc -------------------------------------------------------

def _sigmoid(xp, x, out=None):
    e = xp.exp(-xp.abs(x))
    r = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return r


def _softplus(xp, x, out=None):
    return (xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(x, 0)).astype(x.dtype, copy=False)


def _logsigmoid(xp, x, out=None):
    return (-_softplus(xp, -x)).astype(x.dtype, copy=False)


def _relu(xp, x, out=None):
    # As MegEngine (x <= 0 ? 0 : x): NaN passes through and relu(-0.0) is +0.0. maximum may return either
    # zero of a tie (that is up to the CPU's vector unit); adding +0.0 makes every zero +0.0.
    zero = x.dtype.type(0)
    r = xp.maximum(x, zero, out=out)
    if x.dtype.kind != "f":
        return r
    return xp.add(r, zero, out=r) if r.ndim else r + zero     # 0-d: a NumPy scalar, not an output buffer


def _leaky_relu(xp, x, out=None, slope=0.01):
    return xp.where(x > 0, x, x * x.dtype.type(slope)).astype(x.dtype, copy=False)


def _erf(xp, x, out=None):
    if xp is np:
        return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)
    from cupyx.scipy.special import erf
    return erf(x)


def _gelu(xp, x, out=None):
    return (x * 0.5 * (1.0 + _erf(xp, x * (1 / math.sqrt(2.0))))).astype(x.dtype, copy=False)


def _silu(xp, x, out=None):
    return (x * _sigmoid(xp, x)).astype(x.dtype, copy=False)


def _clip(xp, x, out=None, lower=None, upper=None):
    return xp.clip(x, lower, upper).astype(x.dtype, copy=False)


def _round(xp, x, out=None):
    # MegEngine rounds half away from zero (C's round), not NumPy's half to even. floor(|x| + 0.5)
    # is wrong for the float just below 0.5 (the sum rounds up to 1), so compare the fraction.
    t = xp.trunc(x)
    up = (xp.abs(x - t) >= 0.5).astype(x.dtype)
    return (t + xp.copysign(up, x)).astype(x.dtype, copy=False)    # copysign keeps round(-0.0) = -0.0


def _sign(xp, x, out=None):
    # As MegEngine (and the CUDA template): (x > 0) - (x < 0), so sign(nan) is 0, not nan.
    return ((x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)).astype(x.dtype, copy=False)


def _astype(xp, x, out=None, dtype="float32"):
    return x.astype(dtype)


def _where(xp, c, a, b, out=None):
    return xp.where(c, a, b)


def _identity(xp, x, out=None):
    return x


def _copy(xp, x, out=None):
    if out is None:
        return x.copy()
    xp.copyto(out, x)
    return out


def _hswish(xp, x, out=None):
    # As MegEngine and NumPy's reference: x * min(max(x + 3, 0), 6) / 6, in that order of rounding.
    return (x * xp.minimum(xp.maximum(x + x.dtype.type(3), 0), 6) / x.dtype.type(6)).astype(x.dtype, copy=False)


def _hsigmoid(xp, x, out=None):
    return (xp.minimum(xp.maximum(x + x.dtype.type(3), 0), 6) / x.dtype.type(6)).astype(x.dtype, copy=False)


# ---- one operand ---------------------------------------------------------------------------------

unary("neg", "negative", "(-{0})", _u(lambda x, y, dy: -dy), "num")
# As MegEngine: abs'(x) is 1 for x > 0 and -1 otherwise (so abs'(0) = -1).
unary("abs", "absolute", CExpr("fabs({0})", "(({0}) < 0 ? -({0}) : ({0}))"),
      _u(lambda x, y, dy: dy * where(emit("greater", [x, const(0, x.dtype)]), const(1, x.dtype),
                                     const(-1, x.dtype))), "num")
unary("exp", "exp", "exp({0})", _u(lambda x, y, dy: dy * y))
unary("log", "log", "log({0})", _u(lambda x, y, dy: dy / x))
unary("log1p", "log1p", "log1p({0})", _u(lambda x, y, dy: dy / (x + 1.0)))
unary("expm1", "expm1", "expm1({0})", _u(lambda x, y, dy: dy * (y + 1.0)))
unary("sqrt", "sqrt", "sqrt({0})", _u(lambda x, y, dy: dy / (y * 2.0)))
unary("square", "square", "({0}*{0})", _u(lambda x, y, dy: dy * x * 2.0), "num")
unary("sin", "sin", "sin({0})", _u(lambda x, y, dy: dy * emit("cos", [x])))
unary("cos", "cos", "cos({0})", _u(lambda x, y, dy: -(dy * emit("sin", [x]))))
unary("tan", "tan", "tan({0})", _u(lambda x, y, dy: dy * (y * y + 1.0)))
unary("tanh", "tanh", "tanh({0})", _u(lambda x, y, dy: dy * (1.0 - y * y)))
unary("sinh", "sinh", "sinh({0})", _u(lambda x, y, dy: dy * emit("cosh", [x])))
unary("cosh", "cosh", "cosh({0})", _u(lambda x, y, dy: dy * emit("sinh", [x])))
unary("asin", "arcsin", "asin({0})", _u(lambda x, y, dy: dy / emit("sqrt", [1.0 - x * x])))
unary("acos", "arccos", "acos({0})", _u(lambda x, y, dy: -(dy / emit("sqrt", [1.0 - x * x]))))
unary("atan", "arctan", "atan({0})", _u(lambda x, y, dy: dy / (x * x + 1.0)))
unary("asinh", "arcsinh", "asinh({0})", _u(lambda x, y, dy: dy / emit("sqrt", [x * x + 1.0])))
unary("acosh", "arccosh", "acosh({0})", _u(lambda x, y, dy: dy / emit("sqrt", [x * x - 1.0])))
unary("atanh", "arctanh", "atanh({0})", _u(lambda x, y, dy: dy / (1.0 - x * x)))
unary("erf", None, "erf({0})",
      _u(lambda x, y, dy: dy * emit("exp", [-(x * x)]) * (2.0 / math.sqrt(math.pi))), kernel=_erf)
# The stable forms: 1/(1+exp(-x)) underflows to 0 for x far below zero (log(sigmoid(-90)) became -inf).
_SIGMOID = "((({0}) >= 0 ? (T)1 : exp(-fabs({0}))) / (1 + exp(-fabs({0}))))"
unary("sigmoid", None, _SIGMOID, _u(lambda x, y, dy: dy * y * (1.0 - y)), kernel=_sigmoid)
unary("softplus", None, "(log1p(exp(-fabs({0})))+fmax({0},0))",
      _u(lambda x, y, dy: dy * emit("sigmoid", [x])), kernel=_softplus)
unary("logsigmoid", None, "(-(log1p(exp(-fabs({0})))+fmax(-{0},0)))",
      _u(lambda x, y, dy: dy * emit("sigmoid", [-x])), kernel=_logsigmoid)
unary("gelu", None, "({0}*0.5*(1+erf({0}*0.7071067811865476)))",
      _u(lambda x, y, dy: dy * (0.5 * (1.0 + emit("erf", [x * (1 / math.sqrt(2.0))]))
                                + x * emit("exp", [-(x * x) * 0.5]) * (1 / math.sqrt(2 * math.pi)))),
      kernel=_gelu)
unary("silu", None, f"(({{0}}) * {_SIGMOID})",
      _u(lambda x, y, dy: dy * (lambda s: s * (1.0 + x * (1.0 - s)))(emit("sigmoid", [x]))), kernel=_silu)
unary("relu", None, CExpr("(({0}) <= 0 ? (T)0 : ({0}))", "(({0}) > 0 ? ({0}) : 0)"),
      _u(lambda x, y, dy: dy * _mask(emit("greater", [x, const(0, x.dtype)]), x.dtype)), "num", kernel=_relu)
# hswish(x) = x * relu6(x + 3) / 6 and hsigmoid(x) = relu6(x + 3) / 6, MegEngine's hard activations.
# Comparisons rather than fmin/fmax keep NaN (as the NumPy kernel does).
unary("hswish", None, "({0} <= (T)-3 ? {0}*(T)0 : {0} >= (T)3 ? {0}*(T)6/(T)6 : {0}*({0}+(T)3)/(T)6)",
      _u(lambda x, y, dy: dy * _mask(emit("greater", [x, const(-3, x.dtype)]), x.dtype)
         * where(emit("less", [x, const(3, x.dtype)]), x * (1 / 3) + 0.5, const(1, x.dtype))), kernel=_hswish)
unary("hsigmoid", None, "({0} <= (T)-3 ? (T)0 : {0} >= (T)3 ? (T)1 : ({0}+(T)3)/(T)6)",
      _u(lambda x, y, dy: dy * _mask(emit("logical_and", [emit("greater", [x, const(-3, x.dtype)]),
                                                            emit("less", [x, const(3, x.dtype)])]), x.dtype)
         * (1 / 6)), kernel=_hsigmoid)
unary("sign", None, "(({0}>0)-({0}<0))", None, "num", kernel=_sign)
unary("floor", "floor", CExpr("floor({0})", _SAME), None)
unary("ceil", "ceil", CExpr("ceil({0})", _SAME), None)
unary("round", None, CExpr("round({0})", _SAME), None, kernel=_round)
unary("isnan", "isnan", CExpr("isnan({0})", _NOT_FLOAT), None, "test")
unary("isinf", "isinf", CExpr("isinf({0})", _NOT_FLOAT), None, "test")
unary("logical_not", "logical_not", "(!{0})", None, "bool")
# A copy (MegEngine's F.copy): values are immutable in the graph, so it is an identity the gradient passes.
unary("copy", None, "{0}", _u(lambda x, y, dy: dy), "any", kernel=_copy)
# A gradient barrier until autodiff has run; fusion leaves it alone so the barrier stays visible.
unary("stop_gradient", None, "{0}", None, "any", kernel=_identity, fusable=False)


def _leaky_vjp(ins, outs, douts, attrs):
    x, = ins
    slope = const(attrs["slope"], x.dtype)
    return [douts[0] * where(emit("greater_equal", [x, const(0, x.dtype)]), const(1, x.dtype), slope)]


register(OpDef("leaky_relu", "elementwise", _infer_unary("num"), _leaky_relu, _leaky_vjp,
               attrs={"slope": A.NUMBER}, c_expr=CExpr("({0}>0?{0}:{0}*(T)({slope}))"), fusable=True))


def _clip_vjp(ins, outs, douts, attrs):
    x, = ins
    keep = None
    for bound, cmp in ((attrs["lower"], "greater_equal"), (attrs["upper"], "less_equal")):
        if bound is not None:
            m = emit(cmp, [x, const(bound, x.dtype)])
            keep = m if keep is None else emit("logical_and", [keep, m])
    return [douts[0] if keep is None else douts[0] * _mask(keep, x.dtype)]


def _clip_template(attrs: dict) -> str:
    # Comparisons rather than fmin/fmax, so NaN passes through as in np.clip; a None bound is no test.
    e = "{0}"
    if attrs["lower"] is not None:
        e = f"(({e}) < (T)({{lower}}) ? (T)({{lower}}) : ({e}))"
    if attrs["upper"] is not None:
        e = f"(({e}) > (T)({{upper}}) ? (T)({{upper}}) : ({e}))"
    return e


register(OpDef("clip", "elementwise", _infer_unary("num"), _clip, _clip_vjp,
               attrs={"lower": A.OPT_NUMBER, "upper": A.OPT_NUMBER}, c_expr=CExpr(_clip_template), fusable=True))


def _infer_astype(types, attrs):
    (shape, d), = types
    return [(shape, np.dtype(attrs["dtype"]))]


def _astype_vjp(ins, outs, douts, attrs):
    x, = ins
    if x.dtype.kind != "f" or outs[0].dtype.kind != "f":
        return [None]
    return [emit("astype", [douts[0]], dtype=str(x.dtype))]


register(OpDef("astype", "elementwise", _infer_astype, _astype, _astype_vjp, attrs={"dtype": A.DTYPE},
               c_expr=CExpr("((T_OUT)({0}))"), fusable=True))

# ---- two operands --------------------------------------------------------------------------------

binary("add", "add", "({0}+{1})", _b(lambda a, b, y, dy: (dy, dy)), commutative=True)
binary("sub", "subtract", "({0}-{1})", _b(lambda a, b, y, dy: (dy, -dy)))
binary("mul", "multiply", "({0}*{1})", _b(lambda a, b, y, dy: (dy * b, dy * a)), commutative=True)
binary("div", "true_divide", "({0}/{1})", _b(lambda a, b, y, dy: (dy / b, -(dy * y / b))), "float")
# g_floordiv is NumPy's floor_divide (every C backend provides it): floor(a/b) rounds the inexact quotient
# (1 // 0.1 gave 10, not 9) and keeps inf // 2 infinite (NumPy: nan).
binary("floor_div", "floor_divide", CExpr(
    "g_floordiv({0},{1})", "(({0})/({1}) - ((({0})%({1}) != 0) && ((({0})%({1}) < 0) != (({1}) < 0))))"), None)
def _mod(xp, a, b, out=None):
    # As MegEngine: floats take C's fmod (the sign of a), integers Python's % (the sign of b).
    return xp.fmod(a, b) if a.dtype.kind == "f" else xp.remainder(a, b)


# As MegEngine: only the dividend is differentiated (d/da = 1); the divisor gets no gradient (None),
# though mathematically d/db = -trunc(a / b).
binary("mod", None, CExpr(
    "fmod({0},{1})", "(({0})%({1}) + ((({0})%({1}) != 0 && ((({0})%({1}) < 0) != (({1}) < 0))) ? ({1}) : 0))"),
    _b(lambda a, b, y, dy: (dy, None)), kernel=_mod)


def _pow_rule(a, b, y, dy):
    # As MegEngine: d/db = y * log(a) unmasked (nan for a < 0, nan or -inf at a = 0).
    da = dy * b * emit("pow", [a, b - 1.0])
    db = dy * y * emit("log", [a])
    return da, db


binary("pow", "power", CExpr("pow({0},{1})", "g_ipow<T>({0},{1})"), _b(_pow_rule))


def _minmax_rule(cmp):
    def rule(a, b, y, dy):
        # As MegEngine: on ties the whole gradient goes to the first operand.
        wa = _mask(emit(cmp, [a, b]), a.dtype)
        return dy * wa, dy * (1.0 - wa)
    return rule


# Comparisons rather than C's fmax/fmin, which drop NaN where NumPy propagates it.
binary("maximum", "maximum", CExpr("(({0}) < ({1}) || ({1}) != ({1}) ? ({1}) : ({0}))",
                                   "(({0}) > ({1}) ? ({0}) : ({1}))"),
       _b(_minmax_rule("greater_equal")), commutative=True)
binary("minimum", "minimum", CExpr("(({0}) > ({1}) || ({1}) != ({1}) ? ({1}) : ({0}))",
                                   "(({0}) < ({1}) ? ({0}) : ({1}))"),
       _b(_minmax_rule("less_equal")), commutative=True)
# log(exp(a) + exp(b)) without overflow; equal operands (infinities included) give a + log 2.
binary("logaddexp", "logaddexp",
       "(({0}) == ({1}) ? ({0}) + (T)0.6931471805599453 : (({0}) > ({1}) ? ({0}) : ({1})) "
       "+ log1p(exp(-fabs(({0}) - ({1})))))",
       _b(lambda a, b, y, dy: (dy * emit("exp", [a - y]), dy * emit("exp", [b - y]))), "float", commutative=True)
binary("atan2", "arctan2", "atan2({0},{1})",
       _b(lambda a, b, y, dy: (lambda r: (dy * b / r, -(dy * a / r)))(a * a + b * b)), "float")
for _name, _uf, _sym in (("equal", "equal", "=="), ("not_equal", "not_equal", "!="), ("less", "less", "<"),
                       ("less_equal", "less_equal", "<="), ("greater", "greater", ">"),
                       ("greater_equal", "greater_equal", ">=")):
    binary(_name, _uf, "({0}" + _sym + "{1})", None, "cmp", commutative=_name in ("equal", "not_equal"))
binary("logical_and", "logical_and", "({0}&&{1})", None, "bool", commutative=True)
binary("logical_or", "logical_or", "({0}||{1})", None, "bool", commutative=True)
binary("logical_xor", "logical_xor", "({0}!={1})", None, "bool", commutative=True)


# ---- three operands -----------------------------------------------------------------------------

def _infer_where(types, attrs):
    (cs, cd), (as_, ad), (bs, bd) = types
    if cd != bool_:
        raise DTypeError(f"condition must be bool, got {cd}")
    if ad != bd:
        raise DTypeError(f"branches have dtypes {ad} and {bd}")
    return [(broadcast_shapes(cs, as_, bs), ad)]


def _where_vjp(ins, outs, douts, attrs):
    c, a, b = ins
    dy = douts[0]
    z = const(0, dy.dtype)
    return [None, sum_to(where(c, dy, z), a.shape), sum_to(where(c, z, dy), b.shape)]


register(OpDef("where", "elementwise", _infer_where, _where, _where_vjp, arity=3, c_expr=CExpr("({0}?{1}:{2})"),
               fusable=True))
