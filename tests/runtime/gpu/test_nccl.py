"""The NCCL communicator's buffer handling on the CPU: NumPy buffers and a stand-in for cupy.cuda.nccl that
exchanges the raw memory its pointers name between three ranks (threads). What NCCL itself does on GPUs is
checked by tests/distributed/test_gpu_nccl.py where a device exists."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest
from local_group import LocalGroup

from graphc.ir import REGISTRY
from graphc.ir.errors import CollectiveError
from graphc.runtime.gpu.nccl import TYPES, NCCLCommunicator

CODES = {name: code for code, name in enumerate(TYPES.values())}
DTYPES = {code: np.dtype(d) for d, code in ((d, CODES[n]) for d, n in TYPES.items())}
OPS = {"NCCL_SUM": np.add, "NCCL_MAX": np.maximum, "NCCL_MIN": np.minimum}
STREAM = 1234


class FakeNccl:
    """The constants of cupy.cuda.nccl."""


for _name, _code in {**CODES, **{op: 10 + i for i, op in enumerate(OPS)}}.items():
    setattr(FakeNccl, _name, _code)
UFUNC = {10 + i: f for i, f in enumerate(OPS.values())}


def _memory(ptr: int, count: int, code: int) -> np.ndarray:
    """The `count` elements of NCCL type `code` at address `ptr`, as a writable NumPy view."""
    dtype = DTYPES[code]
    raw = (ctypes.c_byte * (count * dtype.itemsize)).from_address(ptr)
    return np.ctypeslib.as_array(raw).view(dtype)


class FakeNcclCommunicator:
    """cupy.cuda.nccl.NcclCommunicator's calls over a LocalGroup: pointers in, results written to pointers."""

    def __init__(self, group: LocalGroup, rank: int) -> None:
        self.group, self.rank, self.streams = group, rank, []

    def _all(self, ptr, count, code, stream):
        assert stream == STREAM
        self.streams.append(stream)
        return self.group.exchange(self.rank, _memory(ptr, count, code).copy())

    def allReduce(self, send, recv, count, code, op, stream):
        _memory(recv, count, code)[:] = UFUNC[op].reduce(np.stack(self._all(send, count, code, stream)))

    def broadcast(self, send, recv, count, code, root, stream):
        _memory(recv, count, code)[:] = self._all(send, count, code, stream)[root]

    def reduce(self, send, recv, count, code, op, root, stream):
        total = UFUNC[op].reduce(np.stack(self._all(send, count, code, stream)))
        if self.rank == root:
            _memory(recv, count, code)[:] = total

    def allGather(self, send, recv, count, code, stream):
        _memory(recv, count * self.group.n, code)[:] = np.concatenate(self._all(send, count, code, stream))

    def reduceScatter(self, send, recv, count, code, op, stream):
        total = UFUNC[op].reduce(np.stack(self._all(send, count * self.group.n, code, stream)))
        _memory(recv, count, code)[:] = total[self.rank * count:(self.rank + 1) * count]


def _run(n: int, fn):
    group = LocalGroup(n)
    fake = LocalGroup(n)       # NCCL's own traffic, apart from the host group's

    def rank(host):
        nccl = NCCLCommunicator(FakeNccl, np, FakeNcclCommunicator(fake, host.rank), host, lambda: STREAM,
                                lambda a: a.ctypes.data)
        return fn(nccl)
    return group.run(rank)


@pytest.mark.parametrize("name, attrs, want", [
    ("all_reduce_sum", {}, lambda xs, r: sum(xs)),
    ("all_reduce_max", {}, lambda xs, r: np.maximum.reduce(xs)),
    ("broadcast", {"root": 2}, lambda xs, r: xs[2]),
    ("reduce_sum", {"root": 0}, lambda xs, r: sum(xs) if r == 0 else np.zeros_like(xs[0])),
    ("all_gather", {"axis": 1}, lambda xs, r: np.concatenate(xs, 1)),
    ("reduce_scatter_sum", {"axis": 1}, lambda xs, r: np.split(sum(xs), 3, 1)[r]),
], ids=["all_reduce_sum", "all_reduce_max", "broadcast", "reduce_sum", "all_gather", "reduce_scatter_sum"])
def test_each_collective_through_the_nccl_calls(name, attrs, want):
    rng = np.random.default_rng(3)
    xs = [rng.integers(-50, 50, (4, 6)).astype(np.int32) for _ in range(3)]
    start = REGISTRY[name].collective
    outs = _run(3, lambda comm: start(comm, xs[comm.rank], **attrs, size=3).wait())
    for r, out in enumerate(outs):
        np.testing.assert_array_equal(out, want(xs, r))
        assert out.dtype == np.int32


def test_booleans_travel_as_bytes_and_come_back_as_booleans():
    xs = [np.array([True, False, r == 1]) for r in range(3)]
    outs = _run(3, lambda comm: REGISTRY["all_gather"].collective(comm, xs[comm.rank], axis=0, size=3).wait())
    np.testing.assert_array_equal(outs[0], np.concatenate(xs))
    assert outs[0].dtype == np.bool_


def test_a_dtype_nccl_lacks_is_refused_by_name():
    with pytest.raises(CollectiveError, match="NCCL cannot exchange int16 arrays"):
        _run(1, lambda comm: comm.allreduce(np.ones(3, np.int16), "sum"))


def test_every_call_goes_on_the_current_stream():
    group, fake = LocalGroup(1), LocalGroup(1)
    calls = FakeNcclCommunicator(fake, 0)

    def rank(host):
        comm = NCCLCommunicator(FakeNccl, np, calls, host, lambda: STREAM, lambda a: a.ctypes.data)
        comm.allreduce(np.ones(2, np.float32), "sum")
        comm.allgather(np.ones(2, np.float32))
        return comm.capturable
    assert group.run(rank) == [True]
    assert calls.streams == [STREAM, STREAM]


def test_results_go_into_given_buffers_and_non_roots_read_zeros():
    xs = [np.full(4, r + 1.0, np.float32) for r in range(3)]
    bufs = [np.full(4, np.nan, np.float32) for _ in range(3)]
    outs = _run(3, lambda comm: REGISTRY["reduce_sum"].collective(comm, xs[comm.rank], root=1, size=3,
                                                                   out=bufs[comm.rank]).wait())
    assert all(o is b for o, b in zip(outs, bufs))
    assert [o.tolist() for o in outs] == [[0.0] * 4, [6.0] * 4, [0.0] * 4]
