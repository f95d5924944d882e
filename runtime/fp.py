"""Floating-point errors ignored while kernels run (MegEngine gives inf and nan without a warning), cheaply.

np.errstate builds NumPy's error state on every entry, about 0.9 us: more than a small kernel takes, and an
eager op or a plan call pays it each time. NumPy 2 keeps that state in a context variable, so the ignoring
state is built once here and swapped in and out (0.2 us); it keeps the buffer size and error callback set
when graphc was imported. quiet() returns the token restore() takes.
"""
from __future__ import annotations

import numpy as np

try:
    from numpy._core.umath import _extobj_contextvar, _make_extobj
except ImportError:    # NumPy 1.x: through its public calls
    def quiet() -> object:
        """Ignore floating-point errors until restore(token)."""
        return np.seterr(all="ignore")

    def restore(token: object) -> None:
        """Give back the error state quiet() replaced."""
        np.seterr(**token)
else:
    _IGNORE = _make_extobj(all="ignore")

    def quiet() -> object:
        """Ignore floating-point errors until restore(token)."""
        return _extobj_contextvar.set(_IGNORE)

    restore = _extobj_contextvar.reset
