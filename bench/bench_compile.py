"""Compile time: from a Python function to its first result, for a chain of n elementwise ops."""
from __future__ import annotations

import time

import numpy as np

import graphc.functional as F
from graphc import Tensor
from graphc.jit import trace

STEPS = (F.tanh, lambda x: x * 0.9, F.sin, lambda x: x + 0.25, F.abs, lambda x: x - 0.5)


def chain(n: int):
    """A traced function applying exactly n elementwise ops in a row (values stay in [-1, 1])."""
    def fn(x):
        for i in range(n):
            x = STEPS[i % len(STEPS)](x)
        return x
    return trace(fn)


def main() -> dict:
    """Seconds from call to first result for each chain length."""
    x = Tensor(np.linspace(-1, 1, 1024, dtype=np.float32))
    out = {}
    for n in (10, 100, 1000, 3000):
        fn = chain(n)
        t0 = time.perf_counter()
        fn(x).numpy()
        out[n] = time.perf_counter() - t0
    print("compile time: " + ", ".join(f"n={n}: {t * 1e3:.1f} ms" for n, t in out.items()))
    return out


if __name__ == "__main__":
    main()
