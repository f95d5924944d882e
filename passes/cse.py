"""Common-subexpression elimination: one node per distinct (op, attrs, inputs); equal constants merged
(in place)."""
from __future__ import annotations

from graphc.ir import Graph, Value

from .util import frozen

_MAX_CONST_BYTES = 1 << 16


def cse(g: Graph) -> None:
    """Merge duplicate constants and duplicate computations (random ops and collectives are never merged: a
    merge decided by constant values could differ between ranks and leave them running different collectives)."""
    mapping: dict[Value, Value] = {}
    seen_c: dict[tuple, Value] = {}
    consts = []
    for c in g.consts:
        if c.data.nbytes <= _MAX_CONST_BYTES:
            key = (c.dtype.str, c.shape, c.data.tobytes())
            if key in seen_c:
                mapping[c] = seen_c[key]
                continue
            seen_c[key] = c
        consts.append(c)
    g.consts = consts
    seen: dict[tuple, list[Value]] = {}
    nodes = []
    for n in g.nodes:
        if mapping:
            n.inputs = [mapping.get(v, v) for v in n.inputs]
        op = n.op
        if op.random or op.collective or op.family == "fused":   # a fused node's subgraph is not compared
            nodes.append(n)
            continue
        ids = tuple([v.id for v in n.inputs])
        if op.commutative:
            ids = tuple(sorted(ids))
        try:          # attributes are plain data: mostly hashable as they are
            key = (op, ids, tuple(n.attrs.items()))
            hash(key)
        except TypeError:
            key = (op, ids, frozen(n.attrs))
        prev = seen.get(key)
        if prev is not None:
            mapping.update(zip(n.outputs, prev))
            continue
        seen[key] = n.outputs
        nodes.append(n)
    g.nodes = nodes
    g.substitute(mapping)
