"""The plain-text form of a graph, one line per node (tests assert on it)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:   # graph.py imports this module for Graph.__str__
    from .graph import Graph, Value


def _t(v: Value) -> str:
    return f"{v.dtype}{list(v.shape)}"


def _attr(v: object) -> str:
    return repr(v) if not isinstance(v, float) else f"{v:g}"


def format_graph(g: Graph) -> str:
    """Render `g` as text: inputs, constants, nodes (with role and location), outputs, updates."""
    lines = []
    for v in g.inputs:
        lines.append(f"input {v.label()}: {_t(v)}")
    for v in g.consts:
        val = v.data.item() if v.data.size == 1 else "..."
        lines.append(f"const {v.label()}: {_t(v)} = {val}")
    for n in g.nodes:
        outs = ", ".join(f"{v.label()}: {_t(v)}" for v in n.outputs)
        attrs = ", ".join(f"{k}={_attr(a)}" for k, a in n.attrs.items() if k != "subgraph")
        args = ", ".join(v.label() for v in n.inputs)
        extra = f"  # {n.role}" + (f" @ {n.loc}" if n.loc else "")
        lines.append(f"{outs} = {n.op.name}({args}{'; ' + attrs if attrs else ''}){extra}")
    lines.append("return " + ", ".join(v.label() for v in g.outputs))
    for s, v in g.updates:
        lines.append(f"update {s.label()} <- {v.label()}")
    return "\n".join(lines)
