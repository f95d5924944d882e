"""Limits and primitive checks for plan files: every value read from a file passes through these.

A hostile file controls every number in it, so nothing is allocated, looped over or handed to a kernel
before it has been checked here against an explicit bound.
"""
from __future__ import annotations

import math
import re
from typing import NoReturn

import numpy as np

from graphc.ir.attrs import DTYPE_NAMES, is_int
from graphc.ir.errors import GraphcError, PlanFormatError
from graphc.ir.symbols import Dim, parse

MAX_HEADER_BYTES = 64 << 20     # the JSON description
MAX_RANK = 32
MAX_ELEMENTS = 1 << 32          # per value: declared shapes of intermediates are bounded by this too
MAX_LIST = 1 << 20              # entries of any list in the description (nodes, values, arrays, ...)
MAX_NAME = 256                  # names of values, inputs, outputs, states
MAX_TEXT = 4096                 # other strings (source locations, string attributes)
MAX_ATTR_DEPTH = 8              # nesting of tuples in one attribute
MAX_ATTR_ITEMS = 4096           # scalars and containers in one node's attributes
MAX_META_DEPTH = 8
MAX_SYMBOLS = 64                # symbols (free and derived) of one plan

# Plain numeric dtypes only: no object, void, string or datetime dtypes can come out of a file.
DTYPES = {name: np.dtype(name) for name in sorted(DTYPE_NAMES)}
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names of values, inputs, outputs and states: dotted identifiers with indices (w, params[0], w.grad), ASCII.
# They reach terminals, .npz member names and SVG, so no control characters, separators or escapes.
# A module's parameters are named by their path, whose parts may be indices (0.weight, layers[1].bias).
_NAME = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+)(?:\[[0-9]+\]|\.(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+))*$")


def refuse(msg: str) -> NoReturn:
    """Raise the one error a plan file may cause."""
    raise PlanFormatError(msg)


