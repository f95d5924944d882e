"""Run under mpiexec: rank 1 misbehaves in the way argv[1] names while rank 0 (and any other rank) waits in
a collective; the test reads what each rank printed and how long it took.

    mpiexec -n 2 python failures.py raise|exit|kill|branch|shape|size [timeout]
"""
from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

import graphc.distributed as dist
import graphc.distributed.functional as DF
from graphc import Tensor
from graphc.jit import trace

mode = sys.argv[1]
if mode == "size":   # asks for a world other than the one mpiexec made
    dist.init_process_group("localhost", 23456, 3, int(os.environ.get("PMI_RANK", "0")), 0)
dist.init_process_group(timeout=float(sys.argv[2]) if len(sys.argv) > 2 else 30)
rank = dist.get_rank()
x = Tensor(np.ones(4, np.float32))
DF.all_reduce_sum(x)                 # every rank is up
start = time.monotonic()
try:
    if rank == 1 and mode == "raise":
        raise ZeroDivisionError("rank one divides by zero")
    if rank == 1 and mode == "exit":
        sys.exit(0)
    if rank == 1 and mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "branch":
        @trace
        def step(x):
            y = x * 2
            if rank == 1:            # another branch on one rank: one more collective
                y = DF.broadcast(y)
            return DF.all_reduce_sum(y)
        step(x)
    elif mode == "shape":
        DF.all_reduce_sum(Tensor(np.ones(4 + rank, np.float32)))
    else:
        DF.all_reduce_sum(x)
finally:
    print(f"rank {rank} stopped after {time.monotonic() - start:.2f} s", flush=True)
