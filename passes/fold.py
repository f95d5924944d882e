"""Constant folding: nodes whose inputs are all constants are computed once at compile time (in place)."""
from __future__ import annotations

import numpy as np

from graphc.ir import Graph, Value
from graphc.ir.interpret import Interpreter

MAX_FOLDED_ELEMENTS = 1 << 12  # larger results stay ops, so constants (and plan files) stay small


def _small(values: list[Value]) -> bool:
    """Results small enough to become constants (a symbolic size never is)."""
    sizes = [v.size for v in values]
    return all(type(s) is int for s in sizes) and sum(sizes) <= MAX_FOLDED_ELEMENTS


def fold(g: Graph) -> None:
    """Replace constant subexpressions by their values (random ops, collectives and big results are kept)."""
    known: dict[Value, np.ndarray] = {c: c.data for c in g.consts}
    mapping: dict[Value, Value] = {}
    nodes = []
    run = Interpreter(np).run_node
    with np.errstate(all="ignore"):
        for n in g.nodes:
            n.inputs = [mapping.get(v, v) for v in n.inputs]
            # A broadcast stays a (free) view of its small constant rather than a big new constant.
            if (n.op.random or n.op.collective or n.op.family == "fused" or n.op.name == "broadcast_to"
                    or not all(v in known for v in n.inputs) or not _small(n.outputs)):
                nodes.append(n)
                continue
            for v, a in zip(n.outputs, run(n, [known[v] for v in n.inputs])):
                c = g.add_const(np.asarray(a, dtype=v.dtype).reshape(v.shape))
                known[c] = c.data
                mapping[v] = c
    g.nodes = nodes
    g.substitute(mapping)
