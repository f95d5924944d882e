"""What can be drawn: Graphs, Plans, traced functions and loaded plan files, found by duck typing."""
from __future__ import annotations

from graphc.ir import Graph
from graphc.ir.errors import GraphcTypeError


def resolve(obj: object) -> tuple[Graph, str]:
    """The Graph to draw for `obj`, and a short caption saying what it is."""
    for _ in range(3):
        if isinstance(obj, Graph):
            return obj, ""
        # A traced function has both: its .graph (forward, gradient and update roles) is the richer
        # picture, and `fn.plan` draws the fused plan. A Plan's .graph is its optimized graph; a loaded
        # plan file only has .plan.
        if hasattr(obj, "graph"):
            if isinstance(obj.graph, Graph):
                return obj.graph, _caption(obj)
            obj = obj.graph
        elif hasattr(obj, "plan"):
            obj = obj.plan
        else:
            break
    raise GraphcTypeError(f"graphc.viz: cannot draw a {type(obj).__name__}; expected a Graph, a Plan, a traced "
                          "function or a loaded plan file (an object with .graph or .plan)")


def _caption(obj: object) -> str:
    stats = getattr(obj, "stats", None)
    if isinstance(stats, dict) and stats:
        return "plan: " + ", ".join(f"{k}={v}" for k, v in stats.items() if isinstance(v, (int, float, str)))
    return ""
