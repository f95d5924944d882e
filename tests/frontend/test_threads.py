"""Plans called from several threads (issue 15 items 8 and 9): results are always right, training steps that
share parameters never lose an update, inference never sees a step half done, and a trace records only
its own thread. The interpreter switches threads every microsecond here, so races show at once."""
from __future__ import annotations

import io
import sys
import threading

import numpy as np
import pytest
from concurrency import in_threads

import graphc
import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace

THREADS = 4


@pytest.fixture(autouse=True)
def fast_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _inference():
    """A traced function whose large intermediates live in the memory plan's slot buffers."""
    rng = np.random.default_rng(0)
    w = Parameter(rng.standard_normal((128, 128)).astype("float32") / 8)

    @trace
    def f(x):
        h = F.tanh(F.matmul(x, w)) * 2.0
        return F.sum(F.exp(F.matmul(h, w) * 0.1), axis=1)
    xs = [Tensor(rng.standard_normal((128, 128)).astype("float32")) for _ in range(THREADS)]
    return f, xs


def test_one_traced_function_from_several_threads():
    """Item 8: slot buffers lived in the generated function's globals (42 of 120 calls were wrong)."""
    f, xs = _inference()
    want = [f(x).numpy() for x in xs]
    assert f.plan.stats["buffers"] > 0
    wrong = in_threads(lambda k: sum(not np.array_equal(f(xs[(k + i) % THREADS]).numpy(), want[(k + i) % THREADS])
                                      for i in range(25)), THREADS)
    assert sum(wrong) == 0


def test_one_loaded_plan_from_several_threads():
    f, xs = _inference()
    want = [f(x).numpy() for x in xs]
    buf = io.BytesIO()
    f.dump(buf)
    buf.seek(0)
    loaded = graphc.load(buf)
    wrong = in_threads(lambda k: sum(not np.array_equal(loaded(xs[(k + i) % THREADS]).numpy(),
                                                         want[(k + i) % THREADS]) for i in range(25)), THREADS)
    assert sum(wrong) == 0


def _sgd_step(shape):
    """A traced SGD step whose gradient is the same every time, so every step subtracts the same amount."""
    w = Parameter(np.zeros(shape, "float32"))
    gm = GradManager().attach([w])
    opt = optim.SGD([w], lr=1.0)

    @trace
    def step(x):
        with gm:
            loss = F.sum(w * x)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    return w, step


@pytest.mark.parametrize("shape", [(4,), (1024, 1024)])      # the large one is updated in place
def test_training_steps_sharing_a_parameter_never_lose_an_update(shape):
    """Item 9: two threads stepping one parameter lost updates; now a step holds its parameters' locks."""
    w, step = _sgd_step(shape)
    x = Tensor(np.ones(shape, "float32"))
    step(x)
    in_threads(lambda k: [step(x) for _ in range(20)], THREADS)
    np.testing.assert_array_equal(w.numpy(), np.full(shape, -(1 + 20 * THREADS), "float32"))


def test_a_loaded_training_step_from_several_threads(tmp_path):
    w, step = _sgd_step((4,))
    x = Tensor(np.ones(4, "float32"))
    step(x)
    step.dump(tmp_path / "step.gcplan", optimize_for_inference=False)
    loaded = graphc.load(tmp_path / "step.gcplan")
    in_threads(lambda k: [loaded(x) for _ in range(20)], THREADS)
    np.testing.assert_array_equal(loaded.state_dict()["w"].numpy(), np.full(4, -(1 + 20 * THREADS), "float32"))


def test_inference_never_sees_a_training_step_half_done():
    """Item 9: a step writes a large parameter in place; a concurrent read-only call shares the parameter's
    lock, so it sees the parameter before or after a step, never a mix of both."""
    w, step = _sgd_step((1024, 1024))
    x = Tensor(np.ones((1024, 1024), "float32"))

    @trace
    def read():
        return w * 2.0
    step(x)
    read()

    def body(k):
        if k == 0:
            for _ in range(40):
                step(x)
            return 0
        torn = 0
        for _ in range(40):
            r = read().numpy()
            torn += int(r.min() != r.max())
        return torn
    assert sum(in_threads(body, THREADS)) == 0
    assert float(w.numpy()[0, 0]) == -41


def test_a_trace_records_only_its_own_thread():
    """Item 8: the trace being built was process-wide, so another thread's calls of a traced function were
    inlined into it (and returned symbolic tensors) and its eager ops were recorded."""
    inside, release = threading.Event(), threading.Event()

    @trace
    def double(x):
        return x * 2.0

    @trace
    def slow(x):
        inside.set()
        release.wait(10)
        return x + 1.0
    a = Tensor(np.arange(4, dtype="float32"))
    double(a)

    def body(k):
        if k == 0:
            return slow(a).numpy()
        inside.wait(10)
        try:
            return [double(a).numpy(), (a * 3.0).numpy()]
        finally:
            release.set()
    first, (doubled, tripled) = in_threads(body, 2)
    np.testing.assert_array_equal(first, np.arange(4) + 1.0)
    np.testing.assert_array_equal(doubled, np.arange(4) * 2.0)
    np.testing.assert_array_equal(tripled, np.arange(4) * 3.0)
    assert [n.op.name for n in slow.graph.nodes] == ["add"]
