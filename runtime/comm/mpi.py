"""A process group over MPI (mpi4py): non-blocking collectives on host buffers, every wait bounded.

Data, agreements and failure notices travel on three duplicates of the communicator, so none can pair with
another's messages. A wait polls its request and, meanwhile, the notices: a rank that raises tells the others
(`notify_failure`, called as its process ends with an error) and they stop with a RemoteRankError naming it;
a rank that is gone or stuck makes them stop with a CollectiveTimeout after `timeout` seconds. After either,
the group refuses further collectives. GPU arrays are copied to the host and back (the NCCL fallback).

mpi4py is imported when a group is made (importing mpi4py.MPI initializes MPI).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import numpy as np

from graphc.ir.errors import CollectiveError, CollectiveMismatch, CollectiveTimeout, RemoteRankError

from ..arrays import array_module
from .agreement import mismatch_report

SPIN = 2000            # polls before a wait starts to sleep between polls (yielding the core to other ranks)
MAX_SLEEP = 1e-3       # the longest sleep between polls, seconds
NOTICE_TAG = 17
NOTICE_BYTES = 4096


class MPIPending:
    """A started MPI collective; `wait` returns its result on the operand's device."""

    __slots__ = ("group", "req", "out", "send", "on_gpu", "what")

    def __init__(self, group: MPICommunicator, req, out: np.ndarray, send: np.ndarray, on_gpu: bool,
                 what: tuple) -> None:
        self.group, self.req, self.out, self.send, self.on_gpu, self.what = group, req, out, send, on_gpu, what
        # `send` is kept: MPI reads it until the request completes.

    def test(self) -> bool:
        """True once complete (lets MPI progress the exchange)."""
        return self.req.Test()

    def wait(self):
        """The result, once every rank has contributed."""
        if not self.req.Test():
            self.group.wait_for(self.req, self.what)
        return array_module("gpu").asarray(self.out) if self.on_gpu else self.out


