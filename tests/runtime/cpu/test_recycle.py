"""Large results of fused loops reuse the caller's dropped results (runtime/cpu/recycle.py), and never one the
caller still holds, directly or through a view."""
from __future__ import annotations

import numpy as np
from concurrency import in_threads

import graphc.functional as F
from graphc import Tensor
from graphc.jit import trace
from graphc.runtime.cpu.recycle import MIN_BYTES, Recycler

N = MIN_BYTES // 4 * 2     # float32 elements of a result that is recycled


def _chain():
    @trace
    def f(x):
        return F.tanh(x * 0.5) + x * x
    return f


def _want(x: np.ndarray) -> np.ndarray:
    return np.tanh(x * np.float32(0.5)) + x * x


def test_a_dropped_result_is_written_again_and_a_kept_one_never():
    f = _chain()
    xs = [np.random.default_rng(k).standard_normal(N).astype(np.float32) for k in range(4)]
    kept = f(Tensor(xs[0])).numpy()           # the caller keeps this one
    view = f(Tensor(xs[1])).numpy()[10:20]    # and a view of this one
    for x in xs[2:]:
        np.testing.assert_allclose(f(Tensor(x)).numpy(), _want(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(kept, _want(xs[0]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(view, _want(xs[1])[10:20], rtol=1e-5, atol=1e-5)


def test_the_buffer_of_a_dropped_result_comes_back():
    r = Recycler()
    a = r.empty((N,), np.dtype(np.float32))
    where = a.ctypes.data
    del a
    b = r.empty((N,), np.dtype(np.float32))
    assert b.ctypes.data == where
    c = r.empty((N,), np.dtype(np.float32))           # b is held: a new one
    assert c.ctypes.data != b.ctypes.data
    assert r.empty((16,), np.dtype(np.float32)).shape == (16,)   # small: never held
    assert len(r.held) == 2


def test_threads_never_share_a_result():
    f = _chain()

    def work(seed: int) -> int:
        rng = np.random.default_rng(seed)
        wrong = 0
        for _ in range(20):
            x = rng.standard_normal(N).astype(np.float32)
            wrong += not np.allclose(f(Tensor(x)).numpy(), _want(x), rtol=1e-5, atol=1e-5)
        return wrong
    assert sum(in_threads(work, 4)) == 0
