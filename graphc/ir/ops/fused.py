"""The fused op: a group of elementwise ops (optionally ending in reductions) kept as a subgraph.

A fused node's attrs are {"name": kernel name, "subgraph": Graph}. The subgraph's inputs match the
node's inputs one to one, its outputs the node's outputs. Executors generate a kernel for it; the
kernel given here is the reference (the subgraph run op by op).

The generated CPU loops index every elementwise result at every position of one iteration shape, so
they rely on the form the fusion pass gives a group; `group_problem` says when a subgraph lacks it
(plan files holding such a group are refused, and the runtime runs hand-built ones op by op).
"""
from __future__ import annotations

from .. import attrs as A
from ..graph import Graph, Value
from ..interpret import evaluate
from ..opdef import OpDef, register

SUBGRAPH = A.Attr("a Graph", lambda v: isinstance(v, Graph))


def iteration_shape(sub: Graph) -> tuple[int, ...]:
    """The shape a fused subgraph iterates over (its elementwise results' shape)."""
    for n in sub.nodes:
        if n.op.elementwise:
            return n.outputs[0].shape
    return sub.nodes[0].inputs[0].shape


def group_problem(sub: Graph) -> str | None:
    """Why `sub` is not a group as the fusion pass builds it, or None when it is one.

    Such a group has fusable single-output nodes, at least one elementwise; every elementwise result has
    the iteration shape; reductions read a value of that shape and nothing reads their results; constants
    are scalars; the outputs are distinct results of its nodes."""
    if not sub.nodes or not sub.outputs or sub.updates:
        return "a fused subgraph needs nodes, outputs and no state updates"
    for n in sub.nodes:
        if not n.op.fusable or len(n.outputs) != 1:
            return f"op {n.op.name!r} cannot be part of a fused group"
    if not any(n.op.elementwise for n in sub.nodes):
        return "a fused group needs an elementwise op"
    shape = iteration_shape(sub)
    reduced: set[Value] = set()
    for n in sub.nodes:
        if any(v in reduced for v in n.inputs):
            return f"op {n.op.name!r} reads a reduction of its own group"
        if n.op.reduction is not None:
            if n.inputs[0].shape != shape:
                return f"reduction {n.op.name!r} reads shape {n.inputs[0].shape}, not the group's {shape}"
            reduced.add(n.outputs[0])
        elif n.outputs[0].shape != shape:
            return f"op {n.op.name!r} gives shape {n.outputs[0].shape}, not the group's {shape}"
    if any(c.size != 1 for c in sub.consts):
        return "a fused group's constants must be scalars"
    produced = {n.outputs[0] for n in sub.nodes}
    if len(set(sub.outputs)) != len(sub.outputs) or not all(v in produced for v in sub.outputs):
        return "a fused group's outputs must be distinct results of its nodes"
    return None


def _infer(types, attrs):
    return [v.type for v in attrs["subgraph"].outputs]


def _kernel(xp, *arrays, subgraph, name):
    env = evaluate(subgraph, dict(zip(subgraph.inputs, arrays)), xp)
    outs = [env[v] for v in subgraph.outputs]
    return outs[0] if len(outs) == 1 else tuple(outs)


FUSED = register(OpDef("fused", "fused", _infer, _kernel, arity=None, attrs={"name": A.IDENT, "subgraph": SUBGRAPH}))
