"""Symbolic reverse-mode differentiation: gradient nodes appended to the graph (in place), built by OpDef.vjp."""
from __future__ import annotations

from collections.abc import Sequence

from graphc.ir import GRADIENT, Graph, Value, building, emit
from graphc.ir.ops.common import zeros

from .util import live_nodes


def grad(g: Graph, ys: Sequence[Value], dys: Sequence[Value], wrt: Sequence[Value], *,
         start: int = 0, role: str = GRADIENT) -> list[Value | None]:
    """Append to `g` the nodes computing d(sum_i <ys[i], dys[i]>)/d(wrt); None where wrt is unreached.

    Only nodes at index >= `start` are differentiated (a GradManager's recording window). Gradients
    reaching a value along several uses are summed; broadcasting is undone by each op's vjp.
    """
    nodes = g.nodes[start:]
    wrt_set = set(wrt)
    # Forward: which values depend on a wrt value.
    live = set(wrt_set)
    active = []
    for n in nodes:
        if n.op.vjp is not None and any(v in live for v in n.inputs):
            live.update(n.outputs)
            active.append(n)
    acc: dict[Value, Value] = {}
    for y, dy in zip(ys, dys, strict=False):
        if y in live:
            _accumulate(g, acc, y, dy, role, None)
    for n in reversed(active):
        douts = [acc.get(v) for v in n.outputs]
        if all(d is None for d in douts):
            continue
        with building(g, role, n.loc):
            douts = [d if d is not None else zeros(v.shape, v.dtype) for d, v in zip(douts, n.outputs, strict=False)]
            dins = n.op.vjp(n.inputs, n.outputs, douts, n.attrs)
        for v, d in zip(n.inputs, dins, strict=False):
            if d is not None and v in live:
                _accumulate(g, acc, v, d, role, n.loc)
    grads = [acc.get(w) for w in wrt]
    # Drop the new gradient nodes no returned gradient needs (vjps build one per input, wanted or not).
    first_new = start + len(nodes)
    g.nodes[first_new:], _ = live_nodes(g.nodes[first_new:], [v for v in grads if v is not None])
    return grads


def _accumulate(g: Graph, acc: dict, v: Value, d: Value, role: str, loc: str | None) -> None:
    if d.shape != v.shape or d.dtype != v.dtype:
        with building(g, role, loc):
            if d.dtype != v.dtype:
                d = emit("astype", [d], dtype=str(v.dtype))
            if d.shape != v.shape:
                d = emit("broadcast_to", [d], shape=v.shape)
    if v in acc:
        with building(g, role, loc):
            d = emit("add", [acc[v], d])
    acc[v] = d
