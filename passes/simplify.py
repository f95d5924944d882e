"""Algebraic simplification (in place): identities (x*1, x+0, --x, ...), integer powers, constant scalings
moved onto smaller results, and broadcasts that elementwise ops can do themselves.

The rules are a table keyed by op name; each rule returns a replacement for a node's single output (built
with `emit` into the graph) or None. A rewrite is made only where it gives the same result for every input,
infinities, NaN and signed zeros included (x + 0.0 is not x for x = -0.0, exp(log x) is not x for x < 0,
(x*c1)*c2 is not x*(c1*c2) when c1*c2 underflows to 0 and x is infinite). The others need fast math, which
the user turns on explicitly (config.fast_math, GRAPHC_FAST_MATH=1); results may then differ at such inputs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from graphc.config import config
from graphc.ir import Graph, OpNode, Value, building, emit
from graphc.ir.errors import ShapeError
from graphc.ir.ops.common import broadcast_shapes
from graphc.ir.symbols import prod

from .dce import dce

MAX_SWEEPS = 6


@dataclass(frozen=True)
class Options:
    """What the rules may do: `inner_products` turns sums of products of vectors into vdot; `fast_math` allows
    rewrites that change results at some inputs (overflow, underflow, signed zeros, NaN)."""

    inner_products: bool = True
    fast_math: bool = False


Rule = Callable[[OpNode, Graph, Options], "Value | None"]


# ---- helpers -------------------------------------------------------------------------------------------

def _scalar(v: Value) -> float | None:
    """The value of a constant whose elements are all equal, else None."""
    if v.kind != "const":
        return None
    d = v.data
    if d.size == 0:
        return None
    first = d.flat[0]
    if d.size == 1 or (np.all(d == first) and (first != 0 or np.all(np.signbit(d) == np.signbit(first)))):
        return float(first)
    return None


def _is_zero(v: Value, negative: bool) -> bool:
    """True for a constant zero of this sign (any zero of an integer dtype)."""
    c = _scalar(v)
    return c == 0 and (v.dtype.kind != "f" or bool(np.signbit(c)) == negative)


def _producer(v: Value, name: str) -> OpNode | None:
    p = v.producer
    return p if p is not None and p.op.name == name else None


def _const(g: Graph, value: float, like: Value) -> Value:
    return g.add_const(np.asarray(value, dtype=like.dtype))


def _operand_if(n: OpNode, i: int, value: float) -> Value | None:
    """The other operand when operand i is the constant `value` and the other may stand for the result."""
    out, other = n.outputs[0], n.inputs[1 - i]
    if _scalar(n.inputs[i]) == value and other.shape == out.shape and other.dtype == out.dtype:
        return other
    return None


def _scaled(v: Value) -> tuple[Value, Value] | None:
    """(x, c) when v = x * c for a one-element c (a constant, or a scale computed at run time such as a
    mean's 1/N), else None."""
    inner = _producer(v, "mul")
    if inner is None:
        return None
    for u, w in (inner.inputs, inner.inputs[::-1]):
        if w.size == 1 and u.shape == v.shape and u.size != 1:
            return u, w
    return None


def _times(x: Value, c: Value, g: Graph, out: Value) -> Value:
    """x * c as a result of `out`'s shape (a constant scale becomes a 0-d constant; a one-element value of
    higher rank is read through a reshape)."""
    k = _scalar(c)
    if k is not None:
        c = _const(g, k, out)
    elif c.shape != () and broadcast_shapes(out.shape, c.shape) != out.shape:
        c = emit("reshape", [c], shape=())
    return emit("mul", [x, c])


# ---- rules ------------------------------------------------------------------------------------------------

def _times_one(n, g, o):
    return _operand_if(n, 1, 1) or _operand_if(n, 0, 1)


def _scalings_merge(n, g, o):
    # (x * c1) * c2 -> x * (c1 * c2), so gradient scalings collapse to one multiply. Exact when one of them is
    # -1 (negation commutes with rounding); otherwise c1 * c2 may round, underflow to 0 or overflow.
    a, b = n.inputs
    out = n.outputs[0]
    for x, c in ((a, _scalar(b)), (b, _scalar(a))):
        inner = _producer(x, "mul")
        if c is None or inner is None or x.shape != out.shape:
            continue
        for y, k in ((inner.inputs[0], _scalar(inner.inputs[1])), (inner.inputs[1], _scalar(inner.inputs[0]))):
            if k is not None and y.shape == out.shape and (o.fast_math or -1 in (c, k)):
                return emit("mul", [y, _const(g, k * c, out)])
    return None


def _plus_zero(n, g, o):
    # x + (-0.0) is x for every x; x + 0.0 turns -0.0 into 0.0.
    a, b = n.inputs
    out = n.outputs[0]
    if (_is_zero(b, True) or o.fast_math and _scalar(b) == 0) and a.shape == out.shape:
        return a
    if (_is_zero(a, True) or o.fast_math and _scalar(a) == 0) and b.shape == out.shape:
        return b
    return None


def _twice(n, g, o):
    a, b = n.inputs
    out = n.outputs[0]
    return emit("mul", [a, _const(g, 2, out)]) if a is b and out.dtype.kind == "f" else None


def _minus(n, g, o):
    # x - 0.0 is x and -0.0 - x is -x for every x (x - (-0.0) and 0.0 - x differ at signed zeros).
    a, b = n.inputs
    out = n.outputs[0]
    if (_is_zero(b, False) or o.fast_math and _scalar(b) == 0) and a.shape == out.shape:
        return a
    if a is b and out.dtype.kind in "iu":  # x - x is 0 only where x is finite, so integers only
        return emit("broadcast_to", [g.add_const(np.zeros((), out.dtype))], shape=out.shape)
    if (_is_zero(a, True) or o.fast_math and _scalar(a) == 0) and b.shape == out.shape:
        return emit("neg", [b])
    return None


def _divided_by_one(n, g, o):
    return _operand_if(n, 1, 1)


def _double_negation(n, g, o):
    inner = _producer(n.inputs[0], "neg")
    return inner.inputs[0] if inner is not None else None


def _integer_powers(n, g, o):
    a, b = n.inputs
    c = _scalar(b)
    if c is None or a.shape != n.outputs[0].shape:
        return None
    if c == 1:
        return a
    if c == 2:
        return emit("mul", [a, a])
    if c == 3:
        return emit("mul", [emit("mul", [a, a]), a])
    # NumPy computes a power by a one-element 0.5 as sqrt (-0.0 stays -0.0, -inf gives nan), and by an array of
    # 0.5 as pow (0.0 and inf): only the former is sqrt exactly.
    if c == 0.5 and (b.size == 1 or o.fast_math):
        return emit("sqrt", [a])
    if c == -1:
        return emit("div", [_const(g, 1, a), a])
    return None


def _inverse_of(name: str) -> Rule:
    # exp(log x) is nan for x < 0, log(exp x) is inf once exp overflows (and both round): fast math only.
    def rule(n, g, o):
        inner = _producer(n.inputs[0], name)
        return inner.inputs[0] if inner is not None and o.fast_math else None
    return rule


def _mean_as_sum(n, g, o):
    # mean = sum * (1/n), so constant scalings can merge with it (and the sum fuses with what feeds it);
    # over a symbolic batch the count is read from the operand when the plan runs.
    a, out = n.inputs[0], n.outputs[0]
    count = prod(a.shape[i] for i in n.attrs["axis"])
    if out.dtype != a.dtype or not count:
        return None
    if type(count) is not int:
        n_elements = emit("count", [a], axis=n.attrs["axis"], dtype=str(out.dtype))
        return emit("div", [emit("sum", [a], **n.attrs), n_elements])
    return emit("mul", [emit("sum", [a], **n.attrs), _const(g, 1.0 / count, out)])


def _static_count(n, g, o):
    count = prod(n.inputs[0].shape[i] for i in n.attrs["axis"])
    return g.add_const(np.asarray(count, dtype=n.outputs[0].dtype)) if type(count) is int else None


def _count_of_an_input(n, g, o):
    # A count reads only its operand's shape: read an input of that shape instead, so that no intermediate is
    # kept (or materialized out of a fused group) just to be counted.
    x = n.inputs[0]
    same = next((v for v in g.inputs if v.shape == x.shape), None)
    if x.kind == "input" or same is None:
        return None
    return emit("count", [same], **n.attrs)


def _sum_of_scaled(n, g, o):
    # sum(x * c) = sum(x) * c: the scaling moves onto the (smaller) result. Fast math only: sum(x) may
    # overflow where the scaled terms' sum does not (or the scaled terms underflow).
    a, out = n.inputs[0], n.outputs[0]
    xc = _scaled(a)
    if xc is None or out.dtype.kind != "f" or not o.fast_math:
        return None
    return _times(emit("sum", [xc[0]], **n.attrs), xc[1], g, out)


def _inner_product(n, g, o):
    # sum(x * y) over a vector is an inner product.
    inner = _producer(n.inputs[0], "mul")
    if not o.inner_products or inner is None or n.outputs[0].dtype.kind != "f" or n.attrs["keepdims"]:
        return None
    x, y = inner.inputs
    return emit("vdot", [x, y]) if x.ndim == 1 and x.shape == y.shape else None


def _vdot_of_scaled(n, g, o):
    # vdot(x * c, y) = vdot(x, y) * c, fast math only (as sum(x * c) above)
    if not o.fast_math:
        return None
    for i, v in enumerate(n.inputs):
        xc = _scaled(v)
        if xc is not None:
            other = n.inputs[1 - i]
            d = emit("vdot", [xc[0], other] if i == 0 else [other, xc[0]])
            return _times(d, xc[1], g, n.outputs[0])
    return None


def _same_shape(n, g, o):
    return n.inputs[0] if n.inputs[0].shape == n.outputs[0].shape else None


def _reshape_of_reshape(n, g, o):
    inner = _producer(n.inputs[0], "reshape")
    return emit("reshape", [inner.inputs[0]], shape=n.outputs[0].shape) if inner is not None else None


def _reshape_of_scaled(n, g, o):
    # reshape(x * c) = reshape(x) * c: the reshape moves next to what produced x.
    xc = _scaled(n.inputs[0])
    if xc is None:
        return None
    return _times(emit("reshape", [xc[0]], shape=n.outputs[0].shape), xc[1], g, n.outputs[0])


def _reshape_of_kept_dims(n, g, o):
    # reshape(reduce(x, keepdims=True)) dropping exactly the reduced axes: reduce without keepdims.
    red = n.inputs[0].producer
    if red is None or red.op.reduction is None or not red.attrs["keepdims"]:
        return None
    x = red.inputs[0]
    if tuple(d for i, d in enumerate(x.shape) if i not in red.attrs["axis"]) != n.outputs[0].shape:
        return None
    return emit(red.op.name, [x], axis=red.attrs["axis"], keepdims=False)


def _same_dtype(n, g, o):
    return n.inputs[0] if n.inputs[0].dtype == n.outputs[0].dtype else None


def _transpose_of_transpose(n, g, o):
    inner = _producer(n.inputs[0], "transpose")
    if inner is None:
        return None
    perm = tuple(inner.attrs["perm"][p] for p in n.attrs["perm"])
    x = inner.inputs[0]
    return x if perm == tuple(range(len(perm))) else emit("transpose", [x], perm=perm)


RULES: dict[str, list[Rule]] = {
    "mul": [_times_one, _scalings_merge],
    "add": [_plus_zero, _twice],
    "sub": [_minus],
    "div": [_divided_by_one],
    "neg": [_double_negation],
    "pow": [_integer_powers],
    "exp": [_inverse_of("log")],
    "log": [_inverse_of("exp")],
    "mean": [_mean_as_sum],
    "count": [_static_count, _count_of_an_input],
    "sum": [_sum_of_scaled, _inner_product],
    "vdot": [_vdot_of_scaled],
    "reshape": [_same_shape, _reshape_of_reshape, _reshape_of_scaled, _reshape_of_kept_dims],
    "broadcast_to": [_same_shape],
    "astype": [_same_dtype],
    "transpose": [_transpose_of_transpose],
}


# ---- the pass -----------------------------------------------------------------------------------------

def _unbroadcast_operands(n: OpNode) -> bool:
    """Let an elementwise op broadcast operands itself instead of reading materialized broadcasts."""
    changed = False
    out_shape = n.outputs[0].shape
    for i, v in enumerate(n.inputs):
        p = v.producer
        while p is not None and p.op.name in ("broadcast_to", "reshape"):
            src = p.inputs[0]
            if src.size != 1 and p.op.name == "reshape":
                break
            others = [w.shape for j, w in enumerate(n.inputs) if j != i]
            try:
                ok = broadcast_shapes(src.shape, *others) == out_shape and src.ndim <= len(out_shape)
            except ShapeError:
                ok = False
            if not ok:
                break
            n.inputs[i] = v = src
            changed = True
            p = v.producer
    return changed


def simplify(g: Graph, inner_products: bool = True) -> None:
    """Apply the rules until nothing changes (or MAX_SWEEPS sweeps), then drop dead nodes; rewrites that change
    results at some inputs only when config.fast_math is on."""
    opts = Options(inner_products, config.fast_math)
    for _ in range(MAX_SWEEPS):
        if not _sweep(g, opts):
            break
        dce(g)


def simplify_keep_sums(g: Graph) -> None:
    """simplify, leaving sums of products as reductions: on the GPU, fusion computes them in the kernel
    that produces their operands (one pass over the data), where an inner product would be a call of its own."""
    simplify(g, inner_products=False)


def _sweep(g: Graph, opts: Options) -> bool:
    """One forward sweep of the rules (rewrites see already simplified operands); True if anything changed."""
    mapping: dict[Value, Value] = {}
    changed = False
    nodes = []
    for n in g.nodes:
        if mapping:
            n.inputs = [mapping.get(v, v) for v in n.inputs]
        if n.op.elementwise:
            changed |= _unbroadcast_operands(n)
        rules = RULES.get(n.op.name) if len(n.outputs) == 1 else None
        if not rules:
            nodes.append(n)
            continue
        start = len(g.nodes)
        r = None
        with building(g, n.role, n.loc):
            for rule in rules:
                r = rule(n, g, opts)
                if r is not None:
                    break
        new = g.nodes[start:]
        del g.nodes[start:]
        if r is None:
            nodes.append(n)
            continue
        nodes.extend(new)
        mapping[n.outputs[0]] = r
        changed = True
    g.nodes = nodes
    g.substitute(mapping)
    return changed
