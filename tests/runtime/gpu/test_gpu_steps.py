"""Traced training steps on the GPU as CUDA graphs (marker `gpu`; skipped without a CUDA device):
capturable cuBLAS products, states kept in the graph's buffers, fresh outputs, CPU agreement.

Tolerance: float32 steps agree with the CPU plan to 1e-5 relative (cuBLAS and NumPy's BLAS sum in
different orders; reductions likewise)."""
from __future__ import annotations

import numpy as np
import pytest
from gpu_device import cupy_and_marks
from steps import line_fit_run, mlp_run

from graphc import Tensor

cupy, pytestmark = cupy_and_marks()
RTOL = 1e-5


@pytest.fixture(autouse=True)
def _strict(monkeypatch):
    monkeypatch.setenv("GRAPHC_GPU_STRICT", "1")


def _close(got, want):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12), (np.float16, 2e-2)])
def test_gemm_matches_cupy_matmul(ta, tb, dtype, tol):
    from graphc.runtime.gpu.blas import matmul
    rng = np.random.default_rng(2)
    for m, k, n in ((256, 784, 512), (7, 1, 3), (1, 5, 1), (33, 65, 17)):
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
        got = cupy.asnumpy(matmul(cupy.asarray(a), cupy.asarray(b), ta, tb))
        assert got.dtype == dtype and got.shape == (m, n)
        err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30)
        assert err <= tol, (m, k, n, err)


def test_gemm_of_strided_views():
    from graphc.runtime.gpu.blas import matmul
    a = cupy.random.standard_normal((40, 60), dtype=np.float32)[:, ::2]    # neither C- nor F-contiguous
    b = cupy.random.standard_normal((30, 9), dtype=np.float32)
    np.testing.assert_allclose(cupy.asnumpy(matmul(a, b)), cupy.asnumpy(a) @ cupy.asnumpy(b), rtol=1e-5, atol=1e-5)


def test_gemm_is_captured_in_a_cuda_graph():
    from graphc.runtime.gpu.blas import matmul
    from graphc.runtime.gpu.cuda_graph import CudaGraphPlan
    a = cupy.random.standard_normal((256, 784), dtype=np.float32)
    w = cupy.random.standard_normal((512, 784), dtype=np.float32)

    def f(a, w):
        return (cupy.maximum(matmul(a, w, False, True), 0),)
    plan = CudaGraphPlan(f, [a, w], fallback=False)
    assert plan.captured
    a2 = cupy.random.standard_normal((256, 784), dtype=np.float32)
    got = plan(a2, w)[0]
    np.testing.assert_allclose(cupy.asnumpy(got), cupy.asnumpy(f(a2, w)[0]), rtol=1e-5, atol=1e-4)


def test_traced_mlp_step_is_one_cuda_graph_and_matches_the_cpu():
    step, losses, params = mlp_run("gpu0")
    assert step._last.plan._step, f"the MLP step should replay as a CUDA graph: {step._last.plan.replay_refused}"
    _, cpu_losses, cpu_params = mlp_run("cpu0")
    for g, c in zip(losses, cpu_losses, strict=True):
        _close(g, c)
    for g, c in zip(params, cpu_params, strict=True):
        _close(g, c)


def test_traced_line_fit_keeps_states_in_graph_buffers_and_returns_fresh_losses():
    step, losses, (w, b), _ = line_fit_run("gpu0")
    graph = step._last.plan._step
    assert graph, f"the line-fit step should replay as a CUDA graph: {step._last.plan.replay_refused}"
    assert any(w._data is s for s in graph.state_buffers) and any(b._data is s for s in graph.state_buffers)
    _, cpu_losses, (cw, cb), _ = line_fit_run("cpu0")
    for g, c in zip(losses, cpu_losses, strict=True):      # earlier losses were not overwritten
        _close(g, c)
    _close(w, cw)
    _close(b, cb)


def test_state_assigned_between_replays_is_copied_in():
    runs = [line_fit_run(dev, steps=2) for dev in ("gpu0", "cpu0")]
    for (step, _, (w, _b), (x, y)), dev in zip(runs, ("gpu0", "cpu0"), strict=True):
        w._assign(Tensor(np.float32(3.0), device=dev))       # a new buffer: the next replay loads it
        step(x, y)
    (_, _, (w, b), _), (_, _, (cw, cb), _) = runs
    _close(w, cw)
    _close(b, cb)
