"""Deciding the picture's nodes and edges: operator boxes, data nodes, their clusters and copies."""
from __future__ import annotations

from graphc.ir import FORWARD, GRADIENT, UPDATE, Value

from . import style
from .dot import ROOT, ClusterTree, attr_list
from .scene import Group, Item, Scene

NEAR = 40     # in compact pictures, readers further than this many operators get their own copy of a value


class Writer:
    """Collects node statements (filed by cluster) and edges for one scene."""

    def __init__(self, scene: Scene, shapes: bool, group_roles: bool, compact: bool) -> None:
        self.s = scene
        self.params = scene.params
        self.shapes = shapes
        self.group_roles = group_roles
        self.compact = compact
        self.clusters = ClusterTree()
        self.edges: list[str] = []
        self.producer: dict[Value, Item] = {v: it for it in scene.items for v in it.outs}
        self.at = {it: k for k, it in enumerate(scene.items)}
        self.home_at: dict[Value, int] = {}          # where a value first appears in operator order
        for k, it in enumerate(scene.items):
            for v in it.outs + it.ins:
                self.home_at.setdefault(v, k)
        self.fold_key = {it.fold: it.key for it in scene.items if it.fold is not None}
        self.values: dict[Value, None] = {}
        self.as_edges: dict[Value, int] = {}
        self.copies: set[str] = set()
        self.kinds: set[str] = set()
        self.n_ops = 0

    def build(self) -> None:
        """Fill `clusters` and `edges`."""
        s = self.s
        if FORWARD in s.wanted:   # an input nothing reads is still part of the forward signature
            self.values.update((v, None) for v in s.unread if v not in s.folded)
        for it in s.items:
            self.values.update((v, None) for v in it.ins + it.outs)
        updates = s.updates if UPDATE in s.wanted else []
        self.values.update((v, None) for u in updates for v in u)
        # The gradient part starts from the loss: a dashed edge from it to the backward's seed.
        seeds = [(y, d) for y, d in s.seeds if d in self.values] if GRADIENT in s.wanted else []
        self.values.update((y, None) for y, _ in seeds)
        if self.compact:
            self.as_edges = self._one_use(set(s.outputs) | {v for u in updates for v in u})
            for v in self.as_edges:
                del self.values[v]
        self.drawn_groups = self._drawn_groups()
        for it in s.items:
            self._item(it)
        outputs = set(s.outputs)
        for v in self.values:
            a, cluster = self._value_attrs(v, v in outputs)
            self.clusters.place(f"v{v.id}", a, cluster)
        for st, v in updates:
            prod = self.producer.get(v)
            target = self._ref(st, self.home_at.get(v, 0), self._top_cluster(prod) if prod else ROOT)
            self.edges.append(f"v{v.id} -> {target} {attr_list(style.UPDATE_EDGE)};")
        for y, d in seeds:
            self.edges.append(f"v{y.id} -> v{d.id} {attr_list(style.SEED_EDGE)};")
        self._results_below_kernels()
        self.has_outputs = bool(outputs & self.values.keys())
        self.has_updates = bool(updates)
        self.has_seeds = bool(seeds)

    def legend(self, folded: bool) -> list[tuple[str, dict]]:
        """Legend entries for what was drawn."""
        roles = {r for it in self.s.items for r in it.roles}
        collectives = any(it.fold is None and it.kernel is None and style.is_collective(it.op) for it in self.s.items)
        return style.legend_entries(self.kinds, roles, bool(self.drawn_groups), folded, self.has_outputs,
                                    self.has_updates, self.has_seeds, collectives)

    def _results_below_kernels(self) -> None:
        """An opened kernel's results are drawn below its whole cluster (invisible edges from its ops), so
        data keeps flowing down rather than leaving the cluster sideways halfway."""
        members: dict[Group, list[Item]] = {}
        for it in self.s.items:
            if it.group is not None and it.kernel is None:
                members.setdefault(_outermost(it.group), []).append(it)
        for v in self.values:
            prod = self.producer.get(v)
            if prod is None or prod.group is None or prod.kernel is not None:
                continue
            top, home = _outermost(prod.group), self.s.home.get(v)
            while home is not None and home is not top:
                home = home.parent
            if home is None:   # made inside the kernel, drawn outside it: below every op not reading it
                reach = {v}
                for it in members[top]:
                    if reach.intersection(it.ins):
                        reach.update(it.outs)
                    elif it is not prod and not reach.intersection(it.outs):
                        self.edges.append(f"{it.key} -> v{v.id} {attr_list({'style': 'invis'})};")

    # -- compact pictures ----------------------------------------------------------------------------
    def _one_use(self, keep: set[Value]) -> dict[Value, int]:
        """Unnamed op results read once, close by: drawn as an edge from producer to reader."""
        readers: dict[Value, list[int]] = {}
        for k, it in enumerate(self.s.items):
            for v in it.ins:
                readers.setdefault(v, []).append(k)
        return {v: r[0] for v, r in readers.items() if len(r) == 1 and v.name is None and v in self.producer
                and v not in keep and r[0] - self.home_at[v] <= NEAR}

    def _ref(self, v: Value, at: int, cluster: str) -> str:
        """The node an edge leaves from: `v` itself, or in compact pictures a copy of it near a far reader.

        Long edges are what makes dot slow (each is a chain of virtual nodes crossing everything between
        its ends) and hard to follow; parameters read by the forward, gradient and update parts are typical.
        """
        if not self.compact or abs(at - self.home_at.get(v, at)) <= NEAR:
            return f"v{v.id}"
        key = f"v{v.id}_{at // NEAR}"
        if key not in self.copies:
            self.copies.add(key)
            a, _ = self._value_attrs(v, False)
            a["tooltip"] += "\n(drawn again near its readers)"
            self.clusters.place(key, a, cluster)
        return key

    # -- clusters -----------------------------------------------------------------------------------
    def _drawn_groups(self) -> dict[Group, str]:
        """Each drawn fused group -> the role of the ops drawn in it ("mixed" when they differ)."""
        roles: dict[Group, set[str]] = {}
        for it in self.s.items:
            grp = it.kernel or it.group
            while grp is not None:
                roles.setdefault(grp, set()).update(it.roles)
                grp = grp.parent
        return {g: next(iter(r)) if len(r) == 1 else "mixed" for g, r in roles.items()}

    def _role_cluster(self, role: str) -> str:
        if not self.group_roles or role not in style.ROLE_TITLE or role == "mixed":
            return ROOT
        return self.clusters.add_cluster(f"cluster_role_{role}", ROOT, style.role_cluster(role))

    def _group_cluster(self, grp: Group) -> str:
        parent = self._group_cluster(grp.parent) if grp.parent else self._role_cluster(self.drawn_groups[grp])
        return self.clusters.add_cluster(f"cluster_{grp.key}", parent,
                                         style.kernel_cluster(grp.name, grp.elements, grp.ops))

    def _top_cluster(self, it: Item) -> str:
        """The top-level cluster holding `it`: its role's, or none when a kernel of mixed roles holds it."""
        top = it.kernel or it.group
        if top is None:
            return self._role_cluster(it.role)
        while top.parent is not None:
            top = top.parent
        return self._role_cluster(self.drawn_groups[top])

    # -- nodes and edges ----------------------------------------------------------------------------
    def _item(self, it: Item) -> None:
        self.n_ops += 1
        role = it.role if it.role in style.ROLE_LINE else "mixed"
        if it.fold is not None:
            f = it.fold
            a = style.fold_box(f.copies, f.ops, len(f.hidden), f.hidden_outputs, role)
            cluster = top = self._role_cluster(role)
            for other, n in f.feeds.items():
                self.edges.append(f"{it.key} -> {self.fold_key[other]} "
                                  f"{attr_list({'label': f'{n} values', 'fontsize': '8', 'style': 'bold'})};")
        elif it.kernel is not None:
            a = style.kernel_box(it.kernel.name, it.kernel.ops, it.roles, it.node.loc)
            cluster, top = self._group_cluster(it.kernel), self._top_cluster(it)
        else:
            a = style.op_box(it.op, role, it.node.attrs, it.node.loc)
            cluster = self._group_cluster(it.group) if it.group else self._role_cluster(role)
            top = self._top_cluster(it)
        self.clusters.place(it.key, a, cluster)
        color = {"color": style.ROLE_LINE[role]}
        at = self.at[it]
        for v in it.ins:
            if v in self.as_edges:
                tip = {**color, "tooltip": style.value_tooltip(v, "value", None)}
                self.edges.append(f"{self.producer[v].key} -> {it.key} {attr_list(tip)};")
            else:
                self.edges.append(f"{self._ref(v, at, top)} -> {it.key} {attr_list(color)};")
        for v in it.outs:
            if v not in self.as_edges:
                self.edges.append(f"{it.key} -> v{v.id} {attr_list(color)};")

    def _value_attrs(self, v: Value, is_output: bool) -> tuple[dict, str]:
        """A data node's attributes and the cluster it belongs in."""
        prod = self.producer.get(v)
        kind = style.data_kind(v, self.params, self.producer)
        self.kinds.add(kind)
        node = prod.node if prod is not None and prod.node is not None else v.producer
        a = {"label": "\n".join(style.value_label(v, self.shapes)), "shape": "ellipse", **style.DATA[kind],
             "tooltip": style.value_tooltip(v, kind, node.loc if node is not None else None)}
        if kind in ("value", "boundary"):
            role = prod.role if prod is not None else getattr(v.producer, "role", "mixed")
            a["color"] = style.ROLE_LINE.get(role, style.ROLE_LINE["mixed"])
        if is_output:
            a["peripheries"] = "2"
        home = self.s.home.get(v)
        if home is not None and home in self.drawn_groups:
            return a, self._group_cluster(home)
        if prod is not None and kind == "value":
            return a, self._top_cluster(prod)
        return a, ROOT


def _outermost(grp: Group) -> Group:
    while grp.parent is not None:
        grp = grp.parent
    return grp
