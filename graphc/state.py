"""The front end's process-wide state: the trace being built and the tapes of recording GradManagers."""
from __future__ import annotations

from .ir import FORWARD


class State:
    """The active trace (a jit.Trace or None), the recording tapes, and the role traced nodes get now."""

    tracing = None            # the jit.Trace being built, or None
    tapes: list = []          # eager tapes of recording GradManagers
    role = FORWARD            # the role of nodes a trace records now (forward, gradient, update)


class role:
    """Context manager: nodes traced inside get this role (optimizer steps use UPDATE)."""

    def __init__(self, r: str) -> None:
        self.r = r

    def __enter__(self) -> None:
        self.prev, State.role = State.role, self.r

    def __exit__(self, *exc) -> None:
        State.role = self.prev
