"""Shape-generic traces: one compile serves every size of a free dimension, with the same numbers as a trace
specialized to each size; guards that fail retrace with their reason; plan files keep the free dimensions."""
from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace
from graphc.saved_plan import dump_trace, load

SIZES = (64, 64, 37, 1, 5000, 64)     # 5000 rows take the large-group kernels (C loops), 1 the smallest case


def _data(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(seed + n)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return Tensor(x), Tensor(rng.integers(0, 3, n).astype(np.int32))


def _mlp(optimizer: str, **trace_options):
    """A small classifier's training step, traced with the given options; returns (step, params)."""
    rng = np.random.default_rng(0)
    params = [Parameter(rng.standard_normal((6, 8)).astype(np.float32) * 0.5), Parameter(np.zeros(8, np.float32)),
              Parameter(rng.standard_normal((8, 3)).astype(np.float32) * 0.5)]
    gm = GradManager().attach(params)
    opt = optim.Adam(params, lr=0.05) if optimizer == "adam" else optim.SGD(params, lr=0.1, momentum=0.9)

    def step(x, y):
        with gm:
            h = F.relu(F.matmul(x, params[0]) + params[1])
            loss = F.nn.cross_entropy(F.matmul(h, params[2]), y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    return (trace(step, **trace_options) if trace_options is not None else step), params


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_compile_trains_like_a_trace_per_size(optimizer):
    generic, gp = _mlp(optimizer, symbolic_shape=True)
    specialized, sp = _mlp(optimizer)
    for n in SIZES:
        x, y = _data(n)
        a, b = generic(x, y), specialized(x, y)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-6, atol=1e-7)
        for p, q in zip(gp, sp):
            np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=2e-5, atol=2e-7)
    assert generic.traces == 1 and specialized.traces == len(set(SIZES))
    assert "x: float32[N, 6], y: int32[N]: first call" in generic.explain()


def test_gradients_equal_the_specialized_ones_and_eager_ones_for_every_size():
    w = Parameter(np.linspace(-1, 1, 18, dtype=np.float32).reshape(6, 3))
    gm = GradManager().attach([w])

    def grads(x, y):
        with gm:
            loss = F.nn.cross_entropy(F.matmul(x, w), y)
            gm.backward(loss)
        return loss

    generic, specialized = trace(grads, symbolic_shape=True), trace(grads)
    for n in (10, 3, 1, 700):
        x, y = _data(n, seed=1)
        got = []
        for fn in (generic, specialized, grads):
            w.grad = None
            fn(x, y)
            got.append(w.grad.numpy())
        np.testing.assert_allclose(got[0], got[1], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got[0], got[2], rtol=1e-5, atol=1e-7)
    assert generic.traces == 1


def test_a_failing_guard_retraces_with_its_reason(caplog):
    bias = Tensor(np.arange(4, dtype=np.float32))

    @trace(symbolic_shape=True)
    def f(x):
        return x * 2.0 + bias            # x of N elements broadcasts against 4: only N == 4 (or 1) fits

    caplog.set_level(logging.INFO, logger="graphc.jit")
    np.testing.assert_allclose(f(Tensor(np.ones(4, np.float32))).numpy(), 2 + np.arange(4))
    np.testing.assert_allclose(f(Tensor(np.ones(4, np.float32))).numpy(), 2 + np.arange(4))
    assert f.traces == 1
    np.testing.assert_allclose(f(Tensor(np.ones(1, np.float32))).numpy(), 2 + np.arange(4))
    assert f.traces == 2
    assert "guard N == 4 (broadcasting (N,) and (4,)) fails for N=1" in f.explain()
    assert any("guard N == 4" in r.getMessage() for r in caplog.records)


def test_a_reshape_that_only_some_sizes_allow_is_guarded(caplog):
    @trace(symbolic_shape=True)
    def pairs(x):
        return x.reshape(-1, 2).sum(axis=1)

    for n in (6, 10, 4):
        x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
        np.testing.assert_allclose(pairs(Tensor(x)).numpy(), x.reshape(-1, 2).sum(1))
    assert pairs.traces == 1                      # 3N is even for every even N
    caplog.set_level(logging.INFO, logger="graphc.jit")
    x = np.arange(15, dtype=np.float32).reshape(5, 3)
    with pytest.raises(Exception, match="cannot reshape"):
        pairs(Tensor(x))                          # 15 elements: no plan fits, and neither does the op
    assert any("guard 3*N % 2 == 0" in r.getMessage() and "N=5" in r.getMessage() for r in caplog.records)


