"""A value set later: what a gradient callback may return when it computes the gradient after seeing them all
(the bucketed all-reduce does); GradManager.backward resolves it once its after-backward callbacks ran."""
from __future__ import annotations

from .ir.errors import GradError

_UNSET = object()


class Future:
    """A value set once by its producer and read by `get` (MegEngine's utils.future.Future, without threads)."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value = _UNSET

    def set(self, value) -> None:
        """Provide the value."""
        self._value = value

    def get(self):
        """The value; a GradError when it was never set."""
        if self._value is _UNSET:
            raise GradError("a gradient callback returned a Future that was never set (its GradManager's "
                            "after-backward callbacks did not provide the gradient)")
        return self._value
