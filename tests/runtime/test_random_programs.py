"""Property test: random programs give the same values and gradients eagerly, traced at opt level 0,
traced at opt level 3, and traced at level 3 with every fused group on the large-group kernels (the C
loop and NumPy's cache-blocked loop, chunked and threaded)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc.functional as F
from graphc import Parameter
from graphc.autodiff import GradManager
from graphc.config import config
from graphc.jit import trace

UNARY = [F.tanh, F.sin, F.abs, F.sigmoid, F.relu, F.neg, lambda x: F.sqrt(F.abs(x) + 1.0),
         lambda x: F.exp(F.clip(x, -3.0, 3.0)), F.silu, F.softplus, lambda x: x * 0.5]
BINARY = [F.add, F.sub, F.mul, F.maximum, F.minimum, lambda a, b: a / (F.abs(b) + 1.0)]
REDUCE = [lambda x: F.sum(x, axis=1, keepdims=True), lambda x: F.mean(x, axis=0),
          lambda x: F.max(x, axis=1, keepdims=True), lambda x: F.mean(x)]

instr = st.tuples(st.sampled_from(["u", "b", "r", "m"]), st.integers(0, 100), st.integers(0, 100),
                  st.integers(0, 100))
programs = st.lists(instr, min_size=1, max_size=14)


def run_program(prog, x, v, w):
    """Interpret a program over values broadcastable to x's shape; returns (loss, last value)."""
    pool = [x, v, w[0]]
    for kind, i, j, k in prog:
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        if kind == "u":
            pool.append(UNARY[k % len(UNARY)](a))
        elif kind == "b":
            pool.append(BINARY[k % len(BINARY)](a, b))
        elif kind == "r" and a.ndim == 2:
            pool.append(REDUCE[k % len(REDUCE)](a))
        elif kind == "m" and a.shape == x.shape:
            pool.append(F.tanh(F.matmul(a, w)))
    last = pool[-1]
    loss = F.sum(last * last) + F.sum(pool[len(pool) // 2])
    return loss, last


def evaluate(prog, mode):
    rng = np.random.default_rng(0)
    x = Parameter(rng.standard_normal((3, 4)).astype(np.float32))
    v = Parameter(rng.standard_normal(4).astype(np.float32))
    w = Parameter((rng.standard_normal((4, 4)) * 0.5).astype(np.float32))
    gm = GradManager().attach([x, v, w])

    def step():
        with gm:
            loss, last = run_program(prog, x, v, w)
            gm.backward(loss)
        return loss, last * 1.0
    fn = step if mode == "eager" else trace(step, opt_level=mode)
    loss, last = fn()
    return [loss.numpy(), last.numpy()] + [p.grad.numpy() if p.grad is not None else None for p in (x, v, w)]


def close(a, b):
    if a is None or b is None:
        assert a is None and b is None
        return
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_random_programs_agree(prog):
    want = evaluate(prog, "eager")
    for level in (0, 3):
        for a, b in zip(evaluate(prog, level), want):
            close(a, b)


@pytest.mark.parametrize("backend", ["c", "numpy"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(prog=programs)
def test_random_programs_agree_with_large_group_kernels(prog, backend, monkeypatch):
    """Every fused group runs as a large-group kernel: the C loop, or NumPy's chunked loop (tiny chunks)."""
    want = evaluate(prog, "eager")
    with monkeypatch.context() as m:   # many chunks, two threads
        for k, v in {"cpu_backend": backend, "inline_max": 0, "chunk": 4, "parallel_min": 8, "threads": 2}.items():
            m.setattr(config, k, v)
        got = evaluate(prog, 3)
    for a, b in zip(got, want):
        close(a, b)
