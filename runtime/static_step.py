"""A traced step on fixed buffers, the form in which a CUDA graph replays it.

A CUDA graph bakes device pointers, so a replayed step reads its arguments and states from buffers
fixed at capture. `write_back` turns a plan `(args..., states...) -> (returns..., new states...)` into a
step body that writes each new state into that state's own buffer (as MegEngine's in-place optimizer
updates do) and returns only the returns. After a replay the states' buffers hold the new values, so
the next call has nothing to copy in for them. Array-module agnostic: the GPU passes CuPy's copies,
the tests NumPy's.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence


def _base(a):
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def write_back(fn: Callable, n_ret: int, update_pos: Sequence[int], copy: Callable, clone: Callable) -> Callable:
    """The step body: `fn` on the static buffers, then each new state copied into its state's buffer.

    `update_pos[j]` is the argument position of the state that result `n_ret + j` updates. A result that
    reads a buffer about to be overwritten (a state returned as it was, two states swapped, a view of a
    state) is cloned before any copy, so every value is the one the plan computed.
    """
    def body(*static):
        res = fn(*static)
        ret, new = list(res[:n_ret]), list(res[n_ret:])
        dests = [static[p] for p in update_pos]
        overwritten = {id(d) for d, s in zip(dests, new, strict=True) if s is not d}
        for vals in (ret, new):
            for i, v in enumerate(vals):
                if id(_base(v)) in overwritten:
                    vals[i] = clone(v)
        for d, s in zip(dests, new, strict=True):
            if s is not d:
                copy(d, s)
        return tuple(ret)
    return body
