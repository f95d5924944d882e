"""Data-parallel cost on 2 ranks: a traced MLP 784-512-512-10 step (batch 128 per rank, SGD) without any
collective, against the same step with its gradients all-reduced (2.7 MB of float32) in one bucket, in
1 MiB buckets started as soon as their gradients exist (the communication schedule), and in the same buckets
started only after the whole backward pass (the schedule switched off). Two references: the step without
collective followed by an all-reduce of one float (what keeping the ranks in step costs by itself), and the
all-reduce of the gradients alone.

Run: python bench/bench_distributed.py   (starts `mpiexec -n 2` itself; each rank uses one thread)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from common import best_times_interleaved, machine

import graphc.distributed as dist
import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.distributed.launcher import find_mpiexec
from graphc.ir.ops.collective import get_world
from graphc.jit import trace
from graphc.passes import pipeline
from graphc.passes.schedule import schedule as schedule_pass

SIZES = (784, 512, 512, 10)
BATCH = 128
LR = 0.01
RANKS = 2


def step_factory(bucket_bytes: int | None, collective: bool = True, schedule: bool = True):
    """A traced training step with its gradients all-reduced in buckets of `bucket_bytes` (None: the default
    10 MiB), or without any collective."""
    rng = np.random.default_rng(0)
    params = []
    for i, o in zip(SIZES, SIZES[1:]):
        params += [Parameter((rng.standard_normal((o, i)) * np.sqrt(2.0 / i)).astype(np.float32)),
                   Parameter(np.zeros(o, np.float32))]
    cbs = [dist.make_allreduce_cb("mean", bucket_size=bucket_bytes)] if collective else None
    gm = GradManager().attach(params, callbacks=cbs)
    opt = optim.SGD(params, lr=LR)
    x = Tensor(rng.standard_normal((BATCH, SIZES[0])).astype(np.float32))
    y = Tensor(rng.integers(0, SIZES[-1], BATCH).astype(np.int32))

    @trace
    def step(x, y):
        with gm:
            h = x
            for i in range(3):
                h = F.linear(h, params[2 * i], params[2 * i + 1])
                if i < 2:
                    h = F.relu(h)
            loss = F.nn.cross_entropy(h, y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    levels = dict(pipeline.LEVELS)
    if not schedule:   # compile (on the first call) without the communication schedule
        pipeline.LEVELS[3] = [p for p in pipeline.LEVELS[3] if p is not schedule_pass]
    try:
        step(x, y)
    finally:
        pipeline.LEVELS.update(levels)
    return lambda: step(x, y), step


def rank_main() -> dict | None:
    """One rank's part: every variant timed in alternating rounds (the ranks call the same steps in the same
    order, so their collectives pair up)."""
    dist.init_process_group(timeout=120)
    comm = get_world()
    grad = np.ones(sum(o * i + o for i, o in zip(SIZES, SIZES[1:])), np.float32)
    tiny = np.ones(1, np.float32)
    variants = {
        "no collective": step_factory(None, collective=False),
        "one bucket": step_factory(None),
        "1 MiB buckets, scheduled": step_factory(1 << 20),
        "1 MiB buckets, not scheduled": step_factory(1 << 20, schedule=False),
    }
    fns = {k: f for k, (f, _) in variants.items()}
    local = variants["no collective"][0]
    fns["no collective + 1-float all-reduce"] = lambda: (local(), comm.allreduce(tiny, "sum").wait())
    fns["all-reduce of the gradients alone"] = lambda: comm.allreduce(grad, "sum").wait()
    fns["all-reduce of one float"] = lambda: comm.allreduce(tiny, "sum").wait()
    dist.group_barrier()
    times = best_times_interleaved(fns, number=10, rounds=15)
    if dist.get_rank():
        return None
    stats = {k: s.plan.stats["collectives"] for k, (_, s) in variants.items()}
    return {"times": times, "collectives": stats, "gradient_bytes": int(grad.nbytes), "machine": machine()}


def main() -> dict:
    """Start the ranks with mpiexec, print and return rank 0's figures."""
    env = {**os.environ, "GRAPHC_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    cmd = [find_mpiexec(), "-n", str(RANKS), sys.executable, os.path.abspath(__file__), "--rank"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=os.path.dirname(__file__), check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    t = r["times"]
    base = t["no collective"]
    print(f"data-parallel MLP step on {RANKS} ranks, {r['gradient_bytes'] / 1e6:.1f} MB of gradients "
          f"({r['machine']}):")
    for k, v in t.items():
        extra = ""
        if k in r["collectives"]:
            extra = f"  {r['collectives'][k]} all-reduce(s), {v / base:.2f}x the step without"
        print(f"  {k:34s} {v * 1e3:8.3f} ms{extra}")
    hidden = t["1 MiB buckets, not scheduled"] - t["1 MiB buckets, scheduled"]
    synced = t["no collective + 1-float all-reduce"]
    print(f"  per step: keeping the ranks in step {(synced - base) * 1e3:.3f} ms, the gradients' all-reduce on top "
          f"{(t['one bucket'] - synced) * 1e3:.3f} ms; the schedule saves {hidden * 1e3:.3f} ms with 1 MiB buckets")
    return r


if __name__ == "__main__":
    if "--rank" in sys.argv:
        report = rank_main()
        if report is not None:
            print(json.dumps(report), flush=True)
    else:
        main()
