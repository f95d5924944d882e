"""Compile generated CUDA on a machine without a GPU: nvcc (-arch=sm_90) and NVRTC (CuPy's compiler).

NVRTC is found as the `nvidia-cuda-nvrtc` wheel's library or on the loader path; it matters because
CuPy compiles RawKernels with NVRTC, which has no host headers (what compiles under nvcc may not).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass


@dataclass
class CompileResult:
    """Outcome of one compilation: success, the compiler's log and the PTX (when asked for)."""

    ok: bool
    log: str
    ptx: str = ""


def nvcc_path() -> str | None:
    """The nvcc executable, or None."""
    return shutil.which("nvcc")


def nvcc_compile(code: str, arch: str = "sm_90", ptx: bool = False, extra: tuple[str, ...] = ()) -> CompileResult:
    """Compile `code` with `nvcc -arch=<arch> -c` (and to PTX when `ptx`)."""
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "k.cu")
        with open(src, "w") as f:
            f.write(code)
        cmd = [nvcc_path() or "nvcc", f"-arch={arch}", "-c", src, "-o", os.path.join(d, "k.o"), *extra]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if r.returncode != 0 or not ptx:
            return CompileResult(r.returncode == 0, r.stdout + r.stderr)
        out = os.path.join(d, "k.ptx")
        r2 = subprocess.run([nvcc_path() or "nvcc", f"-arch={arch}", "-ptx", src, "-o", out],
                            capture_output=True, text=True, timeout=300)
        text = open(out).read() if r2.returncode == 0 else ""
        return CompileResult(r2.returncode == 0, r.stdout + r.stderr + r2.stderr, text)


@functools.lru_cache(maxsize=1)
def _nvrtc() -> ctypes.CDLL | None:
    cands = []
    for p in sys.path:
        cands += sorted(glob.glob(os.path.join(p, "nvidia", "cu*", "lib", "libnvrtc.so*")))
        cands += sorted(glob.glob(os.path.join(p, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so*")))
    found = ctypes.util.find_library("nvrtc")
    if found:
        cands.append(found)
    for c in cands:
        try:
            return ctypes.CDLL(c)
        except OSError:
            continue
    return None


def nvrtc_available() -> bool:
    """True when an NVRTC library can be loaded."""
    return _nvrtc() is not None


def nvrtc_compile(code: str, arch: str = "sm_90") -> CompileResult:
    """Compile `code` with NVRTC as CuPy does (no headers; -ftz=true as CuPy adds)."""
    lib = _nvrtc()
    if lib is None:
        return CompileResult(False, "NVRTC library not found")
    prog = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), code.encode(), b"kern.cu", 0, None, None)
    if rc != 0:
        return CompileResult(False, f"nvrtcCreateProgram failed ({rc})")
    opts = [f"--gpu-architecture={arch}".encode(), b"-ftz=true"]
    arr = (ctypes.c_char_p * len(opts))(*opts)
    rc = lib.nvrtcCompileProgram(prog, len(opts), arr)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, buf)
    log = buf.value.decode(errors="replace")
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return CompileResult(rc == 0, log)
