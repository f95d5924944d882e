"""A Graph as a networkx MultiDiGraph: data nodes and operator nodes with their edges, as the tutorial
draws them, for graph analysis and export (`networkx.write_graphml(g.to_networkx(), "g.graphml")`)."""
from __future__ import annotations

import networkx as nx

from .graph import Graph, Value


def _value_attrs(v: Value, kind: str) -> dict:
    return {"kind": kind, "label": v.label(), "dtype": str(v.dtype), "shape": str(list(v.shape))}


def to_networkx(g: Graph) -> nx.MultiDiGraph:
    """Nodes "v<id>" (data: kind input/const/value, label, dtype, shape) and "n<index>" (operators: op, role,
    loc); an edge per operand (its position as `slot`) and per result; graph attributes list outputs and updates."""
    out = nx.MultiDiGraph(outputs=" ".join(f"v{v.id}" for v in g.outputs),
                          updates=" ".join(f"v{s.id}<-v{v.id}" for s, v in g.updates))
    for v in g.inputs:
        out.add_node(f"v{v.id}", **_value_attrs(v, "input"))
    for v in g.consts:
        out.add_node(f"v{v.id}", **_value_attrs(v, "const"))
    for i, n in enumerate(g.nodes):
        out.add_node(f"n{i}", kind="op", op=n.op.name, role=n.role, loc=n.loc or "")
        for slot, v in enumerate(n.inputs):
            out.add_edge(f"v{v.id}", f"n{i}", slot=slot)
        for v in n.outputs:
            out.add_node(f"v{v.id}", **_value_attrs(v, "value"))
            out.add_edge(f"n{i}", f"v{v.id}", slot=v.index)
    return out
