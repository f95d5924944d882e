"""DOT syntax: quoting, attribute lists, and a tree of nested clusters emitted as text."""
from __future__ import annotations

ROOT = ""   # the top level of the picture, outside every cluster


def quote(text: object) -> str:
    """A DOT quoted string; newlines become centred line breaks."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + s.replace("\n", "\\n") + '"'


def attr_list(d: dict) -> str:
    """`[k="v" ...]` with every value quoted."""
    return "[" + " ".join(f"{k}={quote(v)}" for k, v in d.items()) + "]"


class ClusterTree:
    """Node statements filed under named clusters, nested, then written out in one go."""

    def __init__(self) -> None:
        self.members: dict[str, list[str]] = {}
        self.children: dict[str, list[str]] = {}
        self.attrs: dict[str, dict] = {}

    def add_cluster(self, name: str, parent: str, attrs: dict) -> str:
        """Declare cluster `name` (once) inside `parent`; returns `name`."""
        if name not in self.attrs:
            self.attrs[name] = attrs
            self.children.setdefault(parent, []).append(name)
        return name

    def place(self, node: str, attrs: dict, cluster: str) -> None:
        """A node statement inside `cluster`."""
        self.members.setdefault(cluster, []).append(f"{node} {attr_list(attrs)};")

    def lines(self, name: str = ROOT, pad: str = "  ") -> list[str]:
        """The statements of `name` and its nested clusters, indented."""
        out = [pad + m for m in self.members.get(name, ())]
        for child in self.children.get(name, ()):
            out.append(f"{pad}subgraph {child} {{")
            out.append(f"{pad}  graph {attr_list(self.attrs[child])};")
            out.extend(self.lines(child, pad + "  "))
            out.append(pad + "}")
        return out


def legend_block(entries: list[tuple[str, dict]]) -> list[str]:
    """A "legend" cluster: one sample node per (label, node attributes), in a row."""
    out = ["  subgraph cluster_legend {",
           "    graph " + attr_list({"label": "legend", "style": "rounded", "color": "#bbbbbb", "fontsize": "10",
                                     "tooltip": "legend", "labelloc": "t"}) + ";"]
    names = [f"legend{i}" for i in range(len(entries))]
    for n, (label, a) in zip(names, entries):
        out.append(f"    {n} {attr_list({'label': label, 'tooltip': label, **a})};")
    if len(names) > 1:
        out.append("    { rank=same; " + "; ".join(names) + "; }")
        out.append("    " + " -> ".join(names) + " [style=invis];")
    out.append("  }")
    return out