def check_int(x: object, what: str, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int:
    """An int within [lo, hi], or a refusal naming `what`."""
    if not is_int(x) or not lo <= x <= hi:
        refuse(f"{what} must be an integer in [{lo}, {hi}], got {_show(x)}")
    return x


def check_str(x: object, what: str, limit: int = MAX_NAME, empty: bool = False) -> str:
    """A string of at most `limit` characters (non-empty unless `empty`)."""
    if not isinstance(x, str) or len(x) > limit or (not empty and not x):
        refuse(f"{what} must be a {'' if empty else 'non-empty '}string of at most {limit} characters, "
               f"got {_show(x)}")
    return x


def check_ident(x: object, what: str) -> str:
    """A Python/C identifier (names that code generators may embed)."""
    if not isinstance(x, str) or len(x) > MAX_NAME or not _IDENT.fullmatch(x):
        refuse(f"{what} must be an identifier, got {_show(x)}")
    return x


def check_name(x: object, what: str) -> str:
    """A name: an identifier, or identifiers joined by dots and followed by [index] parts (params[0].grad)."""
    if not isinstance(x, str) or len(x) > MAX_NAME or not _NAME.fullmatch(x):
        refuse(f"{what} must be a name (an identifier, dotted or indexed like params[0].grad), got {_show(x)}")
    return x


def check_opt_name(x: object, what: str) -> str | None:
    """None or a name."""
    return None if x is None else check_name(x, what)


def check_opt_value_name(x: object, what: str) -> str | None:
    """None or what a graph value may be called: any printable name (a user's Tensor.name, a gradient's
    ∂loss/∂w); only the names of a plan's inputs, outputs and states must be names (check_name)."""
    return check_opt_text(x, what, MAX_NAME)


def as_name(text: str, fallback: str) -> str:
    """`text` made a name (check_name) for a plan's signature: other characters become _, else `fallback`."""
    if _NAME.fullmatch(text):
        return text
    fixed = re.sub(r"[^A-Za-z0-9_.\[\]]", "_", text)
    return fixed if len(fixed) <= MAX_NAME and _NAME.fullmatch(fixed) else fallback


def check_opt_text(x: object, what: str, limit: int = MAX_TEXT) -> str | None:
    """None or a string of at most `limit` printable characters (no control or format characters)."""
    if x is not None and (not isinstance(x, str) or len(x) > limit or not x.isprintable()):
        refuse(f"{what} must be a string of at most {limit} printable characters, got {_show(x)}")
    return x


def check_list(x: object, what: str, limit: int = MAX_LIST) -> list:
    """A JSON list of at most `limit` entries."""
    if not isinstance(x, list) or len(x) > limit:
        refuse(f"{what} must be a list of at most {limit} entries, got {_show(x)}")
    return x


def check_dict(x: object, what: str, keys: set[str], optional: frozenset[str] = frozenset()) -> dict:
    """A JSON object with exactly `keys` (plus any of `optional`)."""
    if not isinstance(x, dict):
        refuse(f"{what} must be an object, got {_show(x)}")
    missing = keys - x.keys()
    extra = x.keys() - keys - optional
    if missing or extra:
        parts = ([f"missing fields {sorted(missing)}"] if missing else []) + \
            ([f"unknown fields {sorted(extra)[:8]}"] if extra else [])
        refuse(f"{what} has {' and '.join(parts)}")
    return x


def check_dtype(x: object, what: str) -> np.dtype:
    """One of the plain numeric dtypes, by name."""
    if not isinstance(x, str) or x not in DTYPES:
        refuse(f"{what} has dtype {_show(x)}, which is not one of {', '.join(DTYPES)}")
    return DTYPES[x]


def check_shape(x: object, what: str) -> tuple[int, ...]:
    """A shape: at most MAX_RANK non-negative dims whose product is at most MAX_ELEMENTS."""
    if not isinstance(x, list) or len(x) > MAX_RANK:
        refuse(f"{what} has shape {_show(x)}; a shape is a list of at most {MAX_RANK} dimensions")
    n = 1
    for d in x:
        if not is_int(d) or d < 0 or d > MAX_ELEMENTS:
            refuse(f"{what} has shape {_show(x)} with a dimension outside [0, {MAX_ELEMENTS}]")
        n *= d
    if n > MAX_ELEMENTS:
        refuse(f"{what} has shape {_show(x)} of {n} elements, over the limit of {MAX_ELEMENTS}")
    return tuple(x)


def check_dim(x: object, what: str) -> int | Dim:
    """A size: a non-negative int within bounds, or the canonical text of a symbolic dimension ("784*N")."""
    if isinstance(x, str):
        try:
            return parse(x)
        except (ValueError, GraphcError) as e:
            refuse(f"{what} holds the size {_show(x)}, which is not a dimension ({str(e)[:80]})")
    if not is_int(x) or not 0 <= x <= MAX_ELEMENTS:
        refuse(f"{what} holds the size {_show(x)}, not an integer in [0, {MAX_ELEMENTS}] or a symbolic dimension")
    return x


def check_sizes(x: object, what: str, symbolic: bool) -> tuple[int | Dim, ...]:
    """A value's shape: static (check_shape), or with symbolic dimensions when the format allows them."""
    if not symbolic or not isinstance(x, list) or all(not isinstance(d, str) for d in x):
        return check_shape(x, what)
    if len(x) > MAX_RANK:
        refuse(f"{what} has shape {_show(x)}; a shape is a list of at most {MAX_RANK} dimensions")
    return tuple(check_dim(d, what) for d in x)


def check_index(x: object, what: str, n: int) -> int:
    """An index into a table of n entries."""
    if not is_int(x) or not 0 <= x < n:
        refuse(f"{what} refers to entry {_show(x)} of a table of {n}")
    return x


def check_json_data(x: object, what: str, depth: int = 0) -> None:
    """Plain JSON data (metadata) nested at most MAX_META_DEPTH deep."""
    if depth > MAX_META_DEPTH:
        refuse(f"{what} is nested deeper than {MAX_META_DEPTH} levels")
    if isinstance(x, dict):
        for k, v in x.items():
            check_str(k, f"a key of {what}", MAX_TEXT, empty=True)
            check_json_data(v, what, depth + 1)
    elif isinstance(x, list):
        for v in x:
            check_json_data(v, what, depth + 1)
    elif isinstance(x, str):
        check_str(x, f"a string in {what}", MAX_TEXT, empty=True)
    elif isinstance(x, float):
        if not math.isfinite(x):
            refuse(f"{what} holds the non-finite number {x}")
    elif not (x is None or isinstance(x, (bool, int))):
        refuse(f"{what} holds {_show(x)}")


def _show(x: object) -> str:
    """A short rendering of an offending value (a hostile file may hold huge ones)."""
    try:
        s = repr(x)
    except Exception:  # e.g. ints over Python's digit limit
        s = f"<{type(x).__name__}>"
    return s if len(s) <= 60 else s[:57] + "..."
