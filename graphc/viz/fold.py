"""Folding repeated structure: a run of identical blocks (an unrolled loop, layer after layer) is drawn
as its first block plus one box standing for the other copies.

Blocks are compared by a signature per operator (op, role, attributes, result types, and for each
operand the kind of thing that produced it), not by exact wiring: the gradient of layer k reads the
activations of layer k, so exact offsets differ from block to block while the picture is the same.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.ir import Value

from .scene import Item, Scene


@dataclass(eq=False)
class Fold:
    """Copies of a block hidden behind one box."""

    copies: int
    ops: list[str]
    hidden: list[Item]
    feeds: dict[Fold, int] = field(default_factory=dict)   # later folds reading our values: how many
    hidden_outputs: int = 0


def fold_repeats(scene: Scene, min_copies: int = 3, min_hidden: int = 8, max_period: int = 256) -> list[Fold]:
    """Replace runs of >= `min_copies` identical blocks in `scene.items` by fold boxes; return the folds."""
    items = scene.items
    runs = _find_runs(_signatures(items), min_copies, min_hidden, max_period)
    if not runs:
        return []
    out: list[Item] = []
    folds: list[Fold] = []
    owner: dict[int, Fold] = {}          # item index -> the fold hiding it
    last = 0
    for start, period, end in runs:
        out.extend(items[last:start])
        hidden = items[start:end]
        fold = Fold((end - start) // period, [it.op for it in hidden[:period]], hidden)
        roles = frozenset().union(*(it.roles for it in hidden))
        role = hidden[0].role if len({it.role for it in hidden}) == 1 else "mixed"
        out.append(Item(f"r{len(folds)}", "fold", role, [], [], roles=roles, fold=fold))
        for k in range(start, end):
            owner[k] = fold
        folds.append(fold)
        last = end
    out.extend(items[last:])
    _wire(items, out, owner, scene)
    scene.items = out
    return folds


def _signatures(items: list[Item]) -> np.ndarray:
    producer: dict[Value, tuple[str, int]] = {}
    ids: dict[tuple, int] = {}
    sigs = []
    for it in items:
        attrs = () if it.node is None else tuple((k, repr(a)) for k, a in it.node.attrs.items() if k != "subgraph")
        refs = tuple(producer.get(v, (v.kind, -1)) + (v.shape, v.dtype.str) for v in it.ins)
        kernel = tuple(it.group.ops) if it.group is not None else ()
        sig = (it.op, it.role, attrs, kernel, tuple((v.shape, v.dtype.str) for v in it.outs), refs)
        sigs.append(ids.setdefault(sig, len(ids)))
        for j, v in enumerate(it.outs):
            producer[v] = (it.op, j)
    return np.asarray(sigs, dtype=np.int64)


def _find_runs(s: np.ndarray, min_copies: int, min_hidden: int, max_period: int) -> list[tuple[int, int, int]]:
    """Greedy left to right: (start of the hidden copies, period, end) for each run worth folding."""
    n = len(s)
    best_h = np.zeros(n, dtype=np.int64)     # items hidden if a run is folded at i
    best_p = np.zeros(n, dtype=np.int64)
    idx = np.arange(n)
    for p in range(1, min(max_period, n // min_copies) + 1):
        eq = s[:n - p] == s[p:]
        stops = np.append(np.flatnonzero(~eq), n - p)
        run = stops[np.searchsorted(stops, idx[:n - p])] - idx[:n - p]   # equal pairs starting at i
        hid = (run // p) * p
        hid[(run // p < min_copies - 1) | (hid < min_hidden)] = 0
        better = hid > best_h[:n - p]
        best_h[:n - p][better] = hid[better]
        best_p[:n - p][better] = p
    runs = []
    i = 0
    while i < n:
        if best_h[i]:
            p = int(best_p[i])
            runs.append((i + p, p, i + p + int(best_h[i])))
            i += p + int(best_h[i])
        else:
            i += 1
    return runs


def _wire(items: list[Item], out: list[Item], owner: dict[int, Fold], scene: Scene) -> None:
    """Give each fold box the edges of what it hides: values read from and written to visible items."""
    made_by: dict[Value, Fold] = {v: owner[k] for k, it in enumerate(items) if k in owner for v in it.outs}
    box = {it.fold: it for it in out if it.fold is not None}
    visible_reads = {v for it in out if it.fold is None for v in it.ins}
    visible_made = {v for it in out if it.fold is None for v in it.outs}
    for k, it in enumerate(items):
        fold = owner.get(k)
        if fold is None:
            continue
        b = box[fold]
        for v in it.ins:
            src = made_by.get(v)
            if src is fold:
                continue
            if src is not None:
                src.feeds[fold] = src.feeds.get(fold, 0) + 1
            elif v in visible_made or v in visible_reads:
                if v not in b.ins:
                    b.ins.append(v)
            else:   # an input, constant or other part's value only the hidden copies read
                scene.folded.add(v)
        b.outs.extend(v for v in it.outs if v in visible_reads)
    # Outputs and state updates computed only inside a fold are not drawn; the box's tooltip counts them.
    for v in list(scene.outputs) + [v for _, v in scene.updates]:
        if v in made_by and v not in visible_reads:
            made_by[v].hidden_outputs += 1
    scene.outputs = [v for v in scene.outputs if v not in made_by or v in visible_reads]
    scene.updates = [(s, v) for s, v in scene.updates if v not in made_by or v in visible_reads]
