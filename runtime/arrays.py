"""Array modules by device kind: NumPy on the CPU, CuPy on the GPU (imported only when a GPU is used)."""
from __future__ import annotations

import numpy as np


def array_module(device: str):
    """numpy for "cpu", cupy for "gpu"."""
    if device == "gpu":
        import cupy  # optional: only machines with a CUDA GPU have it
        return cupy
    return np


def to_host(a: object) -> object:
    """A NumPy array for a CuPy array; anything else unchanged."""
    return a.get() if hasattr(a, "__cuda_array_interface__") else a


def gpu_usable() -> bool:
    """True when CuPy is installed and sees at least one CUDA device."""
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:   # no CuPy, no driver, no device: all mean "no GPU"
        return False
