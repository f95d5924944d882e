"""graphc sets the BLAS library's threads for its own matrix products by their size, within
graphc.set_num_threads, and gives the library's setting back after each call."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.config import config
from graphc.ir import Graph, building, emit
from graphc.runtime.compile import compile_graph
from graphc.runtime.cpu import blas

pytestmark = pytest.mark.skipif(not blas.libraries(), reason="no BLAS library threadpoolctl can drive")


def blas_threads() -> int:
    return blas.libraries()[0].get_num_threads()


@pytest.fixture
def knobs(monkeypatch):
    """Room for 4 threads and a product size per thread small enough for quick tests; the library's
    setting is put back afterwards."""
    before = blas_threads()
    monkeypatch.setattr(config, "threads", 4)
    monkeypatch.setattr(config, "blas_min_flops", 2 * 16 * 64 * 64)   # one 16x64 @ 64x64 product per thread
    yield
    for lib in blas.libraries():
        lib.set_num_threads(before)


def product(m: int, k: int, n: int):
    """A plan computing a (m, k) @ (k, n) product, with a spy recording the BLAS threads it ran with."""
    g = Graph()
    a, b = g.add_input((m, k), np.float32, "a"), g.add_input((k, n), np.float32, "b")
    with building(g):
        g.outputs = [emit("matmul", [a, b], transpose_a=False, transpose_b=False)]
    plan = compile_graph(g)
    seen = []
    real = plan.numpy_fn.__globals__["np_matmul"]

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return real(*args, **kwargs)
    plan.numpy_fn.__globals__["np_matmul"] = spy
    args = [np.ones((m, k), np.float32), np.ones((k, n), np.float32)]
    return plan, args, seen


@pytest.mark.parametrize(("m", "want"), [(4, 3), (16, 1), (32, 2), (48, 3), (128, 4)])
def test_a_plans_product_runs_with_threads_by_its_size(knobs, m, want):
    for lib in blas.libraries():
        lib.set_num_threads(3)                      # whatever the library was set to before the call
    plan, args, seen = product(m, 64, 64)
    (out,) = plan.run(args).outputs
    np.testing.assert_array_equal(out, np.full((m, 64), 64, np.float32))
    assert seen == [want]                           # 4 rows: below blas.SMALL, the library's own setting
    assert ("_bt(" in plan.source) == (m > 4)
    assert blas_threads() == 3                      # given back


def test_set_num_threads_bounds_the_blas_threads_too(knobs):
    graphc.set_num_threads(2)
    plan, args, seen = product(128, 64, 64)
    plan.run(args)
    graphc.set_num_threads(1)
    plan2, args2, seen2 = product(128, 64, 64)
    plan2.run(args2)
    assert seen == [2] and seen2 == [1]


def test_eager_products_choose_their_threads_too(knobs, monkeypatch):
    for lib in blas.libraries():
        lib.set_num_threads(3)
    seen = []
    real = np.matmul

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return real(*args, **kwargs)
    monkeypatch.setattr(np, "matmul", spy)
    w = graphc.Tensor(np.ones((64, 64), np.float32), device="cpu0")
    for m in (4, 16, 128):
        graphc.functional.matmul(graphc.Tensor(np.ones((m, 64), np.float32), device="cpu0"), w)
    assert seen == [3, 1, 4] and blas_threads() == 3


def test_threads_for_follows_the_work():
    assert blas.product_flops((5, 3, 4), (5, 3, 7)) == 2 * 5 * 3 * 7 * 4
    assert blas.product_flops((4, 3), (3, 7), transpose_a=True) == 2 * 3 * 7 * 4
    assert blas.threads_for(blas.SMALL - 1) is None                    # left to the library
    assert blas.threads_for(max(blas.SMALL, config.blas_min_flops - 1)) == 1
    assert blas.threads_for(config.blas_min_flops * 10**6) == config.threads


def test_a_plan_with_a_free_dimension_chooses_per_call(knobs):
    from graphc.jit import trace
    w = graphc.Parameter(np.ones((64, 64), np.float32))

    @trace(symbolic_shape=True)
    def f(x):
        return graphc.functional.matmul(x, w)

    f(graphc.Tensor(np.ones((16, 64), np.float32)))
    env = f.plan.numpy_fn.__globals__
    seen, real = [], env["np_matmul"]

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return real(*args, **kwargs)
    env["np_matmul"] = spy
    for lib in blas.libraries():
        lib.set_num_threads(3)
    for m in (4, 16, 128):
        assert f(graphc.Tensor(np.ones((m, 64), np.float32))).shape == (m, 64)
    assert seen == [3, 1, 4] and f.traces == 1 and blas_threads() == 3
