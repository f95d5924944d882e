"""Parametrized test ids that read as words: `exp-float16`, `3x4`, `F.maximum(x,y)`, not `dtype28` or `f3`."""
from __future__ import annotations

import ast
import inspect
import re

import numpy as np

MAX_ID = 40


def _lambda_source(fn) -> str | None:
    """The body of a lambda as written, spaces removed (None when the source cannot be read)."""
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return None
    code = fn.__code__
    col = next((c for _, _, _, c in code.co_positions() if c is not None), 0) if hasattr(code, "co_positions") else 0
    text = "".join(lines)
    try:
        tree = ast.parse(text.strip() if not text.startswith((" ", "\t")) else "(\n" + text + "\n)")
    except SyntaxError:
        return None
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
    offset = 0 if not text.startswith((" ", "\t")) else 1
    here = [n for n in found if n.lineno - offset == code.co_firstlineno - first + 1]
    best = min(here or found, key=lambda n: abs(n.body.col_offset - col), default=None)
    return None if best is None else re.sub(r"\s+", "", ast.unparse(best.body))


def pytest_make_parametrize_id(config, val, argname):
    """A readable id for dtypes, shapes, functions and short lists; None keeps pytest's own."""
    if isinstance(val, np.dtype) or (isinstance(val, type) and issubclass(val, np.generic)):
        return np.dtype(val).name
    if isinstance(val, tuple) and all(type(d) is int for d in val):
        return "x".join(map(str, val)) if val else "scalar"
    if callable(val) and not isinstance(val, type):
        name = getattr(val, "__name__", "")
        text = _lambda_source(val) if name == "<lambda>" else name
        return text[:MAX_ID] if text else None
    if isinstance(val, (list, tuple)) and _numbers(val):
        text = re.sub(r"\s+", "", repr(val))
        return text if len(text) <= MAX_ID else None
    return None


def _numbers(val: object) -> bool:
    if isinstance(val, (list, tuple)):
        return all(_numbers(v) for v in val)
    return isinstance(val, (int, float)) and not isinstance(val, bool)
