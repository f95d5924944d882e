"""Matrix products through cuBLAS that a CUDA graph can capture.

CuPy (through 14.x, cupy issue 6290) refuses cuBLAS during stream capture: its `cublas.setStream`
raises while the stream captures, and `cupy.matmul` binds the stream on every call. cuBLAS's GEMMs
themselves are capturable (cuBLAS guide, "CUDA Graphs Support"): with host pointer mode alpha and beta
are captured by value. So plans call `matmul` here, which keeps its own handle per device and binds it
to a stream only when the stream changes; `CudaGraphPlan` runs its warm-up on the capture stream, so
the binding (and cuBLAS's workspace for it) is in place before capture begins.
"""
from __future__ import annotations

import cupy
import numpy as np
from cupy_backends.cuda.libs import cublas

from .gemm_layout import gemm_call, operand_layout

CUDA_R_16F = 2                  # cudaDataType_t of float16 operands (sgemmEx computes in float32)
_ONE = {np.dtype(d): np.ones((), d) for d in (np.float32, np.float64)}
_ZERO = {np.dtype(d): np.zeros((), d) for d in (np.float32, np.float64)}
_SCALAR = {np.dtype(np.float16): np.dtype(np.float32), np.dtype(np.float32): np.dtype(np.float32),
           np.dtype(np.float64): np.dtype(np.float64)}
SUPPORTED = frozenset(_SCALAR)
_HANDLES: dict[int, list[int]] = {}     # device id -> [cuBLAS handle, stream it is bound to]


def _handle() -> int:
    dev = cupy.cuda.runtime.getDevice()
    stream = cupy.cuda.get_current_stream().ptr
    entry = _HANDLES.get(dev)
    if entry is None:
        entry = _HANDLES[dev] = [cublas.create(), -1]
    if entry[1] != stream:
        cublas.setStream(entry[0], stream)      # CuPy refuses this while capturing: warm up first
        entry[1] = stream
    return entry[0]


def matmul(a: cupy.ndarray, b: cupy.ndarray, transpose_a: bool = False, transpose_b: bool = False) -> cupy.ndarray:
    """The 2-D product op(a) @ op(b) (float16/32/64) on the current stream, capturable as a CUDA graph."""
    if transpose_a:
        a = a.T
    if transpose_b:
        b = b.T
    (m, k), (_, n) = a.shape, b.shape
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
    h = _handle()
    if a.dtype == np.float16:
        cublas.sgemmEx(h, c.transa, c.transb, c.m, c.n, c.k, one, b.data.ptr, CUDA_R_16F, c.lda,
                       a.data.ptr, CUDA_R_16F, c.ldb, zero, out.data.ptr, CUDA_R_16F, c.ldc)
    else:
        gemm = cublas.sgemm if a.dtype == np.float32 else cublas.dgemm
        gemm(h, c.transa, c.transb, c.m, c.n, c.k, one, b.data.ptr, c.lda, a.data.ptr, c.ldb, zero,
             out.data.ptr, c.ldc)
    return out
