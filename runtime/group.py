"""A fused node as the code generators see it: iteration shape, inputs, outputs and reductions.

The inline ufunc lines, the chunked NumPy loop, the generated C loop and the CUDA schedule all start
from this one description of a group.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.ir import Graph, OpNode, Value
from graphc.ir.ops.fused import iteration_shape


@dataclass(frozen=True)
class FusedGroup:
    """What a fused node computes: its subgraph over an iteration shape, some outputs reduced."""

    name: str
    sub: Graph
    shape: tuple[int, ...]          # the iteration shape: the elementwise results' shape
    reductions: tuple[OpNode, ...]  # reduction nodes, each a terminal output of the group

    @classmethod
    def of(cls, node: OpNode) -> FusedGroup:
        """The group of a fused node."""
        sub: Graph = node.attrs["subgraph"]
        reds = tuple(n for n in sub.nodes if n.op.reduction is not None)
        return cls(str(node.attrs["name"]), sub, iteration_shape(sub), reds)

    @property
    def size(self) -> int:
        """Elements of the iteration shape."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def inputs(self) -> list[Value]:
        """The subgraph's inputs (one per operand of the fused node)."""
        return self.sub.inputs

    @property
    def outputs(self) -> list[Value]:
        """The subgraph's outputs (one per result of the fused node)."""
        return self.sub.outputs

    def reduction_of(self, v: Value) -> OpNode | None:
        """The reduction producing output v, or None for an elementwise output."""
        p = v.producer
        return p if p is not None and p.op.reduction is not None else None

