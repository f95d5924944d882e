"""Matrix products through cuBLAS that a CUDA graph can capture.

CuPy (through 14.x, cupy issue 6290) refuses cuBLAS during stream capture: each of its GEMM wrappers
first rebinds the handle to the current stream through `cublas.setStream`, which raises while that
stream captures. cuBLAS's GEMMs themselves are capturable (cuBLAS guide, "CUDA Graphs Support"; with
host pointer mode alpha and beta are captured by value). So plans call `matmul` here: libcublas (the
instance CuPy loaded) through ctypes, with graphc's own handle per device, bound to a stream only when
the stream changes. `CudaGraphPlan` runs its warm-up on the capture stream, so the binding is made
before capture; each binding also installs a workspace allocated then, so a captured GEMM never
allocates. The handle and workspace are shared per device: products (and replays of graphs holding
them) must not run concurrently on different streams or threads; graphc runs plans and replays on the
caller's stream.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import os
from ctypes import c_int, c_size_t, c_void_p

import cupy
import numpy as np

from .gemm_layout import gemm_call, operand_layout

log = logging.getLogger("graphc.runtime")
CUDA_R_16F = 2                      # cudaDataType_t of float16 operands (SgemmEx computes in float32)
WORKSPACE_BYTES = 32 << 20          # cuBLAS's recommendation for Hopper (it needs less elsewhere)
_SCALAR = {np.dtype(np.float16): np.float32, np.dtype(np.float32): np.float32, np.dtype(np.float64): np.float64}
SUPPORTED = frozenset(_SCALAR)
_ONE = {d: np.ones((), d) for d in (np.float32, np.float64)}
_ZERO = {d: np.zeros((), d) for d in (np.float32, np.float64)}
_HANDLES: dict[int, list] = {}      # device id -> [handle, bound stream, workspace]
_GEMM = [c_void_p, c_int, c_int, c_int, c_int, c_int, c_void_p, c_void_p, c_int, c_void_p, c_int, c_void_p,
         c_void_p, c_int]
_GEMM_EX = [c_void_p, c_int, c_int, c_int, c_int, c_int, c_void_p, c_void_p, c_int, c_int, c_void_p, c_int,
            c_int, c_void_p, c_void_p, c_int, c_int]


def _loaded_cublas() -> str:
    """The path of the libcublas this process has mapped (CuPy's), else its usual soname."""
    import cupy_backends.cuda.libs.cublas  # noqa: F401  (maps libcublas into the process)
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split(None, 5)[-1].strip()
                if os.path.basename(path).startswith("libcublas.so"):
                    return path
    except OSError:
        pass
    return f"libcublas.so.{cupy.cuda.runtime.runtimeGetVersion() // 1000}"


@functools.lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL:
    lib = ctypes.CDLL(_loaded_cublas())
    for name, args in (("cublasCreate_v2", [ctypes.POINTER(c_void_p)]), ("cublasSetStream_v2", [c_void_p, c_void_p]),
                       ("cublasSgemm_v2", _GEMM), ("cublasDgemm_v2", _GEMM), ("cublasSgemmEx", _GEMM_EX)):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, c_int
    if hasattr(lib, "cublasSetWorkspace_v2"):
        lib.cublasSetWorkspace_v2.argtypes, lib.cublasSetWorkspace_v2.restype = [c_void_p, c_void_p, c_size_t], c_int
    return lib


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """True when libcublas loads through ctypes; without it plans call cupy.matmul (not capturable)."""
    try:
        _lib()
    except (OSError, AttributeError) as e:
        log.warning("graphc: cuBLAS could not be loaded directly (%s); products use cupy.matmul and traced "
                    "steps holding them launch op by op", e)
        return False
    return True


def _check(status: int, call: str) -> None:
    if status != 0:
        raise RuntimeError(f"matmul: {call} failed with cuBLAS status {status}")


def _handle() -> int:
    dev = cupy.cuda.runtime.getDevice()
    stream = cupy.cuda.get_current_stream().ptr
    entry = _HANDLES.get(dev)
    if entry is None:
        h = c_void_p()
        _check(_lib().cublasCreate_v2(ctypes.byref(h)), "cublasCreate")
        # From the default pool even inside a plan's private pool: the workspace outlives every plan.
        entry = _HANDLES[dev] = [h.value, None, cupy.get_default_memory_pool().malloc(WORKSPACE_BYTES)]
    if entry[1] != stream:
        lib = _lib()
        _check(lib.cublasSetStream_v2(entry[0], stream), "cublasSetStream")
        if hasattr(lib, "cublasSetWorkspace_v2"):   # SetStream resets the workspace to cuBLAS's own
            _check(lib.cublasSetWorkspace_v2(entry[0], entry[2].ptr, WORKSPACE_BYTES), "cublasSetWorkspace")
        entry[1] = stream
    return entry[0]


def matmul(a: cupy.ndarray, b: cupy.ndarray, transpose_a: bool = False, transpose_b: bool = False) -> cupy.ndarray:
    """The 2-D product op(a) @ op(b) (float16/32/64) on the current stream, capturable as a CUDA graph."""
    if a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype not in SUPPORTED:
        raise TypeError(f"matmul: takes two 2-D float16/32/64 arrays of one dtype, got {a.dtype}{a.shape} and "
                        f"{b.dtype}{b.shape}")
    if transpose_a:
        a = a.T
    if transpose_b:
        b = b.T
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not match")
    out = cupy.empty((m, n), a.dtype)
    if out.size == 0:
        return out
    if k == 0:
        out.fill(0)
        return out
    la, lb = operand_layout(a), operand_layout(b)
    if la is None:
        a, la = cupy.ascontiguousarray(a), "row"
    if lb is None:
        b, lb = cupy.ascontiguousarray(b), "row"
    c = gemm_call(la, a.shape, lb, b.shape)
    scalar = _SCALAR[a.dtype]
    one, zero = _ONE[scalar].ctypes.data, _ZERO[scalar].ctypes.data
    h, lib = _handle(), _lib()
    if a.dtype == np.float16:
        status = lib.cublasSgemmEx(h, c.transa, c.transb, c.m, c.n, c.k, one, b.data.ptr, CUDA_R_16F, c.lda,
                                   a.data.ptr, CUDA_R_16F, c.ldb, zero, out.data.ptr, CUDA_R_16F, c.ldc)
    else:
        gemm = lib.cublasSgemm_v2 if scalar is np.float32 else lib.cublasDgemm_v2
        status = gemm(h, c.transa, c.transb, c.m, c.n, c.k, one, b.data.ptr, c.lda, a.data.ptr, c.ldb, zero,
                      out.data.ptr, c.ldc)
    _check(status, "GEMM")
    return out
