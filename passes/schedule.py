"""Scheduling for communication: collectives start as early as their operands allow (in place).

The runtime starts a collective where it stands in the node order and waits for it just before its result is
first read, so whatever runs in between overlaps the exchange. This pass takes the collectives in the order
their operands become ready in the traced order (in a backward pass, the bucket of the last layer's gradients
first) and puts each right after the nodes it needs that are not placed yet; nodes no collective needs come
after every start, those that do not read a collective's result before those that do. It costs time linear
in the graph's size, however many collectives it has.
"""
from __future__ import annotations

from graphc.ir import Graph, OpNode


def schedule(g: Graph) -> None:
    """Reorder g.nodes so that collectives start early and their results are read late (a topological order)."""
    nodes = g.nodes
    colls = [i for i, n in enumerate(nodes) if n.op.collective]
    if not colls:
        return
    index = {n: i for i, n in enumerate(nodes)}
    producer = {v: index[n] for n in nodes for v in n.outputs}
    ready = [-1] * len(nodes)        # the last node (in the traced order) that node i depends on
    for i, n in enumerate(nodes):
        for v in n.inputs:
            j = producer.get(v)
            if j is not None:
                ready[i] = max(ready[i], j, ready[j])
    placed = [False] * len(nodes)
    order: list[int] = []
    # A collective that reads another is ready after it, so each is still unplaced when its turn comes.
    for c in sorted(colls, key=lambda c: (ready[c], c)):
        new = _unplaced_ancestors(nodes, producer, c, placed)
        order += sorted(new) + [c]          # the traced order is topological: so is any subset of it
        placed[c] = True
    waits = _reads_collective(nodes, producer)
    rest = [i for i in range(len(nodes)) if not placed[i]]
    order += [i for i in rest if not waits[i]] + [i for i in rest if waits[i]]
    g.nodes = [nodes[i] for i in order]


def _unplaced_ancestors(nodes: list[OpNode], producer: dict, i: int, placed: list[bool]) -> list[int]:
    """The nodes node i depends on that are not placed yet, marked placed (a placed node's ancestors are)."""
    found = []
    stack = [i]
    while stack:
        for v in nodes[stack.pop()].inputs:
            j = producer.get(v)
            if j is not None and not placed[j]:
                placed[j] = True
                found.append(j)
                stack.append(j)
    return found


def _reads_collective(nodes: list[OpNode], producer: dict) -> list[bool]:
    """For each node: does it depend on a collective's result?"""
    out = [False] * len(nodes)
    for i, n in enumerate(nodes):
        for v in n.inputs:
            j = producer.get(v)
            if j is not None and (out[j] or nodes[j].op.collective):
                out[i] = True
                break
    return out


def wait_points(g: Graph) -> dict[int, int]:
    """For each collective (by node index): the index of the first node reading its result, before which the
    runtime waits for it (len(g.nodes) when only the caller reads it). Its operands stay in use until then."""
    first: dict = {}
    for i, n in enumerate(g.nodes):
        for v in n.inputs:
            first.setdefault(v, i)
    return {i: min((first.get(v, len(g.nodes)) for v in n.outputs), default=len(g.nodes))
            for i, n in enumerate(g.nodes) if n.op.collective}
