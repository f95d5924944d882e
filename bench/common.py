"""Timing helpers shared by the benchmarks: best-of-repeats wall time and the machine's description."""
from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Best mean seconds per call over `repeat` runs of `number` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def best_times_interleaved(fns: dict[str, Callable[[], object]], number: int, rounds: int = 15) -> dict[str, float]:
    """Best mean seconds per call of each function, timed in alternating rounds of `number` calls, so
    that a machine whose speed drifts (shared cores) slows every contender alike."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / number)
    return best


def machine() -> str:
    """A one-line description of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def line_fit_data():
    """The tutorial's 100 points (float32 x and y)."""
    import numpy as np
    np.random.seed(20200325)
    x, y = np.zeros(100), np.zeros(100)
    for i in range(100):
        x[i] = np.random.uniform(-10, 10)
        y[i] = 5 * x[i] + 2 + np.random.uniform(-5, 5)
    return x.astype(np.float32), y.astype(np.float32)
