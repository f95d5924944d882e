"""A traced step on fixed buffers, the form in which a CUDA graph replays it.

A CUDA graph bakes device pointers, so a replayed step reads its arguments and states from buffers
fixed at capture. `write_back` turns a plan `(args..., states...) -> (returns..., new states...)` into a
step body that writes each new state into that state's own buffer (as MegEngine's in-place optimizer
updates do) and returns only the returns. After a replay the states' buffers hold the new values, so
the next call has nothing to copy in for them. `StepGraph` runs such a body captured. Both are
array-module agnostic: gpu_graph passes CuPy's copies and CUDA-graph capture, the tests NumPy's.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Backend:
    """How a StepGraph captures and copies on one array module."""

    capture: Callable       # (body, example arrays) -> replay: .static_inputs, .captured, .reason, (*arrays)
    copy: Callable          # copy(dst, src), inside the captured step
    clone: Callable         # clone(a) -> new array, inside the captured step
    fresh_copy: Callable    # fresh_copy(a) -> new array handed to the caller after a replay


class StepGraph:
    """A traced step `(args..., states...) -> (returns..., new states...)` captured once and replayed.

    The captured body writes the new states into the states' static buffers (`write_back`), so the
    caller rebinds its state tensors to `state_buffers` once and later calls copy in only the
    arguments. Calls return fresh copies of the returns followed by the updated states' buffers.
    """

    def __init__(self, fn: Callable[..., tuple], arrays: Sequence, n_ret: int, update_pos: Sequence[int],
                 n_args: int, backend: Backend) -> None:
        body = write_back(fn, n_ret, update_pos, copy=backend.copy, clone=backend.clone)
        self.plan = backend.capture(body, arrays)
        self._fresh_copy = backend.fresh_copy
        self.state_buffers = tuple(self.plan.static_inputs[n_args:])
        self._updated = tuple(self.plan.static_inputs[p] for p in update_pos)

    @property
    def captured(self) -> bool:
        """True when calls replay the captured step."""
        return self.plan.captured

    @property
    def reason(self) -> str | None:
        """Why the step could not be captured, when it could not."""
        return self.plan.reason

    def __call__(self, arrays: Sequence) -> tuple:
        return tuple(self._fresh_copy(o) for o in self.plan(*arrays)) + self._updated
