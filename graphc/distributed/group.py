"""The process group (MegEngine's distributed.group): made from the MPI launcher's ranks, on MPI or NCCL.

`init_process_group` takes the rank and world size from mpiexec (MegEngine's master_ip and port are accepted
and unused: MPI brings the processes together), picks the device and the backend, and installs the group
that every collective runs in. A rank whose program ends with an exception tells the others, which then stop
with a RemoteRankError naming it instead of waiting.
"""
from __future__ import annotations

import logging
import sys
import traceback
import warnings

from ..config import config
from ..device import is_cuda_available, set_default_device
from ..ir.errors import CollectiveError, DeviceError
from ..ir.location import is_user_file, user_location
from ..ir.ops.collective import set_world
from ..runtime.comm.backend import choose_gpu_backend, peers
from ..runtime.comm.mpi import MPICommunicator
from ..runtime.gpu import nccl

log = logging.getLogger("graphc.distributed")
BACKENDS = ("auto", "nccl", "mpi")
DEVICE_TYPES = ("xpu", "gpu", "cuda", "cpu")


class StaticData:
    """The initialized process group: its communicators, backend and device."""

    def __init__(self, host: MPICommunicator, comm, backend: str, device: str) -> None:
        self.host = host              # MPI: agreements, failure notices, the NCCL bootstrap
        self.comm = comm              # what collectives run through (MPI, or NCCL on GPUs)
        self.backend = backend        # "mpi" | "nccl"
        self.device = device          # e.g. "gpu1" or "cpu0"


_sd: StaticData | None = None


class Group:
    """The ranks a collective runs over. Only WORLD, every process of the job, exists in graphc."""

    def __init__(self, proc_ranks: list[int] | None) -> None:
        self.proc_ranks = proc_ranks

    @property
    def size(self) -> int:
        """Number of ranks."""
        return get_world_size()

    @property
    def rank(self) -> int:
        """This process's rank in the group."""
        return get_rank()

    @property
    def key(self) -> str:
        """The group's ranks as MegEngine names them, e.g. "0,1,2"."""
        return ",".join(map(str, range(self.size)))

    def __repr__(self) -> str:
        return f"<Group WORLD of {self.size}>"


WORLD = Group(None)


def new_group(proc_ranks: list[int]) -> Group:
    """MegEngine's sub-group: graphc has WORLD only, so every rank in order is the one group it accepts."""
    if list(proc_ranks) != list(range(get_world_size())):
        raise CollectiveError(f"new_group({list(proc_ranks)}): only the group of every rank in order (WORLD) is "
                              f"supported (at {user_location()})")
    return WORLD


def group_size(group: Group | None, op: str) -> int:
    """The size of `group`, which must be WORLD (graphc has no sub-groups)."""
    if group is not None and group is not WORLD:
        raise CollectiveError(f"{op}: only the WORLD group is supported, got {group!r} (at {user_location()})")
    return get_world_size()


def init_process_group(master_ip: str | None = None, port: int | None = None, world_size: int | None = None,
                       rank: int | None = None, device: int | None = None, backend: str = "auto",
                       device_type: str = "xpu", *, timeout: float | None = None) -> None:
    """Join the processes mpiexec started (MegEngine's signature; master_ip and port are not needed).

    world_size and rank, when given, must be those mpiexec assigned. device: the GPU of this rank (default: its
    index among the ranks of its machine). backend: "auto" (NCCL on GPUs, MPI on CPUs), "nccl" or "mpi".
    timeout: seconds a collective waits for the other ranks (default config.dist_timeout).
    """
    global _sd
    if _sd is not None:
        raise CollectiveError("init_process_group should be called only once")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if device_type not in DEVICE_TYPES:
        raise DeviceError(f"device_type must be one of {DEVICE_TYPES}, got {device_type!r}")
    try:
        host = MPICommunicator.world(config.dist_timeout if timeout is None else timeout)
    except ImportError as e:
        raise CollectiveError(f"graphc.distributed needs mpi4py and an MPI library: pip install mpich mpi4py "
                              f"({e})") from None
    _check_launch(host, world_size, rank)
    gpu = device_type in ("gpu", "cuda") or (device_type == "xpu" and is_cuda_available())
    if gpu and not is_cuda_available():
        raise DeviceError(f"device_type={device_type!r} needs a CUDA GPU with CuPy, and none is available")
    comm, chosen, dev = host, "mpi", "cpu0"
    if gpu:
        index = nccl.use_device(host.local_rank() if device is None else device)
        dev = f"gpu{index}"
        if backend != "mpi":
            use, why = choose_gpu_backend(peers(host, index), nccl.missing())
            if use == "nccl":
                comm, chosen = nccl.NCCLCommunicator.connect(host, index), "nccl"
            else:
                warnings.warn(f"graphc.distributed: collectives go through MPI on host buffers: {why}",
                              stacklevel=2)
        set_default_device(dev)
    _sd = StaticData(host, comm, chosen, dev)
    set_world(comm)
    _notify_on_failure(host)
    log.info("rank %d of %d on %s, collectives through %s", host.rank, host.size, dev, chosen)


def _check_launch(host: MPICommunicator, world_size: int | None, rank: int | None) -> None:
    """world_size and rank given by the caller must be those of the MPI job."""
    if (world_size is None or world_size == host.size) and (rank is None or rank == host.rank):
        return
    want = f"rank {rank} of {world_size}" if rank is not None else f"a world of {world_size}"
    raise CollectiveError(f"init_process_group asks for {want}, but this process is rank {host.rank} of "
                          f"{host.size} processes: start the job with `mpiexec -n {world_size or '<N>'} python ...` "
                          "or graphc.distributed.launcher")


def _notify_on_failure(host: MPICommunicator) -> None:
    """Make an uncaught exception tell the other ranks (after the traceback is printed)."""
    previous = sys.excepthook

    def hook(kind, value, tb) -> None:
        previous(kind, value, tb)
        if not isinstance(value, CollectiveError):   # a collective's error reaches every rank by itself
            host.notify_failure(failure_message(value, tb))
    sys.excepthook = hook


def failure_message(err: BaseException, tb=None) -> str:
    """One line for other ranks: the exception and the user's line it came through."""
    frames = [f for f in traceback.extract_tb(tb if tb is not None else err.__traceback__)
              if is_user_file(f.filename)]
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}{where}"


def is_distributed() -> bool:
    """True once init_process_group has run."""
    return _sd is not None


def get_rank() -> int:
    """This process's rank (0 when not distributed)."""
    return _sd.host.rank if _sd is not None else 0


def get_world_size() -> int:
    """The number of processes in the job (1 when not distributed)."""
    return _sd.host.size if _sd is not None else 1


def get_backend() -> str:
    """What collectives run through: "mpi" or "nccl"."""
    if _sd is None:
        raise CollectiveError("get_backend: call init_process_group first")
    return _sd.backend


def allgather_bytes(data: bytes, what: str) -> list[bytes]:
    """Every rank's bytes, by rank, through MPI (small control data, such as a launcher's results)."""
    if _sd is None:
        return [data]
    return _sd.host.allgather_bytes(data, what)


def group_barrier(group: Group = WORLD) -> None:
    """Return once every rank of the group has called it (nothing to wait for when not distributed)."""
    group_size(group, "group_barrier")
    if _sd is not None:
        _sd.host.barrier()
