"""The picture before it becomes DOT: operator items (fused subgraphs opened or not), groups, parts."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from graphc.ir import FORWARD, GRADIENT, UPDATE, Graph, OpNode, Value

PARTS = {"forward": {FORWARD}, "gradient": {GRADIENT}, "update": {UPDATE}, "all": {FORWARD, GRADIENT, UPDATE}}
# A backward's seed of ones is named ∂loss/∂loss (graphc.jit names it so): the picture links it to `loss`.
SEED = re.compile(r"^∂(.+)/∂\1$")


@dataclass(eq=False)
class Group:
    """A fused kernel, drawn as a cluster labelled with its name and element count."""

    key: str
    name: str
    elements: int
    ops: list[str]
    parent: Group | None


@dataclass(eq=False)
class Item:
    """One operator box: an op node, a collapsed fused node, or a folded run of repeated blocks."""

    key: str
    op: str
    role: str
    ins: list[Value]
    outs: list[Value]
    group: Group | None = None          # the fused group it is drawn in
    node: OpNode | None = None
    roles: frozenset = frozenset()      # roles inside (a collapsed fused node may mix them)
    kernel: Group | None = None         # set when this item is a collapsed fused node
    fold: object = None                 # set when this item stands for folded repeats (fold.Fold)


@dataclass(eq=False)
class Scene:
    """Items in topological order plus what the graph says about its values."""

    items: list[Item]
    groups: list[Group]
    home: dict[Value, Group | None]      # the group a value lives in (None: outside any kernel)
    inputs: list[Value]
    outputs: list[Value]
    updates: list[tuple[Value, Value]]
    wanted: set[str]
    params: set[Value] = field(default_factory=set)   # drawn as parameters
    unread: list[Value] = field(default_factory=list)  # inputs nothing reads (drawn with the forward part)
    seeds: list[tuple[Value, Value]] = field(default_factory=list)   # (loss, its gradient seed)
    folded: set[Value] = field(default_factory=set)   # values only folded copies read: not drawn


def build_scene(g: Graph, part: str, collapse_fused: bool, states: frozenset[Value] = frozenset()) -> Scene:
    """Flatten `g` (opening fused subgraphs unless collapsed) and keep the items of `part`.

    Parameters are the states a step updates or the forward computation reads (a plan's weights); other
    states, such as a learning rate only the update reads, are drawn as inputs."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {sorted(PARTS)}, got {part!r}")
    items: list[Item] = []
    groups: list[Group] = []
    home: dict[Value, Group | None] = {}
    _flatten(g.nodes, {}, None, items, groups, home, collapse_fused)
    wanted = PARTS[part]
    kept = [it for it in items if it.roles & wanted]
    read = {v for it in items for v in it.ins}
    params = {s for s, _ in g.updates} | (states & _forward_reads(g.nodes))
    unread = [v for v in g.inputs if v not in read]
    return Scene(kept, groups, home, list(g.inputs), list(g.outputs), list(g.updates), wanted, params, unread,
                 _seeds(items))


def _forward_reads(nodes: list[OpNode]) -> set[Value]:
    """Values read by a forward op, looking inside fused kernels (a kernel may mix forward and update ops)."""
    out: set[Value] = set()
    for n in nodes:
        sub = n.attrs.get("subgraph") if n.op.name == "fused" else None
        if isinstance(sub, Graph):
            inner = _forward_reads(sub.nodes)
            out.update(v for v, s in zip(n.inputs, sub.inputs) if s in inner)
        elif n.role == FORWARD:
            out.update(n.inputs)
    return out


def _seeds(items: list[Item]) -> list[tuple[Value, Value]]:
    """(loss, seed) for each value named ∂loss/∂loss read by an item, when an item made a value named loss."""
    made = {v.name: v for it in items for v in it.outs if v.name}
    out = []
    for v in dict.fromkeys(v for it in items for v in it.ins if v.name):
        m = SEED.match(v.name)
        if m and m.group(1) in made:
            out.append((made[m.group(1)], v))
    return out


def _flatten(nodes: list[OpNode], alias: dict[Value, Value], ctx: Group | None, items: list[Item],
             groups: list[Group], home: dict[Value, Group | None], collapse: bool) -> None:
    for n in nodes:
        ins = [alias.get(v, v) for v in n.inputs]
        outs = [alias.get(v, v) for v in n.outputs]
        for v in outs:
            home.setdefault(v, ctx)
        sub = n.attrs.get("subgraph") if n.op.name == "fused" else None
        if not isinstance(sub, Graph):
            items.append(Item(f"n{len(items)}", n.op.name, n.role, ins, outs, ctx, n, frozenset({n.role})))
            continue
        grp = Group(f"f{len(groups)}", str(n.attrs.get("name", "fused")), _elements(sub), _op_names(sub), ctx)
        groups.append(grp)
        if collapse:
            items.append(Item(f"n{len(items)}", "fused", n.role, ins, outs, ctx, n, _roles(sub), grp))
            continue
        # Inside the cluster the subgraph's inputs are the node's operands and its outputs the node's
        # results, so edges run straight from outside values to the ops that read them.
        inner = dict(zip(sub.inputs, ins))
        for v, o in zip(sub.outputs, outs):
            inner.setdefault(v, o)
        for c in sub.consts:
            home.setdefault(c, grp)
        alias.update(inner)
        _flatten(sub.nodes, alias, grp, items, groups, home, collapse)


def _elements(sub: Graph) -> int:
    """The kernel's iteration space: the largest value it touches (a reduction's input included)."""
    vals = list(sub.inputs) + [v for n in sub.nodes for v in n.outputs]
    static = [v.size for v in vals if type(v.size) is int]
    symbolic = [v.size for v in vals if type(v.size) is not int]
    return symbolic[0] if symbolic else max(static, default=0)


def _op_names(sub: Graph) -> list[str]:
    out: list[str] = []
    for n in sub.nodes:
        inner = n.attrs.get("subgraph") if n.op.name == "fused" else None
        out.extend(_op_names(inner) if isinstance(inner, Graph) else [n.op.name])
    return out


def _roles(sub: Graph) -> frozenset:
    roles: set[str] = set()
    for n in sub.nodes:
        inner = n.attrs.get("subgraph") if n.op.name == "fused" else None
        roles |= _roles(inner) if isinstance(inner, Graph) else {n.role}
    return frozenset(roles)
