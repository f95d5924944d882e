"""graphc.distributed: data-parallel training across processes and machines (MegEngine's distributed API).

Processes are started by mpiexec (`mpiexec -n 4 python train.py`, with a host file for several machines) or
by `launcher`; `init_process_group()` joins them. Collectives run over MPI (mpi4py) on CPUs and NCCL (CuPy) on
GPUs; `functional` has them as differentiable Tensor ops, and `make_allreduce_cb` all-reduces gradients in
flat buckets from GradManager callbacks.
"""
from . import functional
from .group import (
    WORLD,
    Group,
    get_backend,
    get_rank,
    get_world_size,
    group_barrier,
    init_process_group,
    is_distributed,
    new_group,
)
from .helper import AllreduceCallback, bcast_list_, make_allreduce_cb, synchronized
from .launcher import launcher

__all__ = ["WORLD", "Group", "get_backend", "get_rank", "get_world_size", "group_barrier", "init_process_group",
           "is_distributed", "new_group", "AllreduceCallback", "bcast_list_", "make_allreduce_cb", "synchronized",
           "launcher", "functional"]
