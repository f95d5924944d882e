"""The fused op: a group of elementwise ops (optionally ending in reductions) kept as a subgraph.

A fused node's attrs are {"name": kernel name, "subgraph": Graph}. The subgraph's inputs match the
node's inputs one to one, its outputs the node's outputs. Executors generate a kernel for it; the
kernel given here is the reference (the subgraph run op by op).
"""
from __future__ import annotations

from .. import attrs as A
from ..graph import Graph
from ..interpret import evaluate
from ..opdef import OpDef, register

SUBGRAPH = A.Attr("a Graph", lambda v: isinstance(v, Graph))


def _infer(types, attrs):
    return [v.type for v in attrs["subgraph"].outputs]


def _kernel(xp, *arrays, subgraph, name):
    env = evaluate(subgraph, dict(zip(subgraph.inputs, arrays)), xp)
    outs = [env[v] for v in subgraph.outputs]
    return outs[0] if len(outs) == 1 else tuple(outs)


FUSED = register(OpDef("fused", "fused", _infer, _kernel, arity=None, attrs={"name": A.IDENT, "subgraph": SUBGRAPH}))
