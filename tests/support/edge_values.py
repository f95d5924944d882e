"""Edge values for every elementwise op with a C form: large, tiny (subnormal), negative zero, infinities,
NaN and ordinary numbers, as operands of one op (binary ops: every pair), and the comparison of a backend's
results with eager graphc's (NumPy): NaN where NaN, the same infinities, the same sign of zero, and
finite results within a few units in the last place (subnormal results within a few of the smallest)."""
from __future__ import annotations

import itertools

import numpy as np
from fused_builders import fused_node

from graphc.eager import run_eager
from graphc.ir import REGISTRY, OpNode, emit

F32, F64, BOOL = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.bool_)
ULPS = 8       # vector math libraries (glibc's libmvec, NumPy's own SIMD loops) are within 4 ulp


def edge_values(dtype: np.dtype) -> np.ndarray:
    """The edge values of one float dtype."""
    big, tiny = (1e30, 1e-40) if dtype == F32 else (1e300, 1e-310)
    vals = [0.0, -0.0, tiny, -tiny, 1.0, -1.0, 0.5, -0.5, 1.5, -2.5, 3.0, 0.1, 10.0, 90.0, -90.0, big, -big,
            np.inf, -np.inf, np.nan]
    return np.array(vals, dtype)


# Ops whose operands are bools, and attributes for ops that need them.
BOOL_OPERANDS = {"logical_not", "logical_and", "logical_or", "logical_xor"}
ATTRS = {"leaky_relu": {"slope": 0.1}, "clip": {"lower": -0.5, "upper": 0.75}}


def ops() -> list[str]:
    """Every elementwise op with a C expression that a fused group may hold."""
    return sorted(n for n, op in REGISTRY.items() if op.elementwise and op.c_expr is not None and op.fusable)


def operands(name: str, dtype: np.dtype) -> list[np.ndarray]:
    """Arrays covering the op's operand combinations: every value, or every pair of values."""
    op = REGISTRY[name]
    vals = np.array([False, True]) if name in BOOL_OPERANDS else edge_values(dtype)
    if name == "where":
        pairs = list(itertools.product(vals, vals))
        cond = np.resize(np.array([True, False, False]), len(pairs))
        return [cond, np.array([p[0] for p in pairs], dtype), np.array([p[1] for p in pairs], dtype)]
    if op.arity == 1:
        return [vals]
    pairs = list(itertools.product(vals, vals))
    return [np.array([p[0] for p in pairs], vals.dtype), np.array([p[1] for p in pairs], vals.dtype)]


def cases() -> list[tuple[str, np.dtype, dict]]:
    """(op, float dtype, attrs) for every op and both float dtypes (astype: to the same dtype and to bool)."""
    out = []
    for name in ops():
        for dt in (F32, F64):
            if name == "astype":
                out += [(name, dt, {"dtype": str(dt)}), (name, dt, {"dtype": "bool"})]
            else:
                out.append((name, dt, ATTRS.get(name, {})))
    return out


def case_id(name: str, dtype: np.dtype, attrs: dict) -> str:
    """A test id: op, dtype and the attributes that tell cases apart."""
    return "-".join([name, str(dtype), *(f"{k}={v}" for k, v in attrs.items() if name == "astype")])


def node_for(name: str, arrays: list[np.ndarray], attrs: dict) -> OpNode:
    """A fused node holding just this op over operands shaped like `arrays`."""
    return fused_node(lambda *xs: emit(name, list(xs), **attrs), [(a.shape, a.dtype) for a in arrays])


def reference(name: str, arrays: list[np.ndarray], attrs: dict) -> np.ndarray:
    """Eager graphc's result (the op's NumPy kernel, normalized to the inferred dtype)."""
    return run_eager(REGISTRY[name], arrays, attrs, np)[0]


# Absolute error an op's formula allows beyond a few ulp of its result: gelu computes x/2 * (1 + erf(x/sqrt 2)),
# which cancels for x < 0, so erf's few ulp (of 1) become a few ulp of |x|.
EXTRA_SCALE = {"gelu": lambda arrays: np.abs(arrays[0].astype(np.float64))}


def mismatches(got, want: np.ndarray, arrays: list[np.ndarray], name: str) -> list[str]:
    """The positions where `got` differs from `want` beyond the rules above, described with their operands."""
    got = np.asarray(got)
    if got.shape != want.shape or got.dtype != want.dtype:
        return [f"got {got.dtype}{list(got.shape)}, want {want.dtype}{list(want.shape)}"]
    if want.dtype.kind != "f":
        bad = got != want
    else:
        finfo = np.finfo(want.dtype)
        nan_w, nan_g = np.isnan(want), np.isnan(got)
        scale = np.abs(want.astype(np.float64))
        if name in EXTRA_SCALE:
            scale = scale + EXTRA_SCALE[name](arrays)
        with np.errstate(all="ignore"):
            close = np.abs(got.astype(np.float64) - want) <= ULPS * (finfo.eps * scale + finfo.smallest_subnormal)
        same_inf = np.isinf(want) & (got == want)
        zero_sign = (want == 0) & (got == 0) & (np.signbit(want) != np.signbit(got))
        if name in ("maximum", "minimum"):
            # NumPy leaves the sign of the zero chosen between +0 and -0 to the CPU's vector unit.
            zero_sign &= arrays[0] != arrays[1]
        bad = (nan_w != nan_g) | (~nan_w & ~np.isinf(want) & ~close) | (np.isinf(want) & ~same_inf) | zero_sign
    return [f"{name}({', '.join(repr(a[i].item()) for a in arrays)}) = {got[i].item()!r}, eager {want[i].item()!r}"
            for i in np.flatnonzero(bad)[:6]]
