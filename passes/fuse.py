"""Elementwise fusion: convex groups of same-shape elementwise ops, plus the reductions they feed, and
independent groups of one shape merged into one kernel (in place).

A group never contains a path that leaves it and comes back (convexity), so replacing each group by one
fused node keeps the graph acyclic. Reductions join the group of their elementwise operand as terminal
outputs (the elementwise prologue is computed chunk by chunk and reduced on the fly); no member reads a
reduction of its own group.

Convexity is checked on demand, not with per-node reachability sets (quadratic in memory): a merge of A
and B is refused when some outside node that a member of one reads is a descendant of the other, found by
a backward search that stops at nodes older than the other group's first member. Each group remembers the
nodes a search found not to descend from it, so later searches stop there too. Convex groups can still
need each other (A's sum feeds B while B's result feeds A elsewhere); while the graph of groups has such
a cycle, the smallest group on it stays unfused.
"""
from __future__ import annotations

import heapq

from graphc.ir import Graph, OpNode, Value
from graphc.ir.ops.fused import FUSED

from .util import toposort


class _Group:
    """A candidate group of node indices (all of one iteration shape)."""

    __slots__ = ("shape", "members", "first", "last", "outside", "cleared", "cleared_max", "reductions",
                 "read_reductions")

    def __init__(self, shape: tuple, i: int, preds: list[int], is_reduction: bool, read_reductions: set[int]) -> None:
        self.shape = shape
        self.members = {i}
        self.first = self.last = i         # the oldest and newest members: nothing older descends from the group
        self.outside = set(preds)          # nodes outside the group that members read
        self.cleared: set[int] = set()     # nodes (not older than `first`) known not to descend from the group
        self.cleared_max = -1              # the newest of them
        self.reductions = {i} if is_reduction else set()
        self.read_reductions = read_reductions   # reductions whose results members read

    def absorb(self, o: _Group) -> None:
        """Take o's members (cost in o's size, so absorbing into the larger group keeps merging near-linear)."""
        self.outside.update(q for q in o.outside if q not in self.members)
        self.outside.difference_update(o.members)
        self.cleared = _cleared_by_both(self, o)
        self.cleared_max = max(self.cleared_max, o.cleared_max) if self.cleared else -1
        self.members |= o.members
        self.first, self.last = min(self.first, o.first), max(self.last, o.last)
        self.reductions |= o.reductions
        self.read_reductions |= o.read_reductions


def _cleared_by_both(a: _Group, b: _Group) -> set[int]:
    """The nodes known to descend from neither group (what the union of the two may keep)."""
    for old, new in ((a, b), (b, a)):
        if not new.cleared and new.first > max(old.last, old.cleared_max):
            # A group newer than everything the other one holds or cleared, and never searched against:
            # nothing the other cleared can descend from it, so that set stands (the common case of fusion
            # growing a group by the next node, at no cost).
            return old.cleared
    return ({k for k in a.cleared if k < b.first or k in b.cleared}
            | {k for k in b.cleared if k < a.first or k in a.cleared})


