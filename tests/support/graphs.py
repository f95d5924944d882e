"""Graph-building helpers shared by the pass and runtime tests."""
from __future__ import annotations

import numpy as np

from graphc.ir import Graph, building, emit
from graphc.ir.interpret import evaluate
from graphc.runtime.compile import compile_graph


def make(fn, *specs, names=None):
    """A Graph with inputs of the given (shape, dtype) specs whose outputs are fn(*inputs)."""
    g = Graph()
    ins = [g.add_input(s, d, (names or [None] * len(specs))[i]) for i, (s, d) in enumerate(specs)]
    with building(g):
        outs = fn(*ins)
    g.outputs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    return g


def feeds_for(g: Graph, seed: int = 0) -> list[np.ndarray]:
    """Random arrays for g's inputs (positive floats keep log/sqrt defined)."""
    rng = np.random.default_rng(seed)
    out = []
    for v in g.inputs:
        if v.dtype.kind == "f":
            out.append((rng.random(v.shape) + 0.5).astype(v.dtype))
        elif v.dtype.kind == "b":
            out.append(rng.random(v.shape) > 0.5)
        else:
            out.append(rng.integers(0, 3, v.shape).astype(v.dtype))
    return out


def reference(g: Graph, arrays: list) -> list:
    """Outputs and update values of g by the reference (op by op) semantics."""
    env = evaluate(g, dict(zip(g.inputs, arrays)))
    return [env[v] for v in g.outputs] + [env[v] for _, v in g.updates]


def run_level(g: Graph, arrays: list, level: int) -> list:
    """Outputs and update values of g compiled at an optimization level."""
    return [np.asarray(a) for a in compile_graph(g, level)(*arrays)]


def ops(g: Graph) -> list[str]:
    """The op names of g's nodes in order."""
    return [n.op.name for n in g.nodes]


__all__ = ["make", "feeds_for", "reference", "run_level", "ops", "emit"]
