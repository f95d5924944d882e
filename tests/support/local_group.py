"""A process group of threads: n ranks in this process exchanging NumPy arrays through a barrier.

It stands in for MPI where a test needs several ranks but no processes: the collectives' layouts and the
NCCL communicator's buffer handling run on it. Each rank's calls must come from its own thread (`run`).
"""
from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from graphc.ir.ops.collective import Done

UFUNCS = {"sum": np.add, "max": np.maximum, "min": np.minimum}


class LocalGroup:
    """n ranks as threads; `run(fn)` calls fn(comm) on every rank's thread and returns the results by rank."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.barrier = threading.Barrier(n, timeout=10)
        self.slots: list = [None] * n

    def exchange(self, rank: int, value) -> list:
        """Every rank's value, once every rank has given one."""
        self.slots[rank] = value
        self.barrier.wait()
        values = list(self.slots)
        self.barrier.wait()
        return values

    def run(self, fn: Callable) -> list:
        """fn(LocalComm) on n threads; raises the first rank's exception, if any."""
        results: list = [None] * self.n
        errors: list = []

        def body(r: int) -> None:
            try:
                results[r] = fn(LocalComm(self, r))
            except BaseException as e:   # reported below, in the test's thread
                errors.append(e)
                self.barrier.abort()
        threads = [threading.Thread(target=body, args=(r,)) for r in range(self.n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results


def _into(out, value) -> Done:
    """The result, written into `out` when the caller gave a buffer."""
    if out is None:
        return Done(value)
    out[...] = value
    return Done(out)


class LocalComm:
    """One rank of a LocalGroup, with the Communicator interface of graphc.ir.ops.collective."""

    capturable = False

    def __init__(self, group: LocalGroup, rank: int) -> None:
        self.group, self.rank, self.size = group, rank, group.n

    def _all(self, x) -> list[np.ndarray]:
        return self.group.exchange(self.rank, np.array(x))

    def allreduce(self, x, op: str, out=None) -> Done:
        return _into(out, UFUNCS[op].reduce(np.stack(self._all(x)), axis=0))

    def bcast(self, x, root: int, out=None) -> Done:
        return _into(out, self._all(x)[root].copy())

    def reduce(self, x, root: int, out=None) -> Done:
        total = np.add.reduce(np.stack(self._all(x)), axis=0)
        return _into(out, total if self.rank == root else np.zeros_like(total))

    def allgather(self, x) -> Done:
        return Done(np.stack(self._all(x)))

    def reduce_scatter(self, x) -> Done:
        return Done(np.add.reduce(np.stack(self._all(x)), axis=0)[self.rank].copy())

    def agree(self, key: str, describe, what: str) -> None:
        keys = self.group.exchange(self.rank, key)
        assert len(set(keys)) == 1, keys

    def barrier(self) -> None:
        self.group.exchange(self.rank, None)
