"""The MLP step's eight matrix products (784-512-512-10, batch 256: 0.82 GFLOP) on each GEMM library a user
can install from the package registry: NumPy's own (OpenBLAS), Intel's `mkl` package (through its
cblas_sgemm) and `blis` (explosion's build), on 1 and 2 threads. Each thread count runs in a fresh process
(the libraries read their thread settings at load). Libraries not installed are reported as such.

    python bench_gemm.py            # in an environment with numpy (and optionally mkl, blis)
"""
from __future__ import annotations

import ctypes
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np

B = 256
# (a shape, b shape, transpose a, transpose b): forward, then the weight and input gradients.
PRODUCTS = [((B, 784), (784, 512), False, False), ((B, 512), (512, 512), False, False),
            ((B, 512), (512, 10), False, False), ((B, 512), (B, 10), True, False),
            ((B, 512), (B, 512), True, False), ((B, 784), (B, 512), True, False),
            ((B, 10), (512, 10), False, True), ((B, 512), (512, 512), False, True)]


def _mkl():
    """cblas_sgemm of the `mkl` package's libmkl_rt, or None."""
    paths = glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*"))
    if not paths:
        return None
    sgemm = ctypes.CDLL(paths[0]).cblas_sgemm
    i, f, p = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    sgemm.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]
    sgemm.restype = None

    def gemm(a, b, c, ta, tb):
        m, k = (a.shape[1], a.shape[0]) if ta else a.shape
        n = b.shape[0] if tb else b.shape[1]
        sgemm(101, 112 if ta else 111, 112 if tb else 111, m, n, k, 1.0, a.ctypes.data, a.shape[1], b.ctypes.data,
              b.shape[1], 0.0, c.ctypes.data, n)
    return gemm


def _blis():
    try:
        import blis.py as blis
    except ImportError:
        return None
    return lambda a, b, c, ta, tb: blis.gemm(a, b, trans1=ta, trans2=tb, out=c, beta=0.0)


def _numpy(a, b, c, ta, tb):
    np.matmul(a.T if ta else a, b.T if tb else b, out=c)


def one() -> dict:
    """Seconds for the eight products with each library, in this process (thread count from the environment)."""
    rng = np.random.default_rng(0)
    data = []
    for sa, sb, ta, tb in PRODUCTS:
        a, b = rng.standard_normal(sa, dtype=np.float32), rng.standard_normal(sb, dtype=np.float32)
        want = (a.T if ta else a) @ (b.T if tb else b)
        data.append((a, b, np.empty_like(want), ta, tb, want))
    libs = {"numpy (OpenBLAS)": _numpy, "mkl": _mkl(), "blis": _blis()}
    out = {}
    for name, gemm in libs.items():
        if gemm is None:
            out[name] = None
            continue
        for a, b, c, ta, tb, want in data:
            gemm(a, b, c, ta, tb)
            np.testing.assert_allclose(c, want, rtol=1e-3, atol=1e-2)
        best = float("inf")
        for _ in range(15):
            t0 = time.perf_counter()
            for a, b, c, ta, tb, _ in data:
                gemm(a, b, c, ta, tb)
            best = min(best, time.perf_counter() - t0)
        out[name] = best
    return out


def main() -> dict:
    """Each thread count in a fresh process; prints milliseconds and GFLOP/s."""
    flops = sum(2 * (sa[1] if ta else sa[0]) * (sa[0] if ta else sa[1]) * (sb[0] if tb else sb[1])
                for sa, sb, ta, tb in PRODUCTS)
    res = {}
    for t in (1, 2):
        env = dict(os.environ, **{k: str(t) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                      "BLIS_NUM_THREADS")})
        r = subprocess.run([sys.executable, __file__, "--one"], env=env, capture_output=True, text=True, check=True)
        res[t] = json.loads(r.stdout.splitlines()[-1])
        print(f"{t} thread(s), {flops / 1e9:.2f} GFLOP: " + ", ".join(
            f"{k} {'not installed' if v is None else f'{v * 1e3:.2f} ms ({flops / v / 1e9:.0f} GFLOP/s)'}"
            for k, v in res[t].items()))
    return res


if __name__ == "__main__":
    if sys.argv[1:] == ["--one"]:
        print(json.dumps(one()))
    else:
        main()
