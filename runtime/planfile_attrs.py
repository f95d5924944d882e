"""Op attributes in plan files: a tagged JSON encoding, and the checks a decoded attribute must pass.

Encoding: None, bools, ints and strings are themselves; {"t": [...]} is a tuple, {"l": [...]} a list,
{"f": x} a float (x a JSON number, or "inf", "-inf", "nan"), {"g": {...}} a fused node's subgraph.
Bare JSON floats, lists and other objects are refused, so every attribute decodes to exactly one value.
Numpy scalars are saved as the Python scalars they equal, dtypes by name.
"""
from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable

import numpy as np

from graphc.ir import OpDef

from .planfile_checks import DTYPES, MAX_ATTR_DEPTH, MAX_ATTR_ITEMS, MAX_TEXT, check_ident, is_int, refuse

_SPECIAL = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def encode_attr(x: object, sub: Callable[[object], dict], where: str) -> object:
    """The tagged JSON form of an attribute value; `sub` encodes a subgraph."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return {"f": f if math.isfinite(f) else repr(f)}
    if isinstance(x, np.dtype):
        return str(x)
    if isinstance(x, tuple):
        return {"t": [encode_attr(v, sub, where) for v in x]}
    if isinstance(x, list):
        return {"l": [encode_attr(v, sub, where) for v in x]}
    from graphc.ir import Graph
    if isinstance(x, Graph):
        return {"g": sub(x)}
    refuse(f"cannot save {where}: it holds a {type(x).__name__}, and plan files hold plain data only")


class _Budget:
    """Counts the items decoded for one node, so a nested bomb stops early."""

    def __init__(self) -> None:
        self.left = MAX_ATTR_ITEMS

    def take(self, where: str) -> None:
        self.left -= 1
        if self.left < 0:
            refuse(f"{where} holds more than {MAX_ATTR_ITEMS} items")


def decode_attr(x: object, sub: Callable[[object], object], where: str, budget: _Budget,
                depth: int = 0) -> object:
    """The attribute value a tagged JSON form stands for (subgraphs decoded by `sub`)."""
    budget.take(where)
    if x is None or isinstance(x, bool):
        return x
    if isinstance(x, int):
        if not is_int(x):
            refuse(f"{where} holds an integer outside int64")
        return x
    if isinstance(x, str):
        if len(x) > MAX_TEXT:
            refuse(f"{where} holds a string longer than {MAX_TEXT} characters")
        return x
    if not isinstance(x, dict) or len(x) != 1:
        refuse(f"{where} holds a {type(x).__name__} that is not a tagged value")
    (tag, v), = x.items()
    if tag == "f":
        if isinstance(v, str) and v in _SPECIAL:
            return _SPECIAL[v]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        refuse(f"{where} holds a malformed float")
    if tag in ("t", "l"):
        if depth >= MAX_ATTR_DEPTH:
            refuse(f"{where} is nested deeper than {MAX_ATTR_DEPTH} levels")
        if not isinstance(v, list):
            refuse(f"{where} holds a malformed {'tuple' if tag == 't' else 'list'}")
        items = [decode_attr(e, sub, where, budget, depth + 1) for e in v]
        return tuple(items) if tag == "t" else items
    if tag == "g":
        if depth:
            refuse(f"{where} holds a subgraph inside a container")
        return sub(v)
    refuse(f"{where} holds an unknown tag {tag[:20]!r}")


# ---- per-attribute checks ------------------------------------------------------------------------------
# Attribute names mean the same thing across ops; a name not listed here gets only the generic checks
# (plain data, and a name the op's kernel accepts), so newly added ops stay loadable.

def _ints(v: object) -> bool:
    return isinstance(v, (tuple, list)) and all(is_int(i) for i in v)


def _number(v: object) -> bool:
    return (is_int(v) or isinstance(v, float)) and not isinstance(v, bool)


def _axis(v: object) -> bool:
    return v is None or is_int(v) or _ints(v)


def _pads(v: object) -> bool:
    return isinstance(v, (tuple, list)) and all(_ints(p) and len(p) == 2 for p in v)


def _spec_item(e: object) -> bool:
    if not isinstance(e, (tuple, list)) or not e:
        return False
    kind, rest = e[0], e[1:]
    if kind in ("int", "array"):
        return len(rest) == 1 and is_int(rest[0])
    if kind == "slice":
        return len(rest) == 3 and all(i is None or is_int(i) for i in rest)
    return kind == "none" and not rest


CHECKS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "keepdims": ("a bool", lambda v: isinstance(v, bool)),
    "accumulate": ("a bool", lambda v: isinstance(v, bool)),
    "transpose_a": ("a bool", lambda v: isinstance(v, bool)),
    "transpose_b": ("a bool", lambda v: isinstance(v, bool)),
    "num_classes": ("a non-negative integer", lambda v: is_int(v) and v >= 0),
    "repeats": ("a non-negative integer", lambda v: is_int(v) and v >= 0),
    "axis": ("None, an integer or a tuple of integers", _axis),
    "shape": ("a tuple of integers", _ints),
    "reps": ("a tuple of integers", _ints),
    "perm": ("a tuple of integers", _ints),
    "shift": ("a tuple of integers", _ints),
    "pad_width": ("a tuple of (before, after) integer pairs", _pads),
    "spec": ("an index spec", lambda v: isinstance(v, (tuple, list)) and all(_spec_item(e) for e in v)),
    "dtype": ("a dtype name", lambda v: isinstance(v, str) and v in DTYPES),
    "slope": ("a number", _number),
    "value": ("a number", _number),
    "lower": ("a number or None", lambda v: v is None or _number(v)),
    "upper": ("a number or None", lambda v: v is None or _number(v)),
}


@functools.cache
def _kernel_params(op: OpDef) -> tuple | None:
    """The kernel's parameters after xp, or None when it takes any keyword (**attrs)."""
    try:
        params = tuple(inspect.signature(op.kernel).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    return None if any(p.kind is p.VAR_KEYWORD for p in params) else params


def _accepted(params: tuple, n_inputs: int) -> tuple[set[str], set[str]]:
    """(names the kernel takes as attributes, names it requires) for a node with n_inputs arrays."""
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        kw = [p for p in params if p.kind is p.KEYWORD_ONLY]
    else:   # kernel(xp, a, b, attr1, attr2=...): the first n_inputs parameters take the arrays
        kw = list(params[n_inputs:])
    kw = [p for p in kw if p.name != "out"]
    return {p.name for p in kw}, {p.name for p in kw if p.default is p.empty}


def check_attrs(op: OpDef, attrs: dict, n_inputs: int, where: str) -> None:
    """Refuse attributes of the wrong type, or that the op's kernel would not accept."""
    for k in ("out", "xp"):
        if k in attrs:
            refuse(f"{where} has a reserved attribute name {k!r}")
    params = _kernel_params(op)
    if params is not None:
        names, required = _accepted(params, n_inputs)
        unknown = attrs.keys() - names
        if unknown:
            refuse(f"{where} has attributes {sorted(unknown)} that op {op.name!r} does not take")
        missing = required - attrs.keys()
        if missing:
            refuse(f"{where} lacks attributes {sorted(missing)} that op {op.name!r} needs")
    if op.name == "fused":
        from graphc.ir import Graph
        if attrs.keys() != {"name", "subgraph"} or not isinstance(attrs["subgraph"], Graph):
            refuse(f"{where}: a fused node's attributes are exactly a kernel 'name' and a 'subgraph'")
        check_ident(attrs["name"], f"{where}'s kernel name")
        return
    for k, v in attrs.items():
        rule = CHECKS.get(k)
        if rule is not None and not rule[1](v):
            refuse(f"{where}: attribute {k!r} must be {rule[0]}")
