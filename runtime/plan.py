"""Plan: an optimized graph lowered to one generated Python function over its inputs."""
from __future__ import annotations

from collections.abc import Callable

from graphc.ir import Graph


class Plan:
    """A compiled graph: call it with one array per graph input; returns outputs, then state updates."""

    def __init__(self, graph: Graph, source: str, fn: Callable, device: str, stats: dict) -> None:
        self.graph = graph          # the optimized graph (fused nodes keep their subgraphs)
        self.source = source        # the generated function's text
        self.fn = fn
        self.device = device
        self.stats = stats          # kernel counts and buffer figures

    def __call__(self, *arrays) -> list:
        return self.fn(*arrays)

    @property
    def n_outputs(self) -> int:
        """Number of graph outputs (state updates follow them in the result)."""
        return len(self.graph.outputs)

    def __repr__(self) -> str:
        return f"<Plan {self.device} {self.stats}>"

    def _repr_svg_(self) -> str | None:
        """Jupyter's inline picture of the optimized graph (None without graphviz's `dot`)."""
        from graphc.viz import repr_svg
        return repr_svg(self)
