"""What can be drawn: Graphs, Plans, traced functions and loaded plan files, found by duck typing."""
from __future__ import annotations

from dataclasses import dataclass, field

from graphc.ir import Graph, Value
from graphc.ir.errors import GraphcTypeError
from graphc.runtime.plan import Signature


@dataclass
class Drawing:
    """The graph to draw, a caption saying what it is, and its states (inputs kept between calls)."""

    graph: Graph
    caption: str = ""
    states: frozenset[Value] = field(default_factory=frozenset)


def resolve(obj: object) -> Drawing:
    """The Graph to draw for `obj`, with its caption and states."""
    sig = None
    for _ in range(3):
        sig = sig or _signature(obj)
        if isinstance(obj, Graph):
            return Drawing(obj, "", _states(obj, sig))
        # A traced function has both: its .graph (forward, gradient and update roles) is the richer
        # picture, and `fn.plan` draws the fused plan. A Plan's .graph is its optimized graph; a loaded
        # plan file has both too (.graph is the saved graph).
        if hasattr(obj, "graph"):
            if isinstance(obj.graph, Graph):
                return Drawing(obj.graph, _caption(obj), _states(obj.graph, sig))
            obj = obj.graph
        elif hasattr(obj, "plan"):
            obj = obj.plan
        else:
            break
    raise GraphcTypeError(f"graphc.viz: cannot draw a {type(obj).__name__}; expected a Graph, a Plan, a traced "
                          "function or a loaded plan file (an object with .graph or .plan)")


def _signature(obj: object) -> Signature | None:
    """The call signature (which inputs are arguments, which states) of a Plan or of what holds one."""
    sig = getattr(obj, "signature", None)
    if isinstance(sig, Signature):
        return sig
    plan = getattr(obj, "plan", None) if not isinstance(obj, Graph) and hasattr(obj, "graph") else None
    sig = getattr(plan, "signature", None)
    return sig if isinstance(sig, Signature) else None


def _states(g: Graph, sig: Signature | None) -> frozenset[Value]:
    """The inputs after the call arguments (a bare Graph: from the first input a state update assigns)."""
    n_args = (sig or Signature.of(g)).n_args
    return frozenset(g.inputs[n_args:])


def _caption(obj: object) -> str:
    stats = getattr(obj, "stats", None)
    if isinstance(stats, dict) and stats:
        return "plan: " + ", ".join(f"{k}={v}" for k, v in stats.items() if isinstance(v, (int, float, str)))
    return ""
