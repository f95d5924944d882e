"""Elementwise fusion: convex groups of same-shape elementwise ops, plus the reductions they feed, and
independent groups of one shape merged into one kernel.

A group never contains a path that leaves it and comes back (convexity), so replacing it by one fused
node keeps the graph acyclic. Reductions join the group of their elementwise operand as terminal
outputs (the elementwise prologue is computed chunk by chunk and reduced on the fly).
"""
from __future__ import annotations

from graphc.ir import Graph, OpNode, Value

from .util import CycleError, toposort

REDUCTIONS = frozenset({"sum", "mean", "max", "min"})


class _Group:
    """A candidate group; sets of nodes are bitsets over node indices (Python ints)."""

    __slots__ = ("shape", "nodes", "members", "anc", "desc", "reduced", "reads")

    def __init__(self, shape: tuple, node: OpNode, i: int, anc: int, desc: int, reads: int, red: bool) -> None:
        self.shape = shape
        self.nodes = [(i, node)]
        self.members = 1 << i
        self.anc = anc            # union of the members' ancestors
        self.desc = desc          # union of the members' descendants
        self.reads = reads        # reductions whose results members read
        self.reduced = self.members if red else 0

    def can_merge(self, o: _Group) -> bool:
        """Convex (no outside node both below and above the union) and no member reads a reduction inside."""
        m = self.members | o.members
        return (not (self.anc | o.anc) & (self.desc | o.desc) & ~m
                and not (self.reads | o.reads) & (self.reduced | o.reduced))

    def merge(self, o: _Group) -> None:
        self.nodes += o.nodes
        self.members |= o.members
        self.anc |= o.anc
        self.desc |= o.desc
        self.reads |= o.reads
        self.reduced |= o.reduced


def _fusable(n: OpNode) -> bool:
    return n.op.elementwise and n.op.name != "stop_gradient" and len(n.outputs) == 1


def fuse(g: Graph) -> Graph:
    """Replace groups of two or more fusable nodes by "fused" nodes holding them as subgraphs."""
    index = {n: i for i, n in enumerate(g.nodes)}
    prod = {v: i for i, n in enumerate(g.nodes) for v in n.outputs}
    preds = [{prod[v] for v in n.inputs if v in prod} for n in g.nodes]
    anc = [0] * len(g.nodes)
    for i, ps in enumerate(preds):
        for p in ps:
            anc[i] |= anc[p] | (1 << p)
    desc = [0] * len(g.nodes)
    for i in range(len(g.nodes) - 1, -1, -1):
        for p in preds[i]:
            desc[p] |= desc[i] | (1 << i)

    group_of: dict[int, _Group] = {}
    for n in g.nodes:
        i = index[n]
        red = n.op.name in REDUCTIONS
        if not (_fusable(n) or red):
            continue
        shape = n.inputs[0].shape if red else n.outputs[0].shape
        reads = 0
        for p in preds[i]:
            if g.nodes[p].op.name in REDUCTIONS:
                reads |= 1 << p
        grp = _Group(shape, n, i, anc[i], desc[i], reads, red)
        group_of[i] = grp
        for p in sorted(preds[i], reverse=True):
            other = group_of.get(p)
            if other is None or other is grp or other.shape != shape or not grp.can_merge(other):
                continue
            other.merge(grp)
            for j, _ in grp.nodes:
                group_of[j] = other
            grp = other

    distinct = list({id(grp): grp for grp in group_of.values()}.values())
    groups = {id(grp): grp for grp in _merge_independent(distinct) if len(grp.nodes) >= 2}
    original = list(g.nodes)
    users = g.users()
    roots = set(g.roots())
    # Each group is convex, but two groups can still reach each other through outside nodes (A -> B
    # and B -> A): then the smallest group on the cycle is left unfused, until the graph is acyclic.
    while True:
        fused_of: dict[OpNode, _Group] = {}
        replaced: dict[OpNode, OpNode | None] = {}
        for k, grp in enumerate(groups.values()):
            grp.nodes.sort(key=lambda t: t[0])
            members = [n for _, n in grp.nodes]
            fused = _make_fused(g, members, users, roots, k)
            fused_of[fused] = grp
            for m in members:
                replaced[m] = None
            replaced[members[-1]] = fused
        g.nodes = [replaced.get(n, n) for n in original if replaced.get(n, n) is not None]
        try:
            return toposort(g)
        except CycleError as e:
            stuck = [fused_of[n] for n in e.nodes if n in fused_of]
            if not stuck:
                raise
            victim = min(stuck, key=lambda grp: len(grp.nodes))
            del groups[id(victim)]
            for n in original:            # give every output back to its own node before retrying
                for i, v in enumerate(n.outputs):
                    v.producer, v.index = n, i


def _merge_independent(groups: list[_Group], window: int = 16) -> list[_Group]:
    """Horizontal fusion: elementwise groups of one shape with no path between them (a step's parameter
    updates) become one kernel. Groups with reductions stay apart; each group is tried against the last
    `window` groups of its shape, so the pass stays linear."""
    out: list[_Group] = []
    open_by_shape: dict[tuple, list[_Group]] = {}
    for grp in sorted(groups, key=lambda grp: grp.nodes[0][0]):
        if grp.reduced:
            out.append(grp)
            continue
        same = open_by_shape.setdefault(grp.shape, [])
        into = next((o for o in reversed(same[-window:]) if o.can_merge(grp)), None)
        if into is None:
            same.append(grp)
            out.append(grp)
        else:
            into.merge(grp)
    return out


def _make_fused(g: Graph, nodes: list[OpNode], users, roots, k: int) -> OpNode:
    members = set(nodes)
    produced = {v for m in nodes for v in m.outputs}
    sub = Graph()
    inner: dict[Value, Value] = {}
    ext_inputs: list[Value] = []
    for m in nodes:
        for v in m.inputs:
            if v not in produced and v not in inner:
                if v.kind == "const" and v.size == 1:
                    inner[v] = sub.add_const(v.data, v.name)   # scalar constants live in the kernel
                else:
                    inner[v] = sub.add_input(v.shape, v.dtype, v.name)
                    ext_inputs.append(v)
        outs = sub.append(m.op, m.attrs, [inner[v] for v in m.inputs], [v.type for v in m.outputs], m.loc, m.role)
        inner.update(zip(m.outputs, outs))
    ext_outputs = [v for m in nodes for v in m.outputs
                   if v in roots or any(u not in members for u in users.get(v, ()))]
    sub.outputs = [inner[v] for v in ext_outputs]
    ops = [m.op.name for m in nodes]
    name = f"fused{k}_" + "_".join(dict.fromkeys(ops))[:48]
    last = nodes[-1]
    node = OpNode(_fused_op(), {"name": name, "subgraph": sub}, ext_inputs, [], last.loc, last.role)
    for i, v in enumerate(ext_outputs):
        v.producer, v.index = node, i
        node.outputs.append(v)
    return node


def _fused_op():
    from graphc.ir import get_op
    return get_op("fused")
