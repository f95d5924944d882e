"""Large results of fused loops (the C and the chunked NumPy ones) written into the caller's dropped results
(no page faults per call).

A fresh 64 MB array costs its pages: the operating system zeroes each on first touch, 3 to 5 ms here, a
fifth of the chain benchmark's loop. A loop keeps the last results it returned (KEEP per output); once the
caller has let go of one (nothing but the loop refers to it, by sys.getrefcount), a later call writes into
it instead of a new array. A result the caller keeps, or a view of it, keeps it from being reused.
"""
from __future__ import annotations

import math
import sys
import threading

import numpy as np

MIN_BYTES = 1 << 20      # smaller arrays come from the allocator's cache anyway
KEEP = 2


class Recycler:
    """Arrays for one output of one loop: new ones, or earlier results nobody else refers to any more."""

    __slots__ = ("held", "lock")

    def __init__(self) -> None:
        self.held: list[np.ndarray] = []
        self.lock = threading.Lock()

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialized array of `shape` and `dtype` (its contents are the caller's to write)."""
        if math.prod(shape) * np.dtype(dtype).itemsize < MIN_BYTES:
            return np.empty(shape, dtype)
        with self.lock:
            held = self.held
            for k in range(len(held)):
                # Referred to by the list and getrefcount's argument only: the caller dropped it.
                if sys.getrefcount(held[k]) == 2 and held[k].shape == shape and held[k].dtype == dtype:
                    a = held.pop(k)
                    break
            else:
                a = np.empty(shape, dtype)
            self.held.append(a)
            del self.held[:-KEEP]
        return a
