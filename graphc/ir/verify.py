"""Structural checks of a Graph, run after every pass in tests."""
from __future__ import annotations

import numpy as np

from . import attrs
from .errors import GraphcError
from .graph import Graph
from .symbols import Facts, collecting


class VerifyError(GraphcError, AssertionError):
    """The graph breaks an IR invariant."""


def verify(g: Graph) -> Graph:
    """Check definition-before-use, producer links, attributes, inferred types and state updates; return `g`."""
    defined = set(g.inputs) | set(g.consts)
    for v in g.consts:
        if v.data is None or v.data.shape != v.shape or v.data.dtype != v.dtype:
            raise VerifyError(f"constant {v} does not match its data")
    for i, n in enumerate(g.nodes):
        for v in n.inputs:
            if v not in defined:
                raise VerifyError(f"node {i} ({n.op.name}) reads {v} before it is defined")
        if n.op.arity is not None and len(n.inputs) != n.op.arity:
            raise VerifyError(f"node {i} ({n.op.name}) has {len(n.inputs)} operands, the op takes {n.op.arity}")
        why = attrs.check(n.op.attrs, n.attrs, n.op.name)
        if why:
            raise VerifyError(f"node {i}: {why}")
        with collecting(Facts()):     # re-inference must not add guards to anything
            types = n.op.infer([v.type for v in n.inputs], n.attrs)
        if len(types) != len(n.outputs):
            raise VerifyError(f"node {i} ({n.op.name}) has {len(n.outputs)} outputs, expected {len(types)}")
        for j, (v, (shape, dtype)) in enumerate(zip(n.outputs, types)):
            if v.producer is not n or v.index != j:
                raise VerifyError(f"node {i} ({n.op.name}) output {j} has a wrong producer link")
            if tuple(shape) != v.shape or np.dtype(dtype) != v.dtype:
                raise VerifyError(f"node {i} ({n.op.name}) output {j} is {v.dtype}{v.shape}, "
                                  f"inferred {dtype}{tuple(shape)}")
            if v in defined:
                raise VerifyError(f"{v} is defined twice")
            defined.add(v)
    for v in g.outputs:
        if v not in defined:
            raise VerifyError(f"output {v} is not defined")
    seen = set()
    for s, v in g.updates:
        if s not in g.inputs or s in seen:
            raise VerifyError(f"state update target {s} is not a (single-assigned) input")
        if v not in defined or v.type != s.type:
            raise VerifyError(f"state update of {s} by {v}: undefined or type mismatch")
        seen.add(s)
    return g
