"""The picture convention: how each kind of data node and operator node looks, and the legend."""
from __future__ import annotations

from graphc.ir import FORWARD, GRADIENT, REGISTRY, UPDATE, Value

# Operator boxes are filled by role; data nodes are ellipses outlined in the colour of their producer.
ROLE_FILL = {FORWARD: "#dbe8f7", GRADIENT: "#fde2c8", UPDATE: "#d4efd6", "mixed": "#eeeeee"}
ROLE_LINE = {FORWARD: "#3a6ea5", GRADIENT: "#d4700f", UPDATE: "#2e8b57", "mixed": "#777777"}
ROLE_TITLE = {FORWARD: "forward", GRADIENT: "gradient", UPDATE: "optimizer update", "mixed": "mixed"}

DATA = {
    "input": {"fillcolor": "#fff2b3", "color": "#a08a1e"},
    "param": {"fillcolor": "#ffcf4d", "color": "#8a6a00", "penwidth": "2"},
    "const": {"fillcolor": "#e6e6e6", "color": "#8c8c8c", "fontsize": "9"},
    "value": {"fillcolor": "#ffffff"},
    "boundary": {"fillcolor": "#ffffff", "style": "filled,dashed", "fontcolor": "#666666"},
}
KERNEL = {"fillcolor": "#f1ebfb", "color": "#7e57c2"}
# Collectives (exchanges with the other processes) are hexagons of their own colour, outlined by role.
COLLECTIVE = {"shape": "hexagon", "style": "filled,bold", "fillcolor": "#f7c6dc"}
FOLD = {"shape": "box3d", "style": "filled,dashed"}
UPDATE_EDGE = {"style": "dashed", "color": ROLE_LINE[UPDATE], "fontcolor": ROLE_LINE[UPDATE],
               "constraint": "false", "label": "update", "fontsize": "8"}
SEED_EDGE = {"style": "dashed", "color": ROLE_LINE[GRADIENT], "fontcolor": ROLE_LINE[GRADIENT], "label": "backward",
             "fontsize": "8", "tooltip": "backward starts here: the gradient of the loss with respect to itself is 1"}

# The tutorial draws arithmetic as symbols ("*", "+"); everything else keeps its registry name.
SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "neg": "neg", "pow": "**", "matmul": "@",
           "floor_div": "//", "mod": "%"}


def data_kind(v: Value, params: set[Value], producers: dict[Value, object]) -> str:
    """input | param | const | value | boundary (an op result whose producer is in another part)."""
    if v in params:
        return "param"
    if v.kind == "const":
        return "const"
    if v.kind == "input":
        return "input"
    return "value" if v in producers else "boundary"


def value_label(v: Value, shapes: bool) -> list[str]:
    """Lines naming a data node: its name (or id), a scalar constant's value, then dtype and shape."""
    name = v.label()
    if v.kind == "const" and v.data is not None and v.data.size == 1:
        x = v.data.item()
        text = f"{x:.4g}" if isinstance(x, float) else str(x)
        name = f"{v.name} = {text}" if v.name else text
    return [name, f"{v.dtype}{list(v.shape)}"] if shapes else [name]


def value_tooltip(v: Value, kind: str, loc: str | None) -> str:
    """Hover text: what the value is and where the user's code made it."""
    what = {"param": "parameter (state kept between calls)", "input": "input", "const": "constant",
            "value": "value", "boundary": "value computed in another part"}[kind]
    return f"{what} {v.label()}: {v.dtype}{list(v.shape)}" + (f"\n{loc}" if loc else "")


def op_label(op: str, attrs: dict | None) -> list[str]:
    """Lines for an operator box: the symbol or op name, then short attributes."""
    lines = [SYMBOLS.get(op, op)]
    if attrs:
        text = ", ".join(f"{k}={_short(a)}" for k, a in attrs.items() if k != "subgraph")
        if text:
            lines.append(text if len(text) <= 40 else text[:37] + "...")
    return lines


def op_summary(ops: list[str], per_line: int = 4) -> list[str]:
    """"mul×3 add sub" for a list of op names, wrapped a few per line."""
    counts: dict[str, int] = {}
    for o in ops:
        counts[o] = counts.get(o, 0) + 1
    words = [f"{o}×{c}" if c > 1 else o for o, c in counts.items()]
    return [" ".join(words[i:i + per_line]) for i in range(0, len(words), per_line)] or [""]


def _short(a: object) -> str:
    return f"{a:g}" if isinstance(a, float) else repr(a)


