"""NCCL process groups on GPUs, through CuPy's cupy.cuda.nccl, bootstrapped over MPI (rank 0 makes the NCCL id
and broadcasts it).

Each collective is enqueued on the current CUDA stream, which inside a plan is the plan's stream: the exchange
is ordered with the kernels around it, a wait only hands back the result, and a traced step with its all-reduce
is still captured and replayed as one CUDA graph. Agreements, barriers and failure notices go through the MPI
group; an exchange NCCL leaves hanging is not timed out here (the stream holds it), unlike MPI waits.

CuPy is imported when a group is made; the communicator itself takes its modules as arguments, so the tests
run it on NumPy buffers with a stand-in for NCCL.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graphc.ir.errors import CollectiveError, DeviceError
from graphc.ir.ops.collective import Done

from ..comm.mpi import MPICommunicator

# NCCL's element types by NumPy dtype (booleans travel as bytes; NCCL has no 16-bit integers).
TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64", "int8": "NCCL_INT8",
         "uint8": "NCCL_UINT8", "int32": "NCCL_INT32", "uint32": "NCCL_UINT32", "int64": "NCCL_INT64",
         "uint64": "NCCL_UINT64"}
OPS = {"sum": "NCCL_SUM", "max": "NCCL_MAX", "min": "NCCL_MIN"}
UNIQUE_ID_BYTES = 128


def missing() -> str | None:
    """Why CuPy cannot run NCCL here, or None when it can."""
    try:
        from cupy.cuda import nccl
    except ImportError as e:
        return f"CuPy's NCCL module cannot be imported ({e})"
    if not getattr(nccl, "available", False):
        return "this CuPy was built without NCCL (cupy.cuda.nccl.available is False)"
    return None


def use_device(index: int) -> int:
    """Make GPU `index` (modulo the GPU count when more ranks than GPUs share a machine) current; its index."""
    import cupy
    count = cupy.cuda.runtime.getDeviceCount()
    if index < 0 or count == 0:
        raise DeviceError(f"no GPU {index} on this machine ({count} GPUs)")
    index %= count
    cupy.cuda.Device(index).use()
    return index


class NCCLCommunicator:
    """The ranks as a graphc process group over NCCL (see graphc.ir.ops.collective.Communicator)."""

    capturable = True

    def __init__(self, nccl, xp, comm, host: MPICommunicator, stream: Callable[[], int],
                 pointer: Callable[[object], int]) -> None:
        self.nccl, self.xp, self.comm, self.host = nccl, xp, comm, host
        self.rank, self.size = host.rank, host.size
        self._stream, self._pointer = stream, pointer

    @classmethod
    def connect(cls, host: MPICommunicator, device: int) -> NCCLCommunicator:
        """Join every rank's GPU `device` into one NCCL communicator (collective over the MPI group)."""
        import cupy
        from cupy.cuda import nccl
        uid = np.zeros(UNIQUE_ID_BYTES, np.int8)
        if host.rank == 0:
            uid[:] = nccl.get_unique_id()
        uid = host.bcast(uid, 0).wait()
        with cupy.cuda.Device(device):
            comm = nccl.NcclCommunicator(host.size, tuple(int(b) for b in uid), host.rank)
        return cls(nccl, cupy, comm, host, lambda: cupy.cuda.get_current_stream().ptr, lambda a: a.data.ptr)

    def _type(self, x) -> tuple[object, int]:
        """The buffer as NCCL sees it and NCCL's code for its element type."""
        if x.dtype == np.bool_:
            x = x.view(np.uint8)
        name = TYPES.get(x.dtype.name)
        if name is None:
            raise CollectiveError(f"NCCL cannot exchange {x.dtype} arrays; cast to int32 or a float type first")
        return x, getattr(self.nccl, name)

    def _call(self, what: str, fn: Callable, *args) -> None:
        try:
            fn(*args, self._stream())
        except Exception as e:   # cupy.cuda.nccl.NcclError and CUDA errors
            raise CollectiveError(f"rank {self.rank}: NCCL failed in {what}: {type(e).__name__}: {e}") from None

    def _out(self, buf, out, zeros: bool = False):
        """Where the result goes: `out` (seen as NCCL sees the operand) or a new buffer."""
        if out is not None:
            out = out.view(buf.dtype)
            if zeros:
                out[...] = 0
            return out
        return self.xp.zeros_like(buf) if zeros else self.xp.empty_like(buf)

    def allreduce(self, x, op: str, out=None) -> Done:
        """Elementwise sum, max or min over the ranks."""
        buf, code = self._type(x)
        res = self._out(buf, out)
        self._call(f"all_reduce_{op}", self.comm.allReduce, self._pointer(buf), self._pointer(res), buf.size, code,
                   getattr(self.nccl, OPS[op]))
        return Done(res.view(x.dtype) if out is None else out)

    def bcast(self, x, root: int, out=None) -> Done:
        """The root's array on every rank."""
        buf, code = self._type(x)
        res = self._out(buf, out)
        self._call("broadcast", self.comm.broadcast, self._pointer(buf), self._pointer(res), buf.size, code, root)
        return Done(res.view(x.dtype) if out is None else out)

    def reduce(self, x, root: int, out=None) -> Done:
        """The sum over the ranks on the root, zeros elsewhere."""
        buf, code = self._type(x)
        res = self._out(buf, out, zeros=self.rank != root)
        self._call("reduce_sum", self.comm.reduce, self._pointer(buf), self._pointer(res), buf.size, code,
                   self.nccl.NCCL_SUM, root)
        return Done(res.view(x.dtype) if out is None else out)

    def allgather(self, x) -> Done:
        """Every rank's array stacked: shape (size, *x.shape)."""
        buf, code = self._type(x)
        out = self.xp.empty((self.size, *buf.shape), buf.dtype)
        self._call("all_gather", self.comm.allGather, self._pointer(buf), self._pointer(out), buf.size, code)
        return Done(out.view(x.dtype))

    def reduce_scatter(self, x) -> Done:
        """x of shape (size, *rest) summed over the ranks; rank r gets row r."""
        buf, code = self._type(x)
        out = self.xp.empty(buf.shape[1:], buf.dtype)
        self._call("reduce_scatter_sum", self.comm.reduceScatter, self._pointer(buf), self._pointer(out), out.size,
                   code, self.nccl.NCCL_SUM)
        return Done(out.view(x.dtype))

    def agree(self, key: str, describe: Callable[[], list[str]], what: str) -> None:
        """Agreement through the MPI group."""
        self.host.agree(key, describe, what)

    def barrier(self) -> None:
        """A barrier through the MPI group."""
        self.host.barrier()


def device_count() -> int:
    """GPUs on this machine."""
    import cupy
    return cupy.cuda.runtime.getDeviceCount()
