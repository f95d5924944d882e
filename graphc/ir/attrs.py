"""Attribute schemas: what each op attribute may hold.

Every OpDef names its attributes and the rule each value must pass. Attributes are plain data (numbers,
strings, tuples), so graphs compare and save without pickle; the plan-file loader checks a decoded node's
attributes against its op's schema before anything reads them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .symbols import Dim

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
DTYPE_NAMES = frozenset(str(np.dtype(d)) for d in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64))


def is_int(x: object) -> bool:
    """True for a Python int (bool excluded) within int64."""
    return type(x) is int and INT64_MIN <= x <= INT64_MAX


def _dim(v: object) -> bool:
    """A size: a non-negative int or a symbolic dimension."""
    return (is_int(v) and v >= 0) or isinstance(v, Dim)


def _number(v: object) -> bool:
    return is_int(v) or type(v) is float


def _ints(v: object) -> bool:
    return type(v) is tuple and all(is_int(i) for i in v)


def _axes(v: object) -> bool:
    return _ints(v) and list(v) == sorted(set(v)) and all(i >= 0 for i in v)


def _pads(v: object) -> bool:
    return type(v) is tuple and all(_ints(p) and len(p) == 2 and min(p) >= 0 for p in v)


def _spec_item(e: object) -> bool:
    if type(e) is not tuple or not e:
        return False
    kind, rest = e[0], e[1:]
    if kind in ("int", "array"):
        return len(rest) == 1 and is_int(rest[0])
    if kind == "slice":
        return len(rest) == 3 and all(i is None or is_int(i) or isinstance(i, Dim) for i in rest[:2]) \
            and (rest[2] is None or is_int(rest[2]))
    return kind == "none" and not rest


@dataclass(frozen=True)
class Attr:
    """One attribute's rule: a description for messages and the check a value must pass."""

    what: str
    check: Callable[[object], bool]


BOOL = Attr("a bool", lambda v: type(v) is bool)
INT = Attr("an integer", is_int)
AXIS = Attr("a non-negative integer (an axis)", lambda v: is_int(v) and v >= 0)
COUNT = Attr("a non-negative integer", lambda v: is_int(v) and v >= 0)
INTS = Attr("a tuple of integers", _ints)
SHAPE = Attr("a tuple of sizes (non-negative integers or symbolic dimensions)",
             lambda v: type(v) is tuple and all(_dim(i) for i in v))
AXES = Attr("a sorted tuple of distinct non-negative integers (axes)", _axes)
PADS = Attr("a tuple of (before, after) pairs of non-negative integers", _pads)
SPEC = Attr("an index spec", lambda v: type(v) is tuple and all(_spec_item(e) for e in v))
DTYPE = Attr("a dtype name", lambda v: isinstance(v, str) and v in DTYPE_NAMES)
NUMBER = Attr("a number", _number)
OPT_NUMBER = Attr("a number or None", lambda v: v is None or _number(v))
IDENT = Attr("an identifier", lambda v: isinstance(v, str) and len(v) <= 256 and v.isidentifier())


def check(schema: dict[str, Attr], attrs: dict, op: str) -> str | None:
    """Why `attrs` do not fit `schema` (missing, unknown or ill-typed names), or None when they do."""
    missing = schema.keys() - attrs.keys()
    if missing:
        return f"op {op!r} needs attributes {sorted(missing)}"
    unknown = attrs.keys() - schema.keys()
    if unknown:
        return f"op {op!r} does not take attributes {sorted(unknown)}"
    for k, rule in schema.items():
        if not rule.check(attrs[k]):
            return f"attribute {k!r} of op {op!r} must be {rule.what}"
    return None
