"""The rule for traced calls that share tensors across threads: one lock per captured tensor.

A traced call that changes anything beyond its results (a training step: it updates parameters or
optimizer state, or sets `.grad`) holds the locks of every tensor it captures, exclusively, from reading
them to storing their new values; steps sharing a parameter therefore run one after the other and never
lose an update. A call that only reads its captured tensors (inference) shares their locks with other
readers, so inference runs in parallel but never sees a step half done (updates may be written into a
parameter's own buffer). Locks are always taken in one global order (tensor creation), so calls holding
several never deadlock.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

from .tensors import Tensor


class StateLock:
    """A readers-writer lock: many calls may read the tensor at once, one step may change it."""

    __slots__ = ("_lock", "_idle", "_readers", "_waiting")

    def __init__(self) -> None:
        self._lock = threading.Lock()          # held by a writer for its whole step, by readers for a moment
        self._idle = threading.Condition(self._lock)
        self._readers = 0
        self._waiting = 0                      # writers waiting for the readers to finish

    def acquire_read(self) -> None:
        """Start reading (waits while a step changes the tensor)."""
        with self._lock:
            self._readers += 1

    def release_read(self) -> None:
        """Stop reading."""
        with self._lock:
            self._readers -= 1
            if self._waiting and not self._readers:
                self._idle.notify_all()

    def acquire_write(self) -> None:
        """Start changing the tensor: no new readers, and wait for the current ones to finish."""
        self._lock.acquire()
        while self._readers:
            self._waiting += 1
            self._idle.wait()
            self._waiting -= 1

    def release_write(self) -> None:
        """Stop changing it."""
        self._lock.release()


_locks: dict[int, StateLock] = {}
_registry = threading.Lock()


def state_locks(tensors: Sequence[Tensor]) -> list[StateLock]:
    """The locks of `tensors`, in the one order every call takes them in."""
    out = []
    with _registry:
        for t in sorted({id(t): t for t in tensors}.values(), key=lambda t: t._serial):
            lk = _locks.get(id(t))
            if lk is None:
                lk = _locks[id(t)] = StateLock()
                weakref.finalize(t, _locks.pop, id(t), None)
            out.append(lk)
    return out


class Holding:
    """Context manager: hold `locks` for writing (a training step) or for reading."""

    __slots__ = ("_acquire", "_release")

    def __init__(self, locks: list[StateLock], write: bool) -> None:
        self._acquire = [lk.acquire_write if write else lk.acquire_read for lk in locks]
        self._release = [lk.release_write if write else lk.release_read for lk in reversed(locks)]

    def __enter__(self) -> None:
        for k, acquire in enumerate(self._acquire):
            try:
                acquire()
            except BaseException:    # interrupted while waiting: give back what was taken
                for release in self._release[len(self._release) - k:]:
                    release()
                raise

    def __exit__(self, *exc) -> None:
        for release in self._release:
            release()
