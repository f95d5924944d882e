"""Array modules by device kind: NumPy on the CPU, CuPy on the GPU (imported only when a GPU is used)."""
from __future__ import annotations

import ctypes

import numpy as np

# The CuPy for each CUDA major version, as pyproject.toml's gpu-cuda12 and gpu-cuda13 extras name them.
CUPY = {12: "cupy-cuda12x>=14.0", 13: "cupy-cuda13x>=14.0"}


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


def cuda_driver_version() -> int | None:
    """The CUDA major version the NVIDIA driver supports (12, 13, ...), or None without a driver."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
        version = ctypes.c_int()
        if lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return version.value // 1000


def gpu_missing() -> str:
    """Why no GPU can be used here, and what to install (for errors that ask for one)."""
    try:
        import cupy  # noqa: F401  (only whether it imports)
        has_cupy = True
    except Exception:
        has_cupy = False
    major = cuda_driver_version()
    both = f"pip install '{CUPY[12]}' for a CUDA 12 driver or '{CUPY[13]}' for CUDA 13"
    if major is None:
        return f"no NVIDIA driver was found; a GPU needs one, and CuPy: {both}"
    if has_cupy:
        return (f"CuPy is installed but sees no usable CUDA device (the driver supports CUDA {major}; check "
                f"`nvidia-smi` and that the installed cupy-cuda{major}x package matches)")
    if major in CUPY:
        return f"CuPy is not installed: pip install '{CUPY[major]}' (this machine's driver supports CUDA {major})"
    return f"CuPy is not installed, and this machine's driver supports CUDA {major}; graphc's GPU extras need " \
           f"a driver for CUDA 12 or 13, then {both}"
