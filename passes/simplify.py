"""Algebraic simplification: identities (x*1, x+0, x-x, --x, exp(log x), ...), integer powers,
and broadcasts that elementwise ops can do themselves."""
from __future__ import annotations

import numpy as np

from graphc.ir import Graph, Value, building, emit
from graphc.ir.ops.common import broadcast_shapes

from .dce import dce


def _scalar(v: Value) -> float | None:
    """The value of a constant whose elements are all equal, else None."""
    if v.kind != "const":
        return None
    d = v.data
    if d.size == 0:
        return None
    first = d.flat[0]
    return float(first) if d.size == 1 or np.all(d == first) else None


def _producer(v: Value, name: str):
    p = v.producer
    return p if p is not None and p.op.name == name else None


def _fits(v: Value, shape: tuple) -> bool:
    """True when `v` may replace an operand of an op whose result has `shape` (same shape, no new axes)."""
    return v.shape == shape


def _rewrite(n, g: Graph, inner_products: bool) -> Value | None:
    """A replacement for n's single output, or None."""
    name, ins, out = n.op.name, n.inputs, n.outputs[0]
    a = ins[0] if ins else None
    b = ins[1] if len(ins) > 1 else None
    ca = _scalar(a) if a is not None else None
    cb = _scalar(b) if b is not None else None
    if name == "mul":
        if cb == 1 and _fits(a, out.shape) and a.dtype == out.dtype:
            return a
        if ca == 1 and _fits(b, out.shape) and b.dtype == out.dtype:
            return b
        # (x * c1) * c2 -> x * (c1 * c2), so gradient scalings collapse to one multiply.
        for x, c in ((a, cb), (b, ca)):
            inner = _producer(x, "mul")
            if c is not None and inner is not None and x.shape == out.shape:
                for y, k in ((inner.inputs[0], _scalar(inner.inputs[1])), (inner.inputs[1], _scalar(inner.inputs[0]))):
                    if k is not None and y.shape == out.shape:
                        return emit("mul", [y, g.add_const(np.asarray(k * c, dtype=out.dtype))])
    if name == "add":
        if cb == 0 and _fits(a, out.shape):
            return a
        if ca == 0 and _fits(b, out.shape):
            return b
        if a is b and out.dtype.kind == "f":
            return emit("mul", [a, g.add_const(np.asarray(2, dtype=out.dtype))])
    if name == "sub":
        if cb == 0 and _fits(a, out.shape):
            return a
        if a is b and out.dtype.kind in "iu":  # x - x is 0 only where x is finite, so integers only
            return emit("broadcast_to", [g.add_const(np.zeros((), out.dtype))], shape=out.shape)
        if ca == 0:
            return emit("neg", [b]) if _fits(b, out.shape) else None
    if name == "div" and cb == 1 and _fits(a, out.shape):
        return a
    if name == "neg":
        inner = _producer(a, "neg")
        if inner is not None:
            return inner.inputs[0]
    if name == "pow" and cb is not None and _fits(a, out.shape):
        if cb == 1:
            return a
        if cb == 2:
            return emit("mul", [a, a])
        if cb == 3:
            return emit("mul", [emit("mul", [a, a]), a])
        if cb == 0.5:
            return emit("sqrt", [a])
        if cb == -1:
            return emit("div", [g.add_const(np.asarray(1, dtype=a.dtype)), a])
    if name == "exp":
        inner = _producer(a, "log")
        if inner is not None:
            return inner.inputs[0]
    if name == "log":
        inner = _producer(a, "exp")
        if inner is not None:
            return inner.inputs[0]
    if name == "mean" and out.dtype == a.dtype:  # mean = sum * (1/n), so constant scalings can merge
        n_red = int(np.prod([a.shape[i] for i in n.attrs["axis"]], dtype=np.int64))
        if n_red:
            s = emit("sum", [a], **n.attrs)
            return emit("mul", [s, g.add_const(np.asarray(1.0 / n_red, dtype=out.dtype))])
    if name == "sum":
        inner = a.producer
        if inner is not None and inner.op.name == "mul" and out.dtype.kind == "f":
            x, y = inner.inputs
            # sum(x * c) = sum(x) * c: the scaling moves onto the (smaller) result.
            for u, w in ((x, y), (y, x)):
                c = _scalar(w)
                if c is not None and u.shape == a.shape and w.size == 1:
                    return emit("mul", [emit("sum", [u], **n.attrs), g.add_const(np.asarray(c, dtype=out.dtype))])
            # sum(x * y) over a vector is an inner product.
            if inner_products and x.ndim == 1 and x.shape == y.shape and not n.attrs["keepdims"]:
                return emit("vdot", [x, y])
    if name == "vdot":  # vdot(x * c, y) = vdot(x, y) * c
        for i, v in enumerate(ins):
            inner = _producer(v, "mul")
            if inner is None:
                continue
            for u, w in (inner.inputs, inner.inputs[::-1]):
                c = _scalar(w)
                if c is not None and w.size == 1 and u.shape == v.shape:
                    other = ins[1 - i]
                    d = emit("vdot", [u, other] if i == 0 else [other, u])
                    return emit("mul", [d, g.add_const(np.asarray(c, dtype=out.dtype))])
    if name in ("reshape", "broadcast_to") and a.shape == out.shape:
        return a
    if name == "reshape":
        inner = _producer(a, "reshape")
        if inner is not None:
            return emit("reshape", [inner.inputs[0]], shape=out.shape)
        # reshape(x * c) = reshape(x) * c: the reshape moves next to what produced x.
        inner = _producer(a, "mul")
        if inner is not None:
            for u, w in (inner.inputs, inner.inputs[::-1]):
                if _scalar(w) is not None and w.size == 1 and u.shape == a.shape:
                    return emit("mul", [emit("reshape", [u], shape=out.shape), w])
        # reshape(reduce(x, keepdims=True)) dropping exactly the reduced axes: reduce without keepdims.
        red = a.producer
        if red is not None and red.op.family == "reduce" and red.attrs.get("keepdims"):
            x = red.inputs[0]
            if tuple(d for i, d in enumerate(x.shape) if i not in red.attrs["axis"]) == out.shape:
                return emit(red.op.name, [x], axis=red.attrs["axis"], keepdims=False)
    if name == "astype" and a.dtype == out.dtype:
        return a
    if name == "transpose":
        inner = _producer(a, "transpose")
        if inner is not None:
            perm = tuple(inner.attrs["perm"][p] for p in n.attrs["perm"])
            x = inner.inputs[0]
            return x if perm == tuple(range(len(perm))) else emit("transpose", [x], perm=perm)
    return None


