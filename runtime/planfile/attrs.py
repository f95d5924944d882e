"""Op attributes in plan files: a tagged JSON encoding, and the checks a decoded attribute must pass.

Encoding: None, bools, ints and strings are themselves; {"t": [...]} is a tuple, {"l": [...]} a list,
{"f": x} a float (x a JSON number, or "inf", "-inf", "nan"), {"d": "784*N"} a symbolic size (format 2),
{"g": {...}} a fused node's subgraph.
Bare JSON floats, lists and other objects are refused, so every attribute decodes to exactly one value.
Numpy scalars are saved as the Python scalars they equal, dtypes by name.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from graphc.ir import Graph, OpDef
from graphc.ir.attrs import check
from graphc.ir.symbols import Dim

from .checks import MAX_ATTR_DEPTH, MAX_ATTR_ITEMS, MAX_TEXT, check_dim, check_ident, is_int, refuse

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
    if isinstance(x, Dim):
        return {"d": str(x)}
    if isinstance(x, tuple):
        return {"t": [encode_attr(v, sub, where) for v in x]}
    if isinstance(x, list):
        return {"l": [encode_attr(v, sub, where) for v in x]}
    if isinstance(x, Graph):
        return {"g": sub(x)}
    refuse(f"cannot save {where}: it holds a {type(x).__name__}, and plan files hold plain data only")


class Budget:
    """Counts the items decoded for one node, so a nested bomb stops early."""

    def __init__(self) -> None:
        self.left = MAX_ATTR_ITEMS

    def take(self, where: str) -> None:
        self.left -= 1
        if self.left < 0:
            refuse(f"{where} holds more than {MAX_ATTR_ITEMS} items")


def decode_attr(x: object, sub: Callable[[object], object], where: str, budget: Budget,
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
    if tag == "d":
        if not isinstance(v, str):
            refuse(f"{where} holds a malformed size")
        return check_dim(v, where)
    if tag == "g":
        if depth:
            refuse(f"{where} holds a subgraph inside a container")
        return sub(v)
    refuse(f"{where} holds an unknown tag {tag[:20]!r}")


def check_attrs(op: OpDef, attrs: dict, where: str) -> None:
    """Refuse attributes that do not fit the op's schema: missing, unknown or of the wrong type."""
    why = check(op.attrs, attrs, op.name)
    if why:
        refuse(f"{where}: {why}")
    if op.family == "fused":
        check_ident(attrs["name"], f"{where}'s kernel name")
