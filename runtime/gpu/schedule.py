"""Splitting a fused subgraph into kernel stages: reductions with their elementwise prologue, then
elementwise kernels for the remaining outputs (one per output shape). Pure Python, no CuPy.

A fused group normally becomes one stage. More appear only when a value computed after a reduction
is needed (softmax-like groups) or outputs have different shapes; each stage reads the subgraph's
inputs, its non-scalar constants and the results of earlier stages.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.ir import Graph, OpNode, Value
from graphc.ir.ops.common import normalize_axes

from .expr import Unsupported


@dataclass
class Stage:
    """One generated kernel: what it reads, what it computes per element, and what it writes."""

    kind: str                                   # "elementwise" | "reduce"
    domain: tuple[int, ...]                     # iteration shape (reduce: the reduced operand's shape)
    leaves: list[Value]                         # values read from memory, in argument order
    nodes: list[OpNode]                         # elementwise nodes evaluated per element, in order
    outputs: list[Value]                        # values written, in argument order
    reductions: list[OpNode] = field(default_factory=list)
    axes: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        """Number of elements of the iteration domain."""
        return int(np.prod(self.domain, dtype=np.int64))


def is_inline_const(v: Value) -> bool:
    """Constants of one element become literals in the source instead of kernel arguments."""
    return v.kind == "const" and v.size == 1


def _needed_nodes(sub: Graph) -> set[OpNode]:
    need, stack = set(), list(sub.outputs)
    while stack:
        v = stack.pop()
        n = v.producer
        if n is not None and n not in need:
            need.add(n)
            stack.extend(n.inputs)
    return need


def _cone(v: Value, ready: set[Value], acc_nodes: set[OpNode], acc_leaves: list[Value]) -> bool:
    """Collect the elementwise nodes and leaves that compute `v`; False if an unfinished reduction feeds it."""
    if v in ready or is_inline_const(v):
        if not is_inline_const(v) and v not in acc_leaves:
            acc_leaves.append(v)
        return True
    n = v.producer
    if n is None:
        raise Unsupported(f"{v} is neither an input, a constant nor computed in the subgraph")
    if n.op.reduction is not None:
        return False
    if not n.op.elementwise:
        raise Unsupported(f"op {n.op.name!r} ({n.op.family}) cannot be part of a generated kernel")
    if len(n.outputs) != 1:
        raise Unsupported(f"op {n.op.name!r} has several outputs")
    if n in acc_nodes:
        return True
    ok = all(_cone(i, ready, acc_nodes, acc_leaves) for i in n.inputs)
    if ok:
        acc_nodes.add(n)
    return ok


def _ordered(sub: Graph, nodes: set[OpNode]) -> list[OpNode]:
    return [n for n in sub.nodes if n in nodes]


def schedule(sub: Graph) -> list[Stage]:
    """The kernel stages that compute `sub.outputs` (raises Unsupported for ops without a CUDA form)."""
    ready: set[Value] = set(sub.inputs) | {c for c in sub.consts if not is_inline_const(c)}
    need = _needed_nodes(sub)
    pending = [n for n in sub.nodes if n in need and n.op.reduction is not None]
    stages: list[Stage] = []
    while pending:
        groups: dict[tuple, list[tuple[OpNode, set, list]]] = {}
        for r in pending:
            nodes: set[OpNode] = set()
            leaves: list[Value] = []
            if _cone(r.inputs[0], ready, nodes, leaves):
                x = r.inputs[0]
                key = (x.shape, normalize_axes(r.attrs["axis"], x.ndim))
                groups.setdefault(key, []).append((r, nodes, leaves))
        if not groups:
            raise Unsupported("reductions depend on each other in a cycle")  # cannot happen in a DAG
        for (shape, axes), members in groups.items():
            nodes = set().union(*(m[1] for m in members))
            leaves: list[Value] = []
            for m in members:
                leaves += [v for v in m[2] if v not in leaves]
            reds = [m[0] for m in members]
            stages.append(Stage("reduce", shape, leaves, _ordered(sub, nodes),
                                [r.outputs[0] for r in reds], reds, axes))
            ready |= {r.outputs[0] for r in reds}
        done = {m[0] for ms in groups.values() for m in ms}
        pending = [r for r in pending if r not in done]
    by_shape: dict[tuple, list[Value]] = {}
    for v in sub.outputs:
        if v.producer is None or v.producer.op.reduction is None:
            by_shape.setdefault(v.shape, [])
            if v not in by_shape[v.shape]:
                by_shape[v.shape].append(v)
    for shape, outs in by_shape.items():
        nodes: set[OpNode] = set()
        leaves: list[Value] = []
        for v in outs:
            if not _cone(v, ready, nodes, leaves):
                raise Unsupported(f"output {v} depends on an unscheduled reduction")
        stages.append(Stage("elementwise", shape, leaves, _ordered(sub, nodes), outs))
    return stages