def _unbroadcast_operands(n) -> bool:
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
            except Exception:
                ok = False
            if not ok:
                break
            n.inputs[i] = v = src
            changed = True
            p = v.producer
    return changed


MAX_SWEEPS = 6


def simplify(g: Graph, inner_products: bool = True) -> Graph:
    """Apply the rewrite rules until nothing changes (or MAX_SWEEPS sweeps), then drop dead nodes."""
    for _ in range(MAX_SWEEPS):
        if not _sweep(g, inner_products):
            break
        dce(g)
    return g


def simplify_keep_sums(g: Graph) -> Graph:
    """simplify, leaving sums of products as reductions: on the GPU, fusion computes them in the kernel
    that produces their operands (one pass over the data), where an inner product would be a call of its own."""
    return simplify(g, inner_products=False)


def _sweep(g: Graph, inner_products: bool) -> bool:
    """One forward sweep of the rules (rewrites see already simplified operands); True if anything changed."""
    mapping: dict[Value, Value] = {}
    changed = False
    nodes = []
    for n in g.nodes:
        n.inputs = [mapping.get(v, v) for v in n.inputs]
        if n.op.elementwise:
            changed |= _unbroadcast_operands(n)
        if len(n.outputs) != 1:
            nodes.append(n)
            continue
        start = len(g.nodes)
        with building(g, n.role, n.loc):
            r = _rewrite(n, g, inner_products)
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
