"""Elementwise chain tanh(0.5*x + 0.1) * exp(x) + x*x - abs(x) on 2^24 float32: fused plan vs eager NumPy."""
from __future__ import annotations

import numpy as np
from common import best_time

import graphc.functional as F
from graphc import Tensor
from graphc.config import config
from graphc.jit import trace

N = 1 << 24


def numpy_chain(x: np.ndarray) -> np.ndarray:
    """The chain in eager NumPy."""
    return np.tanh(np.float32(0.5) * x + np.float32(0.1)) * np.exp(x) + x * x - np.abs(x)


@trace
def graphc_chain(x):
    """The chain through graphc (one fused kernel)."""
    return F.tanh(0.5 * x + 0.1) * F.exp(x) + x * x - F.abs(x)


def main() -> dict:
    """Time NumPy and the fused plan on one thread and on every core."""
    x = np.random.default_rng(0).standard_normal(N).astype(np.float32)
    X = Tensor(x)
    np.testing.assert_allclose(graphc_chain(X).numpy(), numpy_chain(x), rtol=1e-5, atol=1e-5)
    r = {"numpy": best_time(lambda: numpy_chain(x), 3)}
    cores = config.threads
    for t in (1, cores):
        config.threads = t
        r[f"fused_{t}t"] = best_time(lambda: graphc_chain(X), 3)
    config.threads = cores
    print("chain 2^24: numpy {:.1f} ms; ".format(r["numpy"] * 1e3) + ", ".join(
        f"{k} {v * 1e3:.1f} ms ({r['numpy'] / v:.2f}x faster)" for k, v in r.items() if k != "numpy"))
    return r


if __name__ == "__main__":
    main()
