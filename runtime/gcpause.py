"""The cyclic garbage collector paused while a graph is traced and compiled.

Values and nodes refer to each other (a value's producer, a node's outputs), so the cycle collector tracks
every one, and its collections, run every few hundred allocations, walked the ever larger heap: tracing and
compiling a 100k-op function spent a third of its time in them. What is built there is not garbage until
the compile is done, so the collector waits until then (and then runs as usual).
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic collector off inside the block (unless it was off already)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
