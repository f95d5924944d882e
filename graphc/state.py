"""The front end's per-thread state: the trace being built and the tapes of recording GradManagers.

Each thread has its own, so a function traced in one thread never records what another thread runs (its
eager ops, or its calls of traced functions, which would otherwise be inlined into the trace).
"""
from __future__ import annotations

import threading

from .ir import FORWARD


class _State(threading.local):
    """The active trace (a jit.Trace or None), the recording tapes, and the role traced nodes get now."""

    tracing = None            # the jit.Trace being built, or None
    role = FORWARD            # the role of nodes a trace records now (forward, gradient, update)

    def __init__(self) -> None:
        self.tapes: list = []     # eager tapes of recording GradManagers


State = _State()


class role:
    """Context manager: nodes traced inside get this role (optimizer steps use UPDATE)."""

    def __init__(self, r: str) -> None:
        self.r = r

    def __enter__(self) -> None:
        self.prev, State.role = State.role, self.r

    def __exit__(self, *exc) -> None:
        State.role = self.prev
