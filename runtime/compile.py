"""From a Graph to a runnable Plan: the optimization pipeline, then lowering."""
from __future__ import annotations

from graphc.ir import Graph

from .lower import lower
from .plan import Plan


def compile_graph(g: Graph, opt_level: int = 3, device: str = "cpu") -> Plan:
    """Optimize a copy of `g` at `opt_level` (0..3) and lower it to a Plan for `device`."""
    from passes.pipeline import optimize
    return lower(optimize(g.copy(), opt_level, device=device), device)
