"""Pictures of graphs: forward, gradient and update parts, fused plans; DOT text and rendered files.

    graphc.viz.to_dot(obj, part="gradient")      # DOT text, no graphviz binary needed
    graphc.viz.render(obj, "step.svg")           # SVG, PNG, PDF or DOT by suffix (needs `dot`)

`obj` is a Graph, a Plan, a traced function or a loaded plan file.
"""
from graphc.ir import Graph
from graphc.runtime.plan import Plan

from .picture import to_dot
from .render import FORMATS, GraphvizNotFoundError, render, repr_svg

# Jupyter shows a Graph or a Plan as its picture (the IR and the runtime know nothing of pictures).
Graph._repr_svg_ = Plan._repr_svg_ = repr_svg

__all__ = ["to_dot", "render", "repr_svg", "FORMATS", "GraphvizNotFoundError"]
