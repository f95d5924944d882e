"""Fusion on random DAGs, checked with networkx's graph algorithms: every fused group is convex, the result
is acyclic and computes what the unfused graph computes."""
from __future__ import annotations

import tracemalloc

import networkx as nx
import numpy as np
from graphs import feeds_for, reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphc.ir import Graph, building, emit, verify
from graphc.ir.dtypes import float32
from graphc.passes.fuse import fuse

UNARY = ["exp", "tanh", "neg", "sin"]
BINARY = ["add", "mul", "sub", "maximum"]


@st.composite
def dags(draw) -> Graph:
    """Random graphs over two shapes: elementwise ops, reductions, reshapes and matmuls (which never fuse)."""
    g = Graph()
    vals = [g.add_input((4, 3), float32), g.add_input((4, 3), float32), g.add_input((3,), float32)]
    with building(g):
        for _ in range(draw(st.integers(4, 40))):
            kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce", "matmul", "reshape"]))
            a = draw(st.sampled_from(vals))
            if kind == "unary":
                v = emit(draw(st.sampled_from(UNARY)), [a])
            elif kind == "binary":
                b = draw(st.sampled_from([v for v in vals if v.shape in (a.shape, a.shape[-1:], ())]))
                v = emit(draw(st.sampled_from(BINARY)), [a, b])
            elif kind == "reduce" and a.ndim == 2:
                v = emit("sum", [a], axis=(0,), keepdims=False)
            elif kind == "matmul" and a.shape == (4, 3):
                v = emit("matmul", [a, emit("reshape", [a], shape=(3, 4))], transpose_a=False, transpose_b=False)
                v = emit("matmul", [v, a], transpose_a=False, transpose_b=False)
            elif kind == "reshape" and a.shape == (3,):
                v = emit("reshape", [a], shape=(1, 3))
            else:
                continue
            vals.append(v)
    g.outputs = [v for v in vals[3:] if draw(st.booleans())] or [vals[-1]]
    return g


def _op_graph(g: Graph) -> nx.DiGraph:
    """Operator nodes of g (by their source location, which the test makes unique) and their dependencies."""
    d = nx.DiGraph()
    prod = {v: n for n in g.nodes for v in n.outputs}
    for n in g.nodes:
        d.add_node(n.loc)
        d.add_edges_from((prod[v].loc, n.loc) for v in n.inputs if v in prod)
    return d


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g=dags())
def test_fused_groups_are_convex_and_the_graph_stays_acyclic(g):
    for i, n in enumerate(g.nodes):
        n.loc = f"n{i}"          # fusion copies each member's location into its subgraph: it names the member
    original = _op_graph(g)
    with np.errstate(all="ignore"):
        want = reference(g, feeds_for(g))
    fuse(g)
    verify(g)
    assert nx.is_directed_acyclic_graph(_op_graph(g))
    for n in g.nodes:
        if n.op.family != "fused":
            continue
        members = {m.loc for m in n.attrs["subgraph"].nodes}
        assert len(members) >= 2
        outside = set(original) - members
        below = set().union(*(nx.descendants(original, m) for m in members)) & outside
        above = set().union(*(nx.ancestors(original, m) for m in members)) & outside
        assert not below & above, "a path leaves the group and comes back"
    with np.errstate(all="ignore"):
        got = reference(g, feeds_for(g))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _chain(n: int) -> Graph:
    g = Graph()
    x = g.add_input((8,), float32)
    with building(g):
        for i in range(n):
            x = emit("tanh" if i % 2 else "neg", [x])
    g.outputs = [x]
    return g


def test_fusion_memory_grows_linearly_with_the_graph():
    """Issue 15 item 5: per-node reachability sets made fusion quadratic in memory (a 150k-op plan file took 4.7 GB
    to load). A chain four times as long may take about four times the memory, not sixteen."""
    peaks = []
    for n in (3000, 12000):
        g = _chain(n)
        tracemalloc.start()
        try:
            fuse(g)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert [m.op.name for m in g.nodes] == ["fused"]
    assert peaks[1] < 6 * peaks[0], peaks
