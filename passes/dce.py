"""Dead-code elimination: drop nodes and constants that no output or state update needs."""
from __future__ import annotations

from graphc.ir import Graph


def dce(g: Graph) -> Graph:
    """Keep only what the outputs and the state updates (never dropped) depend on."""
    live = set(g.roots())
    kept = []
    for n in reversed(g.nodes):
        if any(v in live for v in n.outputs):
            kept.append(n)
            live.update(n.inputs)
    kept.reverse()
    g.nodes = kept
    g.consts = [c for c in g.consts if c in live]
    return g
