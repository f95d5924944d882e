"""Reading graphc's pictures back: DOT text parsed into nodes, edges and clusters; rendered SVG as XML."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from graphc import viz

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
_ATTR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_NODE = re.compile(r"^\s*(\w+) \[(.*)\];$")
_EDGE = re.compile(r"^\s*(\w+) -> (\w+) \[(.*)\];$")


def parse_dot(text: str) -> tuple[dict, list, dict]:
    """Nodes {name: attrs}, edges [(tail, head, attrs)], clusters {name: (attrs, member nodes)}."""
    nodes, edges, clusters, stack = {}, [], {}, []
    for line in text.splitlines():
        if m := re.match(r"^\s*subgraph (\w+) \{$", line):
            stack.append(m.group(1))
            clusters[m.group(1)] = ({}, [])
        elif line.strip() == "}":
            if stack:
                stack.pop()
        elif m := re.match(r"^\s*graph \[(.*)\];$", line):
            if stack:
                clusters[stack[-1]][0].update(_ATTR.findall(m.group(1)))
        elif m := _EDGE.match(line):
            edges.append((m.group(1), m.group(2), dict(_ATTR.findall(m.group(3)))))
        elif (m := _NODE.match(line)) and m.group(1) not in ("graph", "node", "edge"):
            nodes[m.group(1)] = dict(_ATTR.findall(m.group(2)))
            for c in stack:
                clusters[c][1].append(m.group(1))
    return nodes, edges, clusters


def by_label(nodes: dict, label: str) -> list[str]:
    """Names of the nodes whose label's first line is `label`."""
    return [n for n, a in nodes.items() if a.get("label", "").split("\\n")[0] == label]


def one(nodes: dict, label: str) -> str:
    found = [n for n in by_label(nodes, label) if not n.startswith("legend")]
    assert len(found) == 1, (label, found)
    return found[0]


def svg_of(obj, tmp_path, name="g.svg", **kw) -> ET.Element:
    path = viz.render(obj, tmp_path / name, **kw)
    return ET.parse(path).getroot()


def svg_nodes(root: ET.Element, cls: str) -> dict[str, ET.Element]:
    """<g class=cls> elements by their <title> (the DOT name; an edge's is "tail->head")."""
    return {g.find(f"{SVG}title").text: g for g in root.iter(f"{SVG}g") if g.get("class") == cls}
