"""Scheduling for communication: collectives start as early as their operands allow (in place).

The runtime starts a collective where it stands in the node order and waits for it just before its result is
first read, so whatever runs in between overlaps the exchange. This pass puts each collective right after
the nodes it needs: the collective that needs the fewest nodes not yet placed goes first (in a backward
pass, the bucket of the last layer's gradients), and nodes no collective needs wait until every collective
has started; then the nodes that do not read a collective's result run before those that do.
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
    needs = {c: _ancestors(nodes, producer, c) for c in colls}
    placed: set[int] = set()
    order: list[int] = []
    pending = list(colls)
    while pending:
        c = min(pending, key=lambda c: (len(needs[c] - placed), c))
        pending.remove(c)
        if c in placed:             # needed (and placed) by an earlier collective
            continue
        new = sorted(needs[c] - placed)
        order += new + [c]
        placed.update(new)
        placed.add(c)
    waits = _reads_collective(nodes, producer)
    rest = [i for i in range(len(nodes)) if i not in placed]
    order += [i for i in rest if not waits[i]] + [i for i in rest if waits[i]]
    g.nodes = [nodes[i] for i in order]


def _ancestors(nodes: list[OpNode], producer: dict, i: int) -> set[int]:
    """Indices of the nodes node i depends on."""
    seen: set[int] = set()
    stack = [i]
    while stack:
        for v in nodes[stack.pop()].inputs:
            j = producer.get(v)
            if j is not None and j not in seen:
                seen.add(j)
                stack.append(j)
    return seen


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
