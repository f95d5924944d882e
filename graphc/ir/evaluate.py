"""The reference semantics of a graph: its nodes run one by one (tests' ground truth)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .graph import Graph, Value


def run_node(xp, node, args: list) -> list:
    """Run one node's kernel and return its outputs as a list."""
    r = node.op.kernel(xp, *args, **node.attrs)
    if len(node.outputs) == 1:
        return [r]
    return list(r)


def evaluate(g: Graph, feeds: Mapping[Value, object], xp=np, env: dict | None = None) -> dict:
    """Run every node of `g` given arrays for its inputs; return the environment Value -> array."""
    env = {} if env is None else env
    env.update(feeds)
    for c in g.consts:
        env[c] = xp.asarray(c.data)
    for n in g.nodes:
        if n.outputs[0] in env:
            continue
        outs = run_node(xp, n, [env[v] for v in n.inputs])
        for v, a in zip(n.outputs, outs):
            env[v] = a
    return env