def legend_entries(data_kinds: set[str], roles: set[str], kernels: bool, folds: bool, outputs: bool,
                   updates: bool, seeds: bool = False,
                   collectives: bool = False) -> list[tuple[str, dict]]:
    """(label, node attributes) for each convention the picture uses."""
    names = {"input": "input", "param": "parameter", "const": "constant", "value": "value",
             "boundary": "from another part"}
    out = [(names[k], {"shape": "ellipse", **DATA[k]}) for k in names if k in data_kinds]
    if outputs:
        out.append(("output", {"shape": "ellipse", "fillcolor": "#ffffff", "peripheries": "2"}))
    for r in (FORWARD, GRADIENT, UPDATE):
        if r in roles:
            out.append((f"{ROLE_TITLE[r]} op", {"shape": "box", "style": "rounded,filled",
                                                "fillcolor": ROLE_FILL[r], "color": ROLE_LINE[r]}))
    if collectives:
        out.append(("collective", {**COLLECTIVE, "color": ROLE_LINE["mixed"]}))
    if kernels:
        out.append(("fused kernel", {"shape": "box", "style": "rounded,filled", **KERNEL}))
    if folds:
        out.append(("repeated blocks", {**FOLD, "fillcolor": "#eeeeee"}))
    if seeds:
        out.append(("- - > backward from the loss", {"shape": "plaintext", "style": "solid",
                                                     "fontcolor": ROLE_LINE[GRADIENT]}))
    if updates:
        out.append(("- - > state update", {"shape": "plaintext", "style": "solid", "fontcolor": ROLE_LINE[UPDATE]}))
    return out


def role_cluster(role: str) -> dict:
    """Attributes of the cluster grouping one role's operators."""
    c = ROLE_LINE[role]
    return {"label": ROLE_TITLE[role], "style": "dashed,rounded", "color": c, "fontcolor": c, "fontsize": "11",
            "labelloc": "t"}


def kernel_cluster(name: str, elements: object, ops: list[str]) -> dict:
    """Attributes of a fused kernel's cluster: its name and element count (symbolic: as written) on the label."""
    one = type(elements) is int and elements == 1
    count = (f"{elements:,}" if type(elements) is int else str(elements)) + (" element" if one else " elements")
    tip = f"fused kernel {name}: {len(ops)} ops over {count}\n" + " ".join(op_summary(ops, 99))
    return {"label": f"{name} · {count}", "style": "rounded,filled", "fontsize": "10",
            "labelloc": "t", **KERNEL, "tooltip": tip}


def is_collective(op: str) -> bool:
    """True for an op that exchanges data with the other processes of its group."""
    return op in REGISTRY and REGISTRY[op].collective is not None


def op_box(op: str, role: str, attrs: dict, loc: str | None) -> dict:
    """An operator node: a rounded box filled with its role's colour (a collective: a hexagon of its own
    colour, outlined in its role's); the source line in the tooltip."""
    a = {"label": "\n".join(op_label(op, attrs)), "shape": "box", "style": "rounded,filled",
         "fillcolor": ROLE_FILL[role], "color": ROLE_LINE[role],
         "tooltip": f"{op} ({role})\n{loc or 'no source location recorded'}"}
    if is_collective(op):
        a.update(COLLECTIVE, tooltip=f"{op} ({role}): exchanges data with the other processes\n"
                                     f"{loc or 'no source location recorded'}")
    return a


def kernel_box(name: str, ops: list[str], roles: frozenset, loc: str | None) -> dict:
    """A collapsed fused kernel: one bold box listing its ops."""
    return {"label": "\n".join(op_summary(ops)), "shape": "box", "style": "rounded,filled,bold", **KERNEL,
            "tooltip": f"fused kernel {name} ({', '.join(sorted(roles))})\n{loc or 'no source location recorded'}"}


def fold_box(copies: int, ops: list[str], hidden: int, hidden_outputs: int, role: str) -> dict:
    """A run of repeated blocks after the first: a stacked box saying how many copies it stands for."""
    extra = f"; {hidden_outputs} outputs or state updates inside" if hidden_outputs else ""
    return {"label": "\n".join([f"× {copies} more", *op_summary(ops)]), **FOLD, "fillcolor": ROLE_FILL[role],
            "color": ROLE_LINE[role], "tooltip": f"{copies} more copies of a {len(ops)}-op block "
                                                 f"({hidden} ops folded{extra})"}
