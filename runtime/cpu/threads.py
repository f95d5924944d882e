"""The worker threads large fused loops split across, and how a loop is split."""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from graphc.config import config

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()


def threads() -> int:
    """Worker threads for large loops (config.threads: GRAPHC_THREADS, default all cores)."""
    return config.threads


def set_threads(n: int) -> None:
    """Use at most n threads: for large fused loops, and the BLAS library's in graphc's matrix products."""
    if n < 1:
        raise ValueError(f"the number of threads must be at least 1, got {n}")
    config.threads = int(n)


def _executor() -> ThreadPoolExecutor:
    """The pool, grown (never shrunk) to config.threads workers: a loop splits into config.threads pieces, so
    lowering the setting needs no new pool, and raising it again finds the threads there."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < config.threads:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="graphc")
            _pool_size = config.threads
        return _pool


def ranges(n: int, parts: int, align: int) -> list[tuple[int, int]]:
    """[start, stop) ranges covering 0..n in at most `parts` pieces, each start a multiple of `align`."""
    step = -(-n // max(parts, 1))
    step = max(align, -(-step // align) * align)
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)]


def run_split(fn: Callable[[int, int, int], object], n: int, align: int) -> list:
    """fn(worker, start, stop) over the pieces of 0..n, on the pool's threads; results in order."""
    parts = ranges(n, threads(), align)
    if len(parts) <= 1:
        return [fn(0, 0, n)]
    pool = _executor()
    futs = [pool.submit(fn, w, lo, hi) for w, (lo, hi) in enumerate(parts)]
    return [f.result() for f in futs]
