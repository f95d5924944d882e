"""graphc's switches and tunables: every GRAPHC_* environment variable is read here, once, into `config`.

Code reads `config.<field>` at the moment it decides, so a test or a user may change a field at run time
(`graphc.config.config.threads = 1`); `Config.from_env()` builds a fresh one from the environment.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int, least: int = 1) -> int:
    raw = os.environ.get(name, "")
    try:
        return max(least, int(raw)) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be an integer of at least {least}, got {raw!r}") from None


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


@dataclass
class Config:
    """The switches (from the environment) and the runtime's tuning knobs."""

    cpu_backend: str = "c"          # GRAPHC_CPU_BACKEND: "c" (generated C loops) or "numpy" (chunked ufuncs only)
    cc: str | None = None           # CC: the C compiler to try first
    cc_timeout: float = 120.0       # seconds a C compiler may take for one kernel (then: the NumPy loop)
    threads: int = 1                # GRAPHC_THREADS: threads of large fused loops and large matrix products
                                    # (default: all cores)
    cache_dir: str = ""             # GRAPHC_CACHE_DIR: compiled C kernels (default ~/.cache/graphc)
    cuda_graph: bool = True         # GRAPHC_CUDA_GRAPH=0: traced GPU steps launch op by op, never replayed
    gpu_strict: bool = False        # GRAPHC_GPU_STRICT=1: a CUDA generator failure raises instead of falling back
    pass_report: bool = False       # GRAPHC_PASS_REPORT=1: print each pass's time and node counts
    verify: bool = False            # GRAPHC_VERIFY=1: verify the graph after every pass
    trace_checked: bool = False     # GRAPHC_TRACE_CHECKED=1: traced functions run and are checked on every call
    native_after: int = 16          # GRAPHC_NATIVE_AFTER: a small CPU plan's call from which it runs as one
                                    # generated C function (runtime/cpu/native.py); 0: never
    inline_max: int = 1 << 15       # fused groups up to this many elements run as inline ufunc calls
    chunk: int = 32768              # elements per chunk of a chunked NumPy loop (a few such buffers fit in L2)
    parallel_min: int = 1 << 18     # elements from which a chunked NumPy loop splits across threads
    blas_min_flops: int = 1 << 25   # work per BLAS thread in graphc's matrix products (smaller: fewer threads)
    dist_timeout: float = 300.0     # GRAPHC_DIST_TIMEOUT: seconds a collective waits for the other ranks
    bucket_bytes: int = 10 << 20    # GRAPHC_BUCKET_BYTES: gradients packed per all-reduce (MegEngine's 10 MiB)
    mpiexec: str = ""               # GRAPHC_MPIEXEC: the launcher's mpiexec (default: beside Python, else on PATH)
    fast_math: bool = False         # GRAPHC_FAST_MATH=1: simplify may rewrite x**0.5 to sqrt(x), exp(log x) to x,
                                    # (x*a)*b to x*(a*b) ...: results then differ at some inputs (inf, nan, -0.0)
    max_plan_memory: int = 4 << 30  # GRAPHC_MAX_PLAN_MEMORY: bytes a loaded plan's call may hold (a file is data
                                    # from anywhere: graphc.load(..., max_memory=) raises it for one file)

    @classmethod
    def from_env(cls) -> Config:
        """A Config from the GRAPHC_* variables (and CC) of this process's environment."""
        env = os.environ
        backend = env.get("GRAPHC_CPU_BACKEND", "c")
        if backend not in ("c", "numpy"):
            raise ValueError(f"GRAPHC_CPU_BACKEND must be 'c' or 'numpy', got {backend!r}")
        return cls(cpu_backend=backend, cc=env.get("CC") or None,
                   threads=_int("GRAPHC_THREADS", os.cpu_count() or 1),
                   cache_dir=env.get("GRAPHC_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "graphc"),
                   cuda_graph=env.get("GRAPHC_CUDA_GRAPH", "1") != "0",
                   gpu_strict=env.get("GRAPHC_GPU_STRICT", "") == "1",
                   pass_report=env.get("GRAPHC_PASS_REPORT") == "1",
                   verify=env.get("GRAPHC_VERIFY") == "1",
                   dist_timeout=_seconds("GRAPHC_DIST_TIMEOUT", 300.0),
                   bucket_bytes=_int("GRAPHC_BUCKET_BYTES", 10 << 20), mpiexec=env.get("GRAPHC_MPIEXEC", ""),
                   trace_checked=env.get("GRAPHC_TRACE_CHECKED") == "1",
                   native_after=_int("GRAPHC_NATIVE_AFTER", 16, least=0),
                   fast_math=env.get("GRAPHC_FAST_MATH") == "1",
                   max_plan_memory=_int("GRAPHC_MAX_PLAN_MEMORY", cls.max_plan_memory))


config = Config.from_env()
