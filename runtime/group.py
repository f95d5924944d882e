"""A fused node as the code generators see it: iteration shape, inputs, outputs and reductions.

The inline ufunc lines, the chunked NumPy loop, the generated C loop and the CUDA schedule all start
from this one description of a group.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphc.ir import Graph, OpNode, Value
from graphc.ir.ops.fused import iteration_shape
from graphc.ir.ops.reduce import reduced_shape
from graphc.ir.symbols import Dim, is_static, prod


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
    def size(self) -> int | Dim:
        """Elements of the iteration shape (symbolic when it is)."""
        return prod(self.shape)

    @property
    def inputs(self) -> list[Value]:
        """The subgraph's inputs (one per operand of the fused node)."""
        return self.sub.inputs

    @property
    def outputs(self) -> list[Value]:
        """The subgraph's outputs (one per result of the fused node)."""
        return self.sub.outputs

    @property
    def static(self) -> bool:
        """True when the iteration shape is known before the call."""
        return is_static(self.shape)

    def shape_for(self, arrays) -> tuple[int, ...]:
        """The iteration shape of a call on these operand arrays: every operand broadcasts to it."""
        if self.static:
            return self.shape
        shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
        return (1,) * (len(self.shape) - len(shape)) + shape

    @staticmethod
    def reduced(shape: tuple[int, ...], node: OpNode) -> tuple[int, ...]:
        """The result shape of reduction `node` over an iteration of `shape`."""
        return reduced_shape(shape, node.attrs["axis"], node.attrs["keepdims"])

    def reduction_of(self, v: Value) -> OpNode | None:
        """The reduction producing output v, or None for an elementwise output."""
        p = v.producer
        return p if p is not None and p.op.reduction is not None else None

