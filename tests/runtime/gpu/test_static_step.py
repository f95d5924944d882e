"""static_step.write_back, the in-graph state updates of a CUDA-graph step, run with NumPy buffers:
replaying a step on fixed buffers must give, step after step, exactly what the plain plan gives."""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace
from graphc.runtime.gpu.static_step import Backend, StepGraph, write_back


class NumpyReplay:
    """CudaGraphPlan's contract on NumPy, without a graph: static input buffers, and each call loads the
    inputs that are not already those buffers, then runs the body on them."""

    captured, reason = True, None

    def __init__(self, body, arrays):
        self.body = body
        self.static_inputs = [np.array(a, copy=True) for a in arrays]

    def __call__(self, *arrays):
        for s, a in zip(self.static_inputs, arrays, strict=True):
            if a is not s:
                np.copyto(s, a)
        return self.body(*self.static_inputs)


NUMPY = Backend(capture=NumpyReplay, copy=np.copyto, clone=np.copy, fresh_copy=np.copy)
CPU = "cpu0"        # NumPy buffers: the traced steps here stay on the CPU even where a GPU is the default


def _compare(fn, arrays, n_ret, update_pos, steps=4):
    """Run the plain fn and the StepGraph side by side; states feed back into the next step."""
    graph = StepGraph(fn, arrays, n_ret, update_pos, 0, NUMPY)
    plain, static = list(arrays), list(arrays)
    for _ in range(steps):
        res = fn(*plain)
        want_ret, want_new = [np.copy(r) for r in res[:n_ret]], list(res[n_ret:])
        got = graph(static)
        for g, w in zip(got[:n_ret], want_ret, strict=True):
            np.testing.assert_array_equal(g, w)
        for p, g, w in zip(update_pos, got[n_ret:], want_new, strict=True):
            np.testing.assert_array_equal(g, w)
            plain[p], static[p] = w, g
        assert all(static[p] is graph.state_buffers[p] for p in update_pos)   # states live in the buffers
    return graph


def test_sgd_step_updates_states_in_their_buffers():
    x = np.linspace(-1, 1, 8)
    y = 3 * x + 1

    def step(x, y, w, b):
        d = w * x + b - y
        return (d @ d / 8, w - 0.1 * (2 * d @ x / 8), b - 0.1 * (2 * d.sum() / 8))
    graph = _compare(step, [x, y, np.float64(0.0), np.float64(0.0)], 1, [2, 3])
    assert graph.state_buffers[2].shape == ()


def test_returned_old_state_is_not_overwritten_by_the_update():
    def step(w):
        return (w, w + 1.0)         # returns the value before the update
    _compare(step, [np.arange(3.0)], 1, [0])


def test_swapped_states():
    def step(a, b):
        return (a + b, b, a)        # a <- b and b <- a in the same step
    _compare(step, [np.arange(3.0), 10 + np.arange(3.0)], 1, [0, 1])


def test_state_updated_from_a_view_of_another_state():
    def step(a, b):
        return (b[::-1], a)         # b <- a; the result reads b through a view
    _compare(step, [np.arange(4.0), 10 + np.arange(4.0)], 1, [1])


def test_unchanged_state_is_not_copied():
    copies = []

    def copy(d, s):
        copies.append(d)
        np.copyto(d, s)

    def step(a, b):
        return (a.sum(), a, b * 2)   # a unchanged, b updated
    body = write_back(step, 1, [0, 1], copy=copy, clone=np.copy)
    a, b = np.ones(3), np.ones(3)
    body(a, b)
    assert len(copies) == 1 and copies[0] is b
    np.testing.assert_array_equal(b, 2.0)


def test_update_count_must_match_results():
    body = write_back(lambda a: (a, a + 1, a + 2), 1, [0], copy=np.copyto, clone=np.copy)
    with pytest.raises(ValueError):
        body(np.zeros(2))


def _replay_like_the_gpu(monkeypatch):
    """From now on traced steps take the GPU path of Plan.run (a StepGraph) on the CPU, over NumPy buffers."""
    import graphc.jit as jit
    fake = types.ModuleType("graphc.runtime.gpu.cuda_graph")
    fake.step_graph = lambda fn, arrays, n_ret, update_pos, n_args: StepGraph(fn, arrays, n_ret, update_pos,
                                                                              n_args, NUMPY)
    monkeypatch.setitem(sys.modules, "graphc.runtime.gpu.cuda_graph", fake)
    init = jit._Compiled.__init__

    def replaying(self, *a, **k):
        init(self, *a, **k)
        self.plan.replay = True
    monkeypatch.setattr(jit._Compiled, "__init__", replaying)


def _adam_run(lrs: list[float], assign_at: int):
    """A traced Adam regression step under an lr schedule; w is assigned a new value before step assign_at."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((8, 3)).astype(np.float32), device=CPU)
    y = Tensor(rng.standard_normal(8).astype(np.float32), device=CPU)
    w, b = Parameter(np.zeros(3, np.float32), device=CPU), Parameter(np.float32(0.0), device=CPU)
    gm = GradManager().attach([w, b])
    opt = optim.Adam([w, b], lr=lrs[0])

    @trace
    def step(x, y):
        with gm:
            loss = F.mean((F.matmul(x, F.expand_dims(w, 1))[:, 0] + b - y) ** 2)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    losses = []
    for i, lr in enumerate(lrs):
        opt.param_groups[0]["lr"] = lr
        if i == assign_at:
            w._assign(Tensor(np.ones(3, np.float32), device=CPU))   # a new buffer: the next call copies it in
        losses.append(step(x, y))
    return step, losses, (w, b), opt


def test_jit_replay_through_a_step_graph_matches_the_plan(monkeypatch):
    lrs = [0.1, 0.1, 0.05, 0.05, 0.2, 0.2]
    _, want_losses, want_params, _ = _adam_run(lrs, assign_at=3)
    _replay_like_the_gpu(monkeypatch)
    step, losses, params, opt = _adam_run(lrs, assign_at=3)
    assert isinstance(step._last.plan._step, StepGraph) and step.traces == 1
    for got, want in zip(losses + list(params), want_losses + list(want_params), strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)    # earlier losses intact
    # Parameters, Adam's moments and step count, and the learning rate live in the graph's buffers.
    buffers = {id(a) for a in step._last.plan._step.state_buffers}
    states = list(params) + [t for st in opt._state.values() for t in st.values()]
    assert all(id(t._data) in buffers for t in states)