def test_dynamic_axes_name_the_free_dimensions():
    @trace(dynamic_axes={"a": {0: "B"}, "b": [1]})
    def f(a, b):
        return F.matmul(a, b)

    for n, m in ((2, 5), (3, 7), (1, 1)):
        a = np.ones((n, 4), np.float32)
        b = np.ones((4, m), np.float32)
        np.testing.assert_allclose(f(Tensor(a), Tensor(b)).numpy(), a @ b)
    assert f.traces == 1 and "a: float32[B, 4], b: float32[4, b_1]" in f.explain()
    with pytest.raises(Exception, match="no axis 5"):
        trace(lambda a: a, dynamic_axes={"a": [5]})(Tensor(np.ones(3, np.float32)))
    with pytest.raises(Exception, match="not an argument"):
        trace(lambda a: a, dynamic_axes={"z": [0]})(Tensor(np.ones(3, np.float32)))


def test_reading_a_symbolic_size_as_a_python_int_names_the_way_out():
    @trace(symbolic_shape=True)
    def f(x):
        return F.zeros((int(x.shape[0]), 2))

    with pytest.raises(TypeError, match="size N is only known when the traced function runs"):
        f(Tensor(np.ones(3, np.float32)))

    @trace(symbolic_shape=True)
    def g(x):
        return F.zeros((x.shape[0], 2)) + x.reshape(x.shape[0], 1)   # sizes used in ops work

    np.testing.assert_allclose(g(Tensor(np.arange(3, dtype=np.float32))).numpy(), np.arange(3)[:, None] + np.zeros(2))
    np.testing.assert_allclose(g(Tensor(np.arange(5, dtype=np.float32))).numpy(), np.arange(5)[:, None] + np.zeros(2))
    assert g.traces == 1


@pytest.fixture
def saved(tmp_path):
    step, params = _mlp("sgd", symbolic_shape=True)
    step(*_data(32))

    @trace(symbolic_shape=True)
    def predict(x):
        return F.softmax(F.matmul(F.relu(F.matmul(x, params[0]) + params[1]), params[2]), axis=1)
    predict(_data(32)[0])
    dump_trace(step, tmp_path / "step.gcplan", arg_names=["x", "y"], optimize_for_inference=False)
    dump_trace(predict, tmp_path / "predict.gcplan", arg_names=["x"], output_names=["probs"])
    return tmp_path, predict


def test_saved_plans_serve_every_size_of_a_free_dimension(saved):
    d, predict = saved
    plan = load(d / "predict.gcplan", verify=True)
    assert str(plan.inputs[0]) == "x: float32[N, 6]"
    for n in (1, 1000, 7):
        x = _data(n)[0]
        np.testing.assert_allclose(plan(x).numpy(), predict(x).numpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=r"must have shape \(N, 6\), got \(3, 5\) \(its free dimensions"):
        plan(np.ones((3, 5), np.float32))
    step = load(d / "step.gcplan", verify=True)
    losses = [float(step(*_data(n)).numpy()) for n in (32, 5, 1)]
    assert all(np.isfinite(losses))


def test_graphc_run_takes_one_image_and_a_thousand(saved):
    d, predict = saved
    for n in (1, 1000):
        np.save(d / f"x{n}.npy", _data(n)[0].numpy())
        r = subprocess.run([sys.executable, "-m", "graphc.cli_plan", "run", str(d / "predict.gcplan"),
                            "--input", f"x={d / f'x{n}.npy'}", "--output", str(d / f"out{n}.npz")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        got = np.load(d / f"out{n}.npz")["probs"]
        np.testing.assert_allclose(got, predict(_data(n)[0]).numpy(), rtol=1e-5, atol=1e-7)
    r = subprocess.run([sys.executable, "-m", "graphc.cli_plan", "info", str(d / "step.gcplan")],
                       capture_output=True, text=True, timeout=120)
    assert "x: float32[N, 6]" in r.stdout and "free sizes: N" in r.stdout