class MPICommunicator:
    """The ranks of an MPI communicator as a graphc process group (see graphc.ir.ops.collective.Communicator)."""

    capturable = False

    def __init__(self, comm, timeout: float) -> None:
        from mpi4py import MPI
        self._mpi = MPI
        self.data, self.ctl, self.notices = comm.Dup(), comm.Dup(), comm.Dup()
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.timeout = float(timeout)
        self.failed: str | None = None       # why the group stopped, once it did
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}

    @classmethod
    def world(cls, timeout: float) -> MPICommunicator:
        """All the processes mpiexec started (this one alone when it started none)."""
        from mpi4py import MPI
        return cls(MPI.COMM_WORLD, timeout)

    def local_rank(self) -> int:
        """This process's index among the ranks on its machine."""
        node = self.data.Split_type(self._mpi.COMM_TYPE_SHARED)
        try:
            return node.Get_rank()
        finally:
            node.Free()

    # ---- collectives -------------------------------------------------------------------------------------
    def _start(self, x, make: Callable, name: str, out_shape: tuple, out=None) -> MPIPending:
        if self.failed:
            raise CollectiveError(f"rank {self.rank}: the process group stopped earlier ({self.failed})")
        on_gpu = hasattr(x, "__cuda_array_interface__")
        send = x.get() if on_gpu else x
        if out is None or on_gpu:
            out = np.empty(out_shape, send.dtype)
        try:
            req = make(send, out)
        except self._mpi.Exception as e:
            raise self._stop(CollectiveError(f"rank {self.rank}: MPI refused {name}: {e}")) from None
        return MPIPending(self, req, out, send, on_gpu, (name, send.dtype, send.shape))

    def allreduce(self, x, op: str, out=None) -> MPIPending:
        """Elementwise sum, max or min over the ranks."""
        return self._start(x, lambda s, o: self.data.Iallreduce(s, o, op=self._ops[op]), f"all_reduce_{op}",
                           x.shape, out)

    def bcast(self, x, root: int, out=None) -> MPIPending:
        """The root's array on every rank."""
        def make(s, o):
            if self.rank == root:
                o[...] = s
            return self.data.Ibcast(o, root=root)
        return self._start(x, make, "broadcast", x.shape, out)

    def reduce(self, x, root: int, out=None) -> MPIPending:
        """The sum over the ranks on the root, zeros elsewhere."""
        def make(s, o):
            if self.rank != root:
                o[...] = 0
            return self.data.Ireduce(s, o if self.rank == root else None, op=self._mpi.SUM, root=root)
        return self._start(x, make, "reduce_sum", x.shape, out)

    def allgather(self, x) -> MPIPending:
        """Every rank's array stacked: shape (size, *x.shape)."""
        return self._start(x, lambda s, o: self.data.Iallgather(s, o), "all_gather", (self.size, *x.shape))

    def reduce_scatter(self, x) -> MPIPending:
        """x of shape (size, *rest) summed over the ranks; rank r gets row r."""
        return self._start(x, lambda s, o: self.data.Ireduce_scatter_block(s, o, op=self._mpi.SUM),
                           "reduce_scatter_sum", x.shape[1:])

    def barrier(self) -> None:
        """Return once every rank has called it."""
        self.wait_for(self.ctl.Ibarrier(), ("a barrier",))

    # ---- agreement ---------------------------------------------------------------------------------------
    def agree(self, key: str, describe: Callable[[], list[str]], what: str) -> None:
        """Check that every rank offers the same `key`, else raise a CollectiveMismatch with both lists."""
        digest = np.frombuffer(hashlib.sha256(key.encode()).digest(), np.uint8)
        table = np.empty((self.size, digest.size), np.uint8)
        self.wait_for(self.ctl.Iallgather(digest, table), (f"the agreement on {what}",))
        digests = [row.tobytes() for row in table]
        if len(set(digests)) == 1:
            return
        texts = [t.decode() for t in self.allgather_bytes("\n".join(describe()).encode(), f"the report on {what}")]
        raise self._stop(CollectiveMismatch(mismatch_report(self.rank, digests, texts, what)))

    def allgather_bytes(self, data: bytes, what: str) -> list[bytes]:
        """Every rank's bytes (any lengths), on the agreement channel."""
        n = np.array([len(data)], np.int64)
        lens = np.empty(self.size, np.int64)
        self.wait_for(self.ctl.Iallgather(n, lens), (what,))
        offsets = np.concatenate([[0], np.cumsum(lens)[:-1]])
        buf = np.empty(int(lens.sum()), np.uint8)
        spec = [buf, (lens.tolist(), offsets.tolist()), self._mpi.BYTE]
        self.wait_for(self.ctl.Iallgatherv(np.frombuffer(data, np.uint8), spec), (what,))
        return [buf[o:o + k].tobytes() for o, k in zip(offsets, lens)]

    # ---- waiting, failures -------------------------------------------------------------------------------
    def wait_for(self, req, what: tuple) -> None:
        """Poll `req` until it completes, another rank reports a failure, or the timeout passes."""
        MPI = self._mpi
        status = MPI.Status()
        deadline = time.monotonic() + self.timeout
        polls, pause = 0, 1e-5
        try:
            while not req.Test():
                if self.notices.Iprobe(MPI.ANY_SOURCE, NOTICE_TAG, status):
                    raise self._stop(self._remote_failure(status, what))
                polls += 1
                if polls > SPIN:
                    if time.monotonic() > deadline:
                        raise self._stop(CollectiveTimeout(
                            f"rank {self.rank} waited {self.timeout:g} s for the other ranks in {_what(what)}: a rank "
                            "may have died, hung, or be running other collectives (set the timeout with "
                            "init_process_group(timeout=...) or GRAPHC_DIST_TIMEOUT)"))
                    time.sleep(pause)
                    pause = min(2 * pause, MAX_SLEEP)
        except MPI.Exception as e:
            raise self._stop(CollectiveError(f"rank {self.rank}: MPI failed in {_what(what)}: {e}")) from None

    def _remote_failure(self, status, what: tuple) -> RemoteRankError:
        src, n = status.Get_source(), status.Get_count(self._mpi.BYTE)
        buf = bytearray(n)
        self.notices.Recv([buf, self._mpi.BYTE], source=src, tag=NOTICE_TAG)
        return RemoteRankError(f"rank {src} failed: {buf.decode(errors='replace')} (rank {self.rank} was "
                               f"waiting for it in {_what(what)})")

    def _stop(self, err: CollectiveError) -> CollectiveError:
        self.failed = f"{type(err).__name__}: {str(err).splitlines()[0]}"
        return err

    def notify_failure(self, message: str, grace: float = 1.0) -> None:
        """Tell every other rank that this one failed, waiting at most `grace` seconds for the messages to leave."""
        if self.size == 1:
            return
        data = message.encode()[:NOTICE_BYTES]
        MPI = self._mpi
        reqs = [self.notices.Isend([data, MPI.BYTE], dest=r, tag=NOTICE_TAG)
                for r in range(self.size) if r != self.rank]
        deadline = time.monotonic() + grace
        while not MPI.Request.Testall(reqs) and time.monotonic() < deadline:
            time.sleep(1e-3)


def _what(what: tuple) -> str:
    """A collective's description for messages: its name, and its operand when it has one."""
    if len(what) == 1:
        return what[0]
    name, dtype, shape = what
    return f"{name} of {dtype}{list(shape)}"
