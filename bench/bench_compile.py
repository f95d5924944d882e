"""Compile time and memory: from a Python function to its first result, for a chain of n elementwise ops.

Each size runs in a fresh process (`python bench_compile.py --one N`), so that its peak resident memory
(the process's: the interpreter and NumPy included, about 40 MB) is its own.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

import graphc.functional as F
from graphc import Tensor
from graphc.jit import trace

STEPS = (F.tanh, lambda x: x * 0.9, F.sin, lambda x: x + 0.25, F.abs, lambda x: x - 0.5)
SIZES = (1000, 10000, 100000)


def chain(n: int):
    """A traced function applying exactly n elementwise ops in a row (values stay in [-1, 1])."""
    def fn(x):
        for i in range(n):
            x = STEPS[i % len(STEPS)](x)
        return x
    return trace(fn)


def one(n: int) -> dict:
    """Seconds to the first result of the n-op chain, and this process's peak memory (MB)."""
    x = Tensor(np.linspace(-1, 1, 1024, dtype=np.float32))
    fn = chain(n)
    t0 = time.perf_counter()
    fn(x).numpy()
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb()}


def _peak_mb() -> int:
    """This process's peak resident memory: VmHWM (ru_maxrss would carry over the parent's peak at fork)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) >> 10 for ln in f if ln.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10


def main() -> dict:
    """Each size in its own process."""
    out = {}
    here = os.path.dirname(os.path.abspath(__file__))
    for n in SIZES:
        r = subprocess.run([sys.executable, os.path.join(here, "bench_compile.py"), "--one", str(n)],
                           capture_output=True, text=True, check=True)
        out[n] = json.loads(r.stdout.splitlines()[-1])
    print("compile time: " + ", ".join(f"n={n}: {r['seconds']:.2f} s, {r['peak_mb']} MB peak" for n, r in out.items()))
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(one(int(sys.argv[2]))))
    else:
        main()
