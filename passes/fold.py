"""Constant folding: nodes whose inputs are all constants are computed once at compile time."""
from __future__ import annotations

import numpy as np

from graphc.ir import Graph, Value

MAX_FOLDED_ELEMENTS = 1 << 12  # larger results stay ops, so constants (and plan files) stay small


def fold(g: Graph) -> Graph:
    """Replace constant subexpressions by their values (random ops and big results are kept)."""
    known: dict[Value, np.ndarray] = {c: c.data for c in g.consts}
    mapping: dict[Value, Value] = {}
    nodes = []
    with np.errstate(all="ignore"):
        for n in g.nodes:
            n.inputs = [mapping.get(v, v) for v in n.inputs]
            # A broadcast stays a (free) view of its small constant rather than a big new constant.
            if (n.op.random or n.op.name in ("fused", "broadcast_to") or not all(v in known for v in n.inputs)
                    or sum(v.size for v in n.outputs) > MAX_FOLDED_ELEMENTS):
                nodes.append(n)
                continue
            r = n.op.kernel(np, *[known[v] for v in n.inputs], **n.attrs)
            outs = [r] if len(n.outputs) == 1 else list(r)
            for v, a in zip(n.outputs, outs):
                c = g.add_const(np.asarray(a, dtype=v.dtype).reshape(v.shape))
                known[c] = c.data
                mapping[v] = c
    g.nodes = nodes
    g.substitute(mapping)
    return g
