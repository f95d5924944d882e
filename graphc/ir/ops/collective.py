"""Collective ops: exchanges between the processes of a group (data-parallel training's gradient all-reduce).

Every collective runs through the process group installed with `set_world` (graphc.distributed installs one
over MPI or NCCL); without one the group is this process alone, where each collective is a copy. The group
size is an attribute, fixed when the graph is traced: it decides the shapes of all_gather and
reduce_scatter_sum, and a plan refuses to run in a group of another size. The rank is not: the same graph
(or plan file) runs on every rank.

An op's `collective` field starts the exchange and returns a Pending, so that the runtime can overlap it with
computation; its kernel starts and waits at once. Each VJP is the matching collective: all_reduce_sum's is
all_reduce_sum, broadcast's is reduce_sum to the root and back, all_gather's is reduce_scatter_sum and back.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .. import attrs as A
from ..errors import AxisError, CollectiveError, DTypeError
from ..graph import emit
from ..location import user_location
from ..opdef import OpDef, register
from ..symbols import quotient

REDUCE_OPS = ("sum", "max", "min")


class Pending(Protocol):
    """A started collective."""

    def wait(self) -> object:
        """The result, once every rank has contributed (raises CollectiveError on failure or timeout)."""

    def test(self) -> bool:
        """True once the result is there; also lets the exchange progress."""


class Communicator(Protocol):
    """What a process group provides: non-blocking collectives on C-contiguous arrays, started in the same
    order on every rank; each result is a new array on the operand's device, or `out` where one is given
    (a buffer of the operand's type that the caller leaves alone until the wait)."""

    rank: int
    size: int
    capturable: bool    # collectives may be recorded in a CUDA graph (NCCL on the plan's stream)

    def allreduce(self, x, op: str, out=None) -> Pending:
        """Elementwise sum, max or min over the ranks."""

    def bcast(self, x, root: int, out=None) -> Pending:
        """The root's array on every rank."""

    def reduce(self, x, root: int, out=None) -> Pending:
        """The sum over the ranks on the root, zeros elsewhere."""

    def allgather(self, x) -> Pending:
        """Every rank's array stacked: shape (size, *x.shape)."""

    def reduce_scatter(self, x) -> Pending:
        """x of shape (size, *rest) summed over the ranks; rank r gets row r."""

    def agree(self, key: str, describe: Callable[[], list[str]], what: str) -> None:
        """Check that every rank is about to run the same collectives (`key`; `describe` lists them for the
        report); a CollectiveMismatch names the ranks that differ and shows both lists."""

    def barrier(self) -> None:
        """Return once every rank has called it."""


class Done:
    """A collective that completed when it started."""

    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value

    def wait(self):
        """The result."""
        return self.value

    def test(self) -> bool:
        """Always complete."""
        return True


class Then:
    """A pending result transformed once it arrives (a layout change after the exchange)."""

    __slots__ = ("pending", "fn")

    def __init__(self, pending: Pending, fn: Callable) -> None:
        self.pending, self.fn = pending, fn

    def wait(self):
        """The transformed result."""
        return self.fn(self.pending.wait())

    def test(self) -> bool:
        """True once the underlying exchange is complete."""
        return self.pending.test()


class Solo:
    """The group of this process alone: every collective is a copy of its operand."""

    rank, size, capturable = 0, 1, True

    def allreduce(self, x, op: str, out=None) -> Pending:
        """x itself: the only rank's contribution."""
        return Done(_copy(x, out))

    def bcast(self, x, root: int, out=None) -> Pending:
        """x itself: this rank is the root."""
        return Done(_copy(x, out))

    def reduce(self, x, root: int, out=None) -> Pending:
        """x itself: this rank is the root."""
        return Done(_copy(x, out))

    def allgather(self, x) -> Pending:
        """x stacked alone: shape (1, *x.shape)."""
        return Done(x.reshape((1, *x.shape)).copy())

    def reduce_scatter(self, x) -> Pending:
        """The only row of x."""
        return Done(x[0].copy())

    def agree(self, key: str, describe: Callable[[], list[str]], what: str) -> None:
        """Nothing to agree with."""

    def barrier(self) -> None:
        """Nothing to wait for."""


def _copy(x, out):
    if out is None:
        return x.copy()
    out[...] = x
    return out


SOLO = Solo()
_world: list = [SOLO]


def set_world(comm: Communicator | None) -> None:
    """Run collectives through `comm` from now on (None: this process alone)."""
    _world[0] = SOLO if comm is None else comm


def get_world() -> Communicator:
    """The process group collectives run in."""
    return _world[0]


def world(size: int, op: str, loc: str | None) -> Communicator:
    """The process group, which must have `size` ranks (the size op `op`, made at `loc`, was traced for)."""
    comm = _world[0]
    if comm.size != size:
        how = (f": start {size} processes (mpiexec -n {size} python ...) and call "
               "graphc.distributed.init_process_group() first" if comm.size == 1 else "")
        raise CollectiveError(f"{op}: traced for a group of {size} processes, it runs in a group of {comm.size}"
                              f"{how}{f' (at {loc})' if loc else ''}")
    return comm


def _contiguous(x):
    return x if x.flags.c_contiguous else x.copy(order="C")


# ---- starting each collective: the layout around the flat exchange ----------------------------------------

# Collectives whose result has the operand's type take `out`, a buffer the runtime keeps from call to call.
def _all_reduce_start(op: str) -> Callable:
    def start(comm: Communicator, x, *, size: int, out=None) -> Pending:
        return comm.allreduce(_contiguous(x), op, out)
    return start


def _broadcast_start(comm: Communicator, x, *, root: int, size: int, out=None) -> Pending:
    return comm.bcast(_contiguous(x), root, out)


def _reduce_sum_start(comm: Communicator, x, *, root: int, size: int, out=None) -> Pending:
    return comm.reduce(_contiguous(x), root, out)


def _all_gather_start(comm: Communicator, x, *, axis: int, size: int) -> Pending:
    shape = x.shape

    def join(stacked):   # (size, *shape) -> the ranks' arrays concatenated along `axis`
        out = stacked if axis == 0 else stacked.transpose(*range(1, axis + 1), 0, *range(axis + 1, len(shape) + 1))
        return out.reshape(shape[:axis] + (size * shape[axis],) + shape[axis + 1:])
    return Then(comm.allgather(_contiguous(x)), join)


def _reduce_scatter_start(comm: Communicator, x, *, axis: int, size: int) -> Pending:
    shape = x.shape
    part = shape[:axis] + (shape[axis] // size,) + shape[axis + 1:]
    blocks = x.reshape(shape[:axis] + (size,) + part[axis:])   # rank r's block is index r on axis `axis`
    if axis:
        blocks = blocks.transpose(axis, *range(axis), *range(axis + 1, len(shape) + 1))
    return comm.reduce_scatter(_contiguous(blocks))


def _run(start: Callable, name: str, x, attrs: dict):
    """Start and finish a collective now, after the ranks agreed on it (eager calls agree every time: a rank
    that runs another collective is reported at once rather than after the timeout)."""
    comm = world(attrs["size"], name, user_location())
    key = f"{name} {attrs} {x.dtype.str}{tuple(x.shape)}"
    comm.agree(key, lambda: [f"{key}  @ {user_location() or 'no source location'}"], f"an eager {name}")
    return start(comm, x, **attrs).wait()


# ---- shapes and dtypes -------------------------------------------------------------------------------------

def _infer_reduce(types, attrs):
    (shape, d), = types
    if d.kind == "b":
        raise DTypeError("cannot reduce booleans across processes; cast them to an integer dtype first")
    return [(shape, d)]


def _infer_rooted(reduces: bool):
    def infer(types, attrs):
        if attrs["root"] >= attrs["size"]:
            raise CollectiveError(f"root rank {attrs['root']} is not in a group of {attrs['size']} processes")
        return _infer_reduce(types, attrs) if reduces else list(types)
    return infer


def _check_axis(shape: tuple, axis: int) -> None:
    if axis >= len(shape):
        raise AxisError(f"axis {axis} is out of range for a tensor of rank {len(shape)}")


def _infer_all_gather(types, attrs):
    (shape, d), = types
    axis = attrs["axis"]
    _check_axis(shape, axis)
    return [(shape[:axis] + (shape[axis] * attrs["size"],) + shape[axis + 1:], d)]


def _infer_reduce_scatter(types, attrs):
    (shape, d), = _infer_reduce(types, attrs)
    axis, size = attrs["axis"], attrs["size"]
    _check_axis(shape, axis)
    part = quotient(shape[axis], size, f"axis {axis} of shape {shape} split into {size} equal parts")
    return [(shape[:axis] + (part,) + shape[axis + 1:], d)]


# ---- gradients: the matching collectives -------------------------------------------------------------------

def _sum_vjp(ins, outs, douts, attrs):
    return [emit("all_reduce_sum", douts, size=attrs["size"])]


def _extreme_vjp(ins, outs, douts, attrs):
    # The ranks holding the extreme (all of them on ties, as graphc's max) receive the summed gradient.
    x, = ins
    mask = emit("astype", [emit("equal", [x, outs[0]])], dtype=str(x.dtype))
    return [mask * emit("all_reduce_sum", douts, size=attrs["size"])]


def _broadcast_vjp(ins, outs, douts, attrs):
    return [emit("reduce_sum", douts, root=attrs["root"], size=attrs["size"])]


def _reduce_sum_vjp(ins, outs, douts, attrs):
    return [emit("broadcast", douts, root=attrs["root"], size=attrs["size"])]


def _all_gather_vjp(ins, outs, douts, attrs):
    return [emit("reduce_scatter_sum", douts, axis=attrs["axis"], size=attrs["size"])]


def _reduce_scatter_vjp(ins, outs, douts, attrs):
    return [emit("all_gather", douts, axis=attrs["axis"], size=attrs["size"])]


# ---- the ops -----------------------------------------------------------------------------------------------

SIZE = A.Attr("a positive integer (a group size)", lambda v: A.is_int(v) and v >= 1)
_VJPS = {"sum": _sum_vjp, "max": _extreme_vjp, "min": _extreme_vjp}


def _register_all_reduce(op: str) -> None:
    name, start = f"all_reduce_{op}", _all_reduce_start(op)

    def kernel(xp, x, size):
        return _run(start, name, x, {"size": size})
    register(OpDef(name, "collective", _infer_reduce, kernel, _VJPS[op], attrs={"size": SIZE}, collective=start))


for _op in REDUCE_OPS:
    _register_all_reduce(_op)


def _broadcast(xp, x, root, size):
    return _run(_broadcast_start, "broadcast", x, {"root": root, "size": size})


def _reduce_sum(xp, x, root, size):
    return _run(_reduce_sum_start, "reduce_sum", x, {"root": root, "size": size})


def _all_gather(xp, x, axis, size):
    return _run(_all_gather_start, "all_gather", x, {"axis": axis, "size": size})


def _reduce_scatter_sum(xp, x, axis, size):
    return _run(_reduce_scatter_start, "reduce_scatter_sum", x, {"axis": axis, "size": size})


register(OpDef("broadcast", "collective", _infer_rooted(False), _broadcast, _broadcast_vjp,
               attrs={"root": A.COUNT, "size": SIZE}, collective=_broadcast_start))
register(OpDef("reduce_sum", "collective", _infer_rooted(True), _reduce_sum, _reduce_sum_vjp,
               attrs={"root": A.COUNT, "size": SIZE}, collective=_reduce_sum_start))
register(OpDef("all_gather", "collective", _infer_all_gather, _all_gather, _all_gather_vjp,
               attrs={"axis": A.AXIS, "size": SIZE}, collective=_all_gather_start))
register(OpDef("reduce_scatter_sum", "collective", _infer_reduce_scatter, _reduce_scatter_sum, _reduce_scatter_vjp,
               attrs={"axis": A.AXIS, "size": SIZE}, collective=_reduce_scatter_start))
