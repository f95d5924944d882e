"""Run as a plain script: graphc.distributed.launcher starts the ranks through mpiexec and brings back their
results, or the reason they failed. Prints one JSON line per call.

    python launch.py
"""
from __future__ import annotations

import json

import numpy as np

import graphc.distributed as dist
import graphc.distributed.functional as DF
from graphc import Tensor
from graphc.ir.errors import CollectiveError


def work(scale: int, label: str) -> dict:
    """Each rank's share: its rank times `scale`, summed over the ranks."""
    total = DF.all_reduce_sum(Tensor(np.array([dist.get_rank() * scale], np.int32))).numpy()
    return {"rank": dist.get_rank(), "size": dist.get_world_size(), "total": int(total[0]), "label": label,
            "backend": dist.get_backend()}


@dist.launcher(n_gpus=3, device_type="cpu", timeout=20)
def gathered(n: int):
    """A decorated function: every rank returns the same gathered array."""
    return DF.all_gather(Tensor(np.full(n, dist.get_rank(), np.int32)))


def failing() -> None:
    """Rank 1 raises; rank 0 waits for it in a collective."""
    if dist.get_rank() == 1:
        raise ValueError("rank one gives up")
    DF.all_reduce_sum(Tensor(np.ones(2, np.float32)))


if __name__ == "__main__":
    print(json.dumps(dist.launcher(work, n_gpus=2, device_type="cpu")(5, label="x")), flush=True)
    print(json.dumps([a.tolist() for a in gathered(2)]), flush=True)
    try:
        dist.launcher(failing, n_gpus=2, device_type="cpu", timeout=20)()
    except CollectiveError as e:
        print(json.dumps({"error": str(e)}), flush=True)
