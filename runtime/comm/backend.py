"""Which engine a GPU process group uses: NCCL when every rank has a GPU of its own and CuPy has NCCL, else MPI
on host buffers (NCCL refuses two ranks on one GPU). Every rank decides from the same facts, so all agree."""
from __future__ import annotations

import socket

from .mpi import MPICommunicator


def peers(host: MPICommunicator, device: int) -> list[tuple[str, int]]:
    """(machine, GPU index) of every rank."""
    mine = f"{socket.gethostname()}\n{device}".encode()
    out = []
    for b in host.allgather_bytes(mine, "the exchange of GPU placements"):
        name, index = b.decode().rsplit("\n", 1)
        out.append((name, int(index)))
    return out


def choose_gpu_backend(placements: list[tuple[str, int]], nccl_missing: str | None) -> tuple[str, str | None]:
    """("nccl", None), or ("mpi", why NCCL cannot serve these ranks)."""
    if nccl_missing:
        return "mpi", nccl_missing
    first: dict[tuple[str, int], int] = {}
    for r, where in enumerate(placements):
        if where in first:
            return "mpi", (f"ranks {first[where]} and {r} share GPU {where[1]} on {where[0]}, which NCCL refuses "
                           "(give each rank its own GPU)")
        first[where] = r
    return "nccl", None
