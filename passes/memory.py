"""Memory planning: value lifetimes, persistent buffers reused across values and calls, in-place writes.

The plan is an analysis consumed by the lowering: large intermediates that never leave a call (not
outputs, not state updates, not viewed by either) get a slot, a buffer allocated once per plan; a slot is
reused by later values of the same shape and dtype once every view of its current value is dead, and an
elementwise op may write into the slot of an operand that dies at that op (in place). Other large values
are released right after their last use.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.ir import Graph, Value
from graphc.ir.ops.fused import iteration_shape
from graphc.ir.symbols import is_static

from .schedule import wait_points

MIN_BYTES = 1 << 16            # smaller arrays come from NumPy's allocator cache anyway
OUT_OPS = frozenset({"matmul", "concat"})  # non-elementwise ops whose CPU code accepts out=


@dataclass
class MemoryPlan:
    """Where each large intermediate lives and when values die."""

    slots: list[tuple[tuple[int, ...], np.dtype]] = field(default_factory=list)
    slot_of: dict[Value, int] = field(default_factory=dict)
    release_after: dict[int, list[Value]] = field(default_factory=dict)   # node index -> values to drop
    inplace: dict[Value, Value] = field(default_factory=dict)   # new state value -> state input it overwrites

    @property
    def bytes(self) -> int:
        """Total bytes of the persistent buffers whose shapes are static (the others depend on the call)."""
        return int(sum(np.prod(s, dtype=np.int64) * d.itemsize for s, d in self.slots if is_static(s)))


def _large(v: Value, min_bytes: int) -> bool:
    """At least min_bytes, or of a symbolic size (a batch: planned as large)."""
    size = v.size
    return type(size) is not int or size * v.dtype.itemsize >= min_bytes


def _writes_out(n) -> bool:
    # A collective whose result has its operand's type (an all-reduce's gradient bucket) receives into out=.
    same = n.op.collective is not None and n.outputs[0].type == n.inputs[0].type
    return (n.op.elementwise and n.op.ufunc is not None) or n.op.name in OUT_OPS or same


def plan_memory(g: Graph, min_bytes: int = MIN_BYTES) -> MemoryPlan:
    """Assign slots and release points for the nodes of `g` in their current order."""
    storage: dict[Value, Value] = {}     # value -> the value owning its memory (views share it)
    for n in g.nodes:
        for v in n.outputs:
            storage[v] = storage.get(n.inputs[0], n.inputs[0]) if n.op.view and n.inputs else v
    last: dict[Value, int] = {}
    reads = _read_until(g)
    for i, n in enumerate(g.nodes):
        for v in n.inputs:
            last[storage.get(v, v)] = max(last.get(storage.get(v, v), -1), reads[i])
            last[v] = max(last.get(v, -1), reads[i])
    dies: dict[int, list[Value]] = {}
    for v, i in last.items():
        if storage.get(v, v) is v:
            dies.setdefault(i, []).append(v)
    escaping = {storage.get(v, v) for v in g.roots()}
    big = {v for n in g.nodes for v in n.outputs if _large(v, min_bytes)}

    mp = MemoryPlan(inplace=_inplace_updates(g, min_bytes))
    free: dict[tuple, list[int]] = {}
    holder: dict[int, Value] = {}
    for i, n in enumerate(g.nodes):
        out = n.outputs[0]
        key = (out.shape, out.dtype.str)
        slotted = (len(n.outputs) == 1 and _writes_out(n) and out in big and out not in escaping
                   and storage[out] is out)
        if slotted:
            slot = None
            if n.op.elementwise:  # in place: an operand's slot that dies here
                for v in n.inputs:
                    s = mp.slot_of.get(storage.get(v, v))
                    if s is not None and last.get(storage[v]) == i and (v.shape, v.dtype.str) == key \
                            and storage[v] is v:
                        slot = s
                        break
            if slot is None and free.get(key):
                slot = free[key].pop()
            if slot is None:
                slot = len(mp.slots)
                mp.slots.append((out.shape, out.dtype))
            mp.slot_of[out] = slot
            holder[slot] = out
        # Values whose storage dies at node i: their slots return to the pool, others are released.
        for st in dies.get(i, ()):
            if st in escaping:
                continue
            s = mp.slot_of.get(st)
            if s is not None and holder.get(s) is st:
                free.setdefault((st.shape, st.dtype.str), []).append(s)
                holder.pop(s)
            elif st in big and st.kind == "op":
                mp.release_after.setdefault(i, []).append(st)
    return mp


def _read_until(g: Graph) -> list[int]:
    """For each node, the index until which it reads its operands: its own, or for a collective (which
    the runtime only starts there) the index of the node before which the runtime waits for it."""
    until = list(range(len(g.nodes)))
    for i, j in wait_points(g).items():
        until[i] = j
    return until


def peak_bytes(g: Graph, mp: MemoryPlan, inline_max: int = 0) -> int:
    """An estimate of the most memory one call of `g`, lowered with `mp`, holds at once (in bytes).

    Counted: the slots; every array a node makes (neither a slot nor a view) from that node until it is
    released or the call ends; while a node runs, its results' size again unless it writes them directly
    (a temporary), and the operands a fused loop copies (views). Fused groups of at most `inline_max`
    elements run as inline calls whose intermediates live to the end of the call. Inputs and states belong
    to the caller and are not counted, nor are values whose size depends on free dimensions (the caller's
    arguments decide them).
    """
    sizes: dict[Value, int] = {}
    live = peak = 0
    for i, n in enumerate(g.nodes):
        made = 0
        for v in n.outputs:
            if v not in mp.slot_of and not n.op.view:
                sizes[v] = _bytes(v)
                made += sizes[v]
        work = 0 if _writes_out(n) or n.op.family == "fused" else made
        if n.op.family == "fused":
            sub = n.attrs["subgraph"]
            shape = iteration_shape(sub)
            if is_static(shape) and int(np.prod(shape, dtype=np.int64)) <= inline_max:
                outs = set(sub.outputs)
                made += sum(_bytes(v) for m in sub.nodes for v in m.outputs if v not in outs)
            else:   # a loop kernel reads its operands contiguous: views (a broadcast) are copied first
                work += sum(_bytes(v) for v in n.inputs if v.producer is not None and v.producer.op.view)
        live += made
        peak = max(peak, live + work)
        for v in mp.release_after.get(i, ()):
            live -= sizes.pop(v, 0)
    return mp.bytes + peak


def _bytes(v: Value) -> int:
    """v's size in bytes (0 when free dimensions decide it)."""
    return v.size * v.dtype.itemsize if type(v.size) is int else 0


