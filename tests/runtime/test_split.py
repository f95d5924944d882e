"""Plans longer than split.MAX_LINES run from functions compiled one by one, their values in a dict: the same
results, located errors, and long inline groups that release their intermediates."""
from __future__ import annotations

import numpy as np
import pytest

import graphc.functional as F
from graphc import GraphcError, Tensor
from graphc.jit import trace
from graphc.runtime import split
from graphc.runtime.lower import INLINE_HELD


def _step(x, i):
    y = F.tanh(x * 0.5) + F.sum(x * x) * 0.01
    return F.gather(y, 1, i)


@pytest.fixture
def short(monkeypatch):
    monkeypatch.setattr(split, "MAX_LINES", 3)


def test_a_long_plan_gives_the_same_results_and_locates_its_errors(short):
    x = Tensor(np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32))
    i = Tensor(np.array([[0], [4], [2], [1]], np.int32))
    f = trace(_step)
    got = f(x, i).numpy()
    assert "_p1(r)" in f.plan.source and 'r["a0"]' in f.plan.source
    np.testing.assert_allclose(got, trace(_step, opt_level=0)(x, i).numpy(), rtol=1e-6)
    with pytest.raises(GraphcError, match=r"gather: .*out of bounds.*\(at .*test_split.py:\d+\)"):
        f(x, Tensor(np.array([[0], [9], [2], [1]], np.int32)))


def test_free_sizes_in_a_long_plan(short):
    f = trace(lambda x: F.relu(x) * 2.0 + F.mean(x), symbolic_shape=True)
    for n in (3, 7):
        x = np.linspace(-1, 1, n * 2, dtype=np.float32).reshape(n, 2)
        np.testing.assert_allclose(f(Tensor(x)).numpy(), np.maximum(x, 0) * 2 + x.mean(), rtol=1e-6, atol=1e-6)
    assert f.traces == 1


def test_a_long_inline_group_releases_what_it_no_longer_needs():
    n = INLINE_HELD // 4 // 50 + 1       # float32 elements: 200 intermediates hold more than INLINE_HELD

    def chain(x):
        for k in range(200):
            x = F.sin(x) if k % 2 else x * 0.9
        return x
    f = trace(chain)
    x = np.linspace(-1, 1, n, dtype=np.float32)
    want = x
    for k in range(200):
        want = np.sin(want) if k % 2 else want * np.float32(0.9)
    np.testing.assert_allclose(f(Tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)
    assert f.plan.stats["fused_groups"] == 1 and "del " in f.plan.source
