"""Small helpers shared by passes: hashable attributes, liveness, and topological re-sorting."""
from __future__ import annotations

import heapq
from collections.abc import Iterable

from graphc.ir import Graph, OpNode, Value


def frozen(x: object) -> object:
    """A hashable form of an attribute value (dicts and lists become tuples)."""
    if isinstance(x, dict):
        return tuple((k, frozen(v)) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return tuple(frozen(v) for v in x)
    return x


def live_nodes(nodes: list[OpNode], roots: Iterable[Value]) -> tuple[list[OpNode], set[Value]]:
    """The nodes some root depends on (in their order), and every Value they and the roots read."""
    live = set(roots)
    kept = []
    for n in reversed(nodes):
        if any(v in live for v in n.outputs):
            kept.append(n)
            live.update(n.inputs)
    kept.reverse()
    return kept, live


class CycleError(AssertionError):
    """The graph has a cycle; `nodes` are those on or below it (they could not be placed)."""

    def __init__(self, nodes: list[OpNode]) -> None:
        super().__init__(f"toposort: the graph has a cycle through {len(nodes)} nodes")
        self.nodes = nodes


def toposort(g: Graph) -> None:
    """Reorder g.nodes topologically, keeping the current order wherever it is already valid."""
    producer = {v: n for n in g.nodes for v in n.outputs}
    waiting: dict[OpNode, int] = {}
    users: dict[OpNode, list[OpNode]] = {}
    for n in g.nodes:
        deps = {producer[v] for v in n.inputs if v in producer}
        waiting[n] = len(deps)
        for d in deps:
            users.setdefault(d, []).append(n)
    order = {n: i for i, n in enumerate(g.nodes)}
    ready = [(order[n], n) for n in g.nodes if waiting[n] == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, n = heapq.heappop(ready)
        out.append(n)
        for u in users.get(n, ()):
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, (order[u], u))
    if len(out) != len(g.nodes):
        placed = set(out)
        raise CycleError([n for n in g.nodes if n not in placed])
    g.nodes = out