def _inplace_updates(g: Graph, min_bytes: int) -> dict[Value, Value]:
    """State updates whose new value may be written into the state's own buffer.

    Safe when the state is read by nothing scheduled after the op producing its new value (inside a
    fused group: by nothing after that value's own node), and neither is a graph output. The buffer is
    the parameter's own, as in MegEngine's in-place optimizer updates; tensors sharing it see the update.
    """
    index = {n: i for i, n in enumerate(g.nodes)}
    reads = _read_until(g)
    readers: dict[Value, list[int]] = {}
    for i, n in enumerate(g.nodes):
        for v in n.inputs:
            readers.setdefault(v, []).append(reads[i])
    outputs = set(g.outputs)
    out: dict[Value, Value] = {}
    for s, v in g.updates:
        p = v.producer
        if (p is None or v.type != s.type or s in outputs or v in outputs or not _large(s, min_bytes)
                or not ((p.op.elementwise and p.op.ufunc is not None) or p.op.family == "fused")
                or max(readers.get(s, [-1])) > index[p]):
            continue
        if p.op.family == "fused" and not _last_reader_inside(p, s, v):
            continue
        out[v] = s
    return out


def _last_reader_inside(node, s: Value, v: Value) -> bool:
    """In a fused group, v's node is the last to read the group input standing for s."""
    sub = node.attrs["subgraph"]
    inner_s = [w for w, outer in zip(sub.inputs, node.inputs) if outer is s]
    inner_v = sub.outputs[node.outputs.index(v)]
    nodes = sub.nodes
    pos = next(i for i, m in enumerate(nodes) if inner_v in m.outputs)
    return all(i <= pos for i, m in enumerate(nodes) for w in m.inputs if w in inner_s)
