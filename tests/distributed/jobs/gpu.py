"""Run under mpiexec on a machine with a CUDA GPU: NCCL (each rank on its own GPU) or, with `shared`, every
rank on GPU 0, where collectives fall back to MPI on host buffers. Prints what the test checks.

    mpiexec -n 1 python gpu.py          mpiexec -n 2 python gpu.py shared
"""
from __future__ import annotations

import sys
import warnings

import numpy as np
from steps import averaged_step

import graphc.distributed as dist
import graphc.distributed.functional as DF
from graphc import Tensor

shared = "shared" in sys.argv[1:]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    dist.init_process_group(device=0 if shared else None, timeout=60)
rank, n = dist.get_rank(), dist.get_world_size()
print(f"rank {rank} backend {dist.get_backend()} warnings {[str(w.message) for w in caught]}", flush=True)

x = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3) + rank)
assert x.device.kind == "gpu"
want = sum(np.arange(6, dtype=np.float32).reshape(2, 3) + r for r in range(n))
np.testing.assert_allclose(DF.all_reduce_sum(x).numpy(), want)
np.testing.assert_allclose(DF.all_gather(x, axis=1).numpy(),
                           np.concatenate([np.arange(6, dtype=np.float32).reshape(2, 3) + r for r in range(n)], 1))
flags = DF.all_gather(Tensor(np.array([True, rank == 0])))
assert flags.numpy().tolist() == [True, True] + [True, False] * (n - 1)

step, w = averaged_step(np.ones((3, 2), np.float32), 0.01)
ref = np.ones((3, 2), np.float32)
for _ in range(3):
    step(x)
    g = np.mean([2 * (xr.T @ (xr @ ref)) for xr in (np.arange(6, dtype=np.float32).reshape(2, 3) + r
                                                    for r in range(n))], axis=0)
    ref = ref - 0.01 * g
np.testing.assert_allclose(w.numpy(), ref, rtol=1e-5)
plan = step.plan
captured = bool(plan._step and plan._step.captured)
print(f"rank {rank} values ok, captured {captured}, refused {plan.replay_refused}", flush=True)
