"""Elementwise chain tanh(0.5*x + 0.1) * exp(x) + x*x - abs(x) on 2^24 float32: the fused plan against
eager NumPy and against the hand-written C loop in chain_reference.c (the hardware's limit)."""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile

import numpy as np
from common import best_times_interleaved

import graphc.functional as F
from graphc import Tensor
from graphc.config import config
from graphc.jit import trace

N = 1 << 24
REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chain_reference.c")


def numpy_chain(x: np.ndarray) -> np.ndarray:
    """The chain in eager NumPy."""
    return np.tanh(np.float32(0.5) * x + np.float32(0.1)) * np.exp(x) + x * x - np.abs(x)


@trace
def graphc_chain(x):
    """The chain through graphc (one fused kernel)."""
    return F.tanh(0.5 * x + 0.1) * F.exp(x) + x * x - F.abs(x)


def reference():
    """The C reference as a function (x, y, threads) -> None writing y, or None without gcc."""
    if shutil.which("gcc") is None:
        return None
    # OpenMP's idle threads would otherwise spin after each loop, taking the cores from the benchmarks that
    # run after this one in the same process (the MLP's BLAS threads ran 1.6x slower).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with tempfile.TemporaryDirectory() as tmp:
        lib = os.path.join(tmp, "chain.so")
        subprocess.run(["gcc", "-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-shared",
                        "-fPIC", REFERENCE, "-o", lib, "-lmvec", "-lm"], check=True)
        fn = ctypes.CDLL(lib).chain
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int]
    return lambda x, y, threads: fn(x.ctypes.data, y.ctypes.data, x.size, threads)


def main() -> dict:
    """Time NumPy, the fused plan and the C reference on one thread and on every core."""
    x = np.random.default_rng(0).standard_normal(N).astype(np.float32)
    X, y = Tensor(x), np.empty_like(x)
    expected = numpy_chain(x)
    np.testing.assert_allclose(graphc_chain(X).numpy(), expected, rtol=1e-5, atol=1e-5)
    cores = config.threads
    ref = reference()
    contenders = {"numpy": lambda: numpy_chain(x)}
    for t in sorted({1, cores}):
        def fused(t=t):
            config.threads = t
            graphc_chain(X)
        contenders[f"fused_{t}t"] = fused
        if ref is not None:
            contenders[f"c_{t}t"] = lambda t=t: ref(x, y, t)
    if ref is not None:
        ref(x, y, 1)
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    r = best_times_interleaved(contenders, 2, rounds=5)
    config.threads = cores
    for t in sorted({1, cores}):
        line = f"chain 2^24, {t} thread(s): numpy {r['numpy'] * 1e3:.1f} ms, graphc {r[f'fused_{t}t'] * 1e3:.1f} ms " \
               f"({r['numpy'] / r[f'fused_{t}t']:.2f}x faster)"
        if ref is not None:
            c = r[f"c_{t}t"]
            line += f", C reference {c * 1e3:.1f} ms (graphc {r[f'fused_{t}t'] / c:.2f}x its time)"
        print(line)
    return r


if __name__ == "__main__":
    main()
