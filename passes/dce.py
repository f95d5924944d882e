"""Dead-code elimination: drop nodes and constants that no output or state update needs (in place)."""
from __future__ import annotations

from graphc.ir import Graph

from .util import live_nodes


def dce(g: Graph) -> None:
    """Keep only what the outputs and the state updates (never dropped) depend on."""
    g.nodes, live = live_nodes(g.nodes, g.roots())
    g.consts = [c for c in g.consts if c in live]
