"""`to_dot`: from any drawable object to DOT text, choosing how much detail a readable picture can hold."""
from __future__ import annotations

from .dot import attr_list, legend_block
from .fold import fold_repeats
from .scene import build_scene
from .source import resolve
from .writer import Writer

LARGE = 300   # operator boxes above which repeats are folded, then far reads copied and one-use values elided

# dot's crossing minimisation and x-placement grow much faster than linear; on large pictures a few
# passes give nearly the same drawing (a 2,000-op DAG: minutes with the defaults, seconds with these).
FAST_LAYOUT = {"mclimit": "0.1", "nslimit": "0.05", "nslimit1": "0.05", "remincross": "false"}


def to_dot(obj: object, part: str = "all", *, shapes: bool = True, collapse_fused: bool = True,
           fold: bool | None = None, compact: bool | None = None, group_roles: bool | None = None,
           legend: bool = True, rankdir: str = "TB") -> str:
    """DOT text for a Graph, Plan, traced function or loaded plan file (`part`: forward|gradient|update|all).

    `shapes` puts dtype and shape on data nodes; `collapse_fused` (the default) draws each fused kernel as
    one box in its cluster, False opens it to show its ops. `fold` draws a run of repeated blocks once plus
    a box for the other copies; `compact` copies values next to far-away readers and draws unnamed one-use
    values as edges. Both default to on for pictures of more than LARGE operators; `group_roles` (default:
    when several roles are drawn) puts forward, gradient and update ops in their own clusters.
    """
    d = resolve(obj)
    scene = build_scene(d.graph, part, collapse_fused, d.states)
    folds = fold_repeats(scene) if (fold if fold is not None else len(scene.items) > LARGE) else []
    large = len(scene.items) > LARGE
    if group_roles is None:
        group_roles = len({it.role for it in scene.items}) > 1
    w = Writer(scene, shapes, group_roles, large if compact is None else compact)
    w.build()
    text = [f"{part}: {w.n_ops} operators, {len(w.values)} data nodes"]
    if folds:
        text.append(f"{sum(len(f.hidden) for f in folds)} operators folded into {len(folds)} repeated runs")
    if w.as_edges:
        text.append(f"{len(w.as_edges)} one-use values drawn as edges")
    if d.caption:
        text.append(d.caption)
    # newrank: ranks are assigned ignoring clusters, so data keeps flowing down through and past them.
    graph = {"rankdir": rankdir, "newrank": "true", **(FAST_LAYOUT if large else {}), "fontname": "Helvetica",
             "nodesep": "0.25", "ranksep": "0.35", "label": " · ".join(text), "labelloc": "b",
             "fontsize": "10", "tooltip": " "}
    node = {"fontname": "Helvetica", "fontsize": "10", "style": "filled", "margin": "0.06,0.03", "height": "0.3"}
    out = ["digraph graphc {", f"  graph {attr_list(graph)};", f"  node {attr_list(node)};",
           f"  edge {attr_list({'arrowsize': '0.6', 'fontname': 'Helvetica'})};"]
    out += w.clusters.lines() + ["  " + e for e in w.edges]
    if legend:
        out += legend_block(w.legend(bool(folds)))
    return "\n".join(out + ["}"]) + "\n"
