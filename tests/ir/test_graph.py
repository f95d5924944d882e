"""The IR's Graph as data: its one-line repr, its listing, and its networkx form."""
from __future__ import annotations

import networkx as nx
from graphs import emit, make

from graphc.ir.dtypes import float32


def _graph():
    g = make(lambda x, w: emit("sum", [emit("tanh", [x * w])], axis=(0,), keepdims=False),
             ((3,), float32), ((3,), float32), names=["x", "w"])
    w = g.inputs[1]
    g.updates.append((w, g.nodes[1].outputs[0]))
    return g


def test_repr_is_a_one_line_summary_and_str_the_full_listing():
    g = _graph()
    assert repr(g) == "<Graph 2 inputs, 3 nodes (forward 3), 1 outputs, 1 updates>"
    text = str(g)
    assert text.splitlines()[0] == "input x: float32[3]" and "update w <-" in text


def test_to_networkx_has_data_and_operator_nodes_and_round_trips_through_graphml(tmp_path):
    g = _graph()
    d = g.to_networkx()
    kinds = {a["kind"] for _, a in d.nodes(data=True)}
    assert kinds == {"input", "op", "value"}
    assert [a["op"] for _, a in d.nodes(data=True) if a["kind"] == "op"] == ["mul", "tanh", "sum"]
    # Every operator reads its operands in order and writes its results: edges in and out carry slots.
    mul = next(n for n, a in d.nodes(data=True) if a.get("op") == "mul")
    assert sorted(s for _, _, s in d.in_edges(mul, data="slot")) == [0, 1]
    assert nx.is_directed_acyclic_graph(d)
    assert d.graph["updates"] == f"v{g.inputs[1].id}<-v{g.nodes[1].outputs[0].id}"
    nx.write_graphml(d, tmp_path / "g.graphml")
    back = nx.read_graphml(tmp_path / "g.graphml")
    assert back.number_of_nodes() == d.number_of_nodes() and back.number_of_edges() == d.number_of_edges()