class _Fuser:
    """Grows groups over the nodes of one graph in topological order."""

    def __init__(self, g: Graph) -> None:
        self.nodes = g.nodes
        prod = {v: i for i, n in enumerate(g.nodes) for v in n.outputs}
        self.preds = [sorted({prod[v] for v in n.inputs if v in prod}) for n in g.nodes]
        self.group_of: dict[int, _Group] = {}

    def _descends(self, q: int, grp: _Group) -> bool:
        """True when node q is reachable from a member of grp (nodes found not to be join grp.cleared)."""
        cleared = grp.cleared
        if q in cleared:
            return False
        stack = [q]
        seen = {q}
        while stack:
            k = stack.pop()
            if k in grp.members:
                return True
            for p in self.preds[k]:
                if p >= grp.first and p not in cleared and p not in seen:
                    seen.add(p)
                    stack.append(p)
        cleared |= seen
        grp.cleared_max = max(grp.cleared_max, q)   # every node a search from q reaches is older than q
        return False

    def can_merge(self, a: _Group, b: _Group) -> bool:
        """The union stays convex, and no member would read a reduction of the union."""
        if (a.read_reductions | b.read_reductions) & (a.reductions | b.reductions):
            return False
        for x, y in ((a, b), (b, a)):
            for q in x.outside:
                if q not in y.members and q > y.first and self._descends(q, y):
                    return False
        return True

    def merge(self, a: _Group, b: _Group) -> _Group:
        if len(a.members) < len(b.members):
            a, b = b, a
        a.absorb(b)
        for j in b.members:
            self.group_of[j] = a
        return a

    def grow(self) -> list[_Group]:
        """Groups of same-shape fusable nodes, each merged with its producers' groups where allowed."""
        for i, n in enumerate(self.nodes):
            if not (n.op.fusable and len(n.outputs) == 1):
                continue
            red = n.op.reduction is not None
            shape = n.inputs[0].shape if red else n.outputs[0].shape
            reads_red = {p for p in self.preds[i] if self.nodes[p].op.reduction is not None}
            grp = _Group(shape, i, self.preds[i], red, reads_red)
            self.group_of[i] = grp
            for p in reversed(self.preds[i]):
                other = self.group_of.get(p)
                if other is not None and other is not grp and other.shape == shape and self.can_merge(grp, other):
                    grp = self.merge(grp, other)
        return self.groups()

    def merge_independent(self, groups: list[_Group], window: int = 16) -> list[_Group]:
        """Horizontal fusion: elementwise groups of one shape with no path between them (a step's parameter
        updates) become one kernel. Groups with reductions stay apart; each group is tried against the last
        `window` groups of its shape, so the pass stays near-linear."""
        open_by_shape: dict[tuple, list[_Group]] = {}
        for grp in sorted(groups, key=lambda grp: grp.first):
            if grp.reductions:
                continue
            same = open_by_shape.setdefault(grp.shape, [])
            for k in range(len(same) - 1, max(-1, len(same) - 1 - window), -1):
                if self.can_merge(same[k], grp):
                    same[k] = self.merge(same[k], grp)
                    break
            else:
                same.append(grp)
        return self.groups()

    def groups(self) -> list[_Group]:
        """The distinct groups."""
        return list({id(grp): grp for grp in self.group_of.values()}.values())

    def on_cycles(self, groups: list[_Group]) -> list[_Group]:
        """The groups on cycles of the graph of units (a group, or a node outside every group): Kahn's
        algorithm peels units without unplaced dependencies, then without unplaced users."""
        unit = list(range(len(self.nodes)))
        for k, grp in enumerate(groups):
            for i in grp.members:
                unit[i] = len(self.nodes) + k
        deps: dict[int, set[int]] = {}
        users: dict[int, list[int]] = {}
        for i, ps in enumerate(self.preds):
            for p in ps:
                if unit[p] != unit[i] and unit[p] not in deps.setdefault(unit[i], set()):
                    deps[unit[i]].add(unit[p])
                    users.setdefault(unit[p], []).append(unit[i])
        units = set(unit)
        waiting = {u: len(deps.get(u, ())) for u in units}
        ready = [u for u in units if not waiting[u]]
        heapq.heapify(ready)
        placed = 0
        while ready:
            u = heapq.heappop(ready)
            placed += 1
            for w in users.get(u, ()):
                waiting[w] -= 1
                if not waiting[w]:
                    heapq.heappush(ready, w)
        if placed == len(units):
            return []
        stuck = {u for u in units if waiting[u]}
        left = {u: sum(w in stuck for w in users.get(u, ())) for u in stuck}
        sinks = [u for u, n in left.items() if not n]
        while sinks:
            u = sinks.pop()
            stuck.discard(u)
            for p in deps.get(u, ()):
                if p in stuck:
                    left[p] -= 1
                    if not left[p]:
                        sinks.append(p)
        return [grp for k, grp in enumerate(groups) if len(self.nodes) + k in stuck]


def fuse(g: Graph) -> None:
    """Replace groups of two or more fusable nodes by "fused" nodes holding them as subgraphs."""
    fuser = _Fuser(g)
    groups = [grp for grp in fuser.merge_independent(fuser.grow()) if len(grp.members) >= 2]
    while cyclic := fuser.on_cycles(groups):
        groups.remove(min(cyclic, key=lambda grp: len(grp.members)))
    users = g.users()
    roots = set(g.roots())
    replaced: dict[int, OpNode | None] = {}
    for k, grp in enumerate(sorted(groups, key=lambda grp: grp.first)):
        nodes = [g.nodes[i] for i in sorted(grp.members)]
        members = set(nodes)
        results = [v for m in nodes for v in m.outputs if v in roots or any(u not in members for u in users.get(v, ()))]
        if not results:      # dead code (dce removes it): nothing to fuse it into
            continue
        for i in grp.members:
            replaced[i] = None
        replaced[max(grp.members)] = _make_fused(nodes, results, k)
    g.nodes = [replaced.get(i, n) for i, n in enumerate(g.nodes) if replaced.get(i, n) is not None]
    toposort(g)   # a group's outputs may be read by nodes placed between its members


def _make_fused(nodes: list[OpNode], ext_outputs: list[Value], k: int) -> OpNode:
    """A fused node computing `nodes` (in order) whose results are `ext_outputs`."""
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
    sub.outputs = [inner[v] for v in ext_outputs]
    name = f"fused{k}_" + "_".join(dict.fromkeys(m.op.name for m in nodes))[:48]
    last = nodes[-1]
    node = OpNode(FUSED, {"name": name, "subgraph": sub}, ext_inputs, [], last.loc, last.role)
    for i, v in enumerate(ext_outputs):
        v.producer, v.index = node, i
        node.outputs.append(v)
    return node
