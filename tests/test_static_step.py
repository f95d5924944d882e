"""static_step.write_back, the in-graph state updates of a CUDA-graph step, run with NumPy buffers:
replaying a step on fixed buffers must give, step after step, exactly what the plain plan gives."""
from __future__ import annotations

import numpy as np
import pytest

from runtime.static_step import write_back


class StaticRunner:
    """What gpu_graph.StepGraph does, with NumPy in place of CuPy and no graph: fixed buffers,
    arguments copied in unless they already are the buffer, returns copied out."""

    def __init__(self, fn, arrays, n_ret, update_pos):
        self.static = [np.array(a, copy=True) for a in arrays]
        self.body = write_back(fn, n_ret, update_pos, copy=np.copyto, clone=np.copy)
        self.update_pos = update_pos

    def __call__(self, arrays):
        for s, a in zip(self.static, arrays, strict=True):
            if a is not s:
                np.copyto(s, a)
        ret = [np.copy(r) for r in self.body(*self.static)]
        return ret, [self.static[p] for p in self.update_pos]


def _compare(fn, arrays, n_ret, update_pos, steps=4):
    """Run the plain fn and the static runner side by side; states feed back into the next step."""
    runner = StaticRunner(fn, arrays, n_ret, update_pos)
    plain, static = list(arrays), list(arrays)
    for _ in range(steps):
        res = fn(*plain)
        want_ret, want_new = [np.copy(r) for r in res[:n_ret]], list(res[n_ret:])
        got_ret, got_new = runner(static)
        for g, w in zip(got_ret, want_ret, strict=True):
            np.testing.assert_array_equal(g, w)
        for p, g, w in zip(update_pos, got_new, want_new, strict=True):
            np.testing.assert_array_equal(g, w)
            plain[p], static[p] = w, g
        assert all(static[p] is runner.static[p] for p in update_pos)   # states live in the buffers
    return runner


def test_sgd_step_updates_states_in_their_buffers():
    x = np.linspace(-1, 1, 8)
    y = 3 * x + 1

    def step(x, y, w, b):
        d = w * x + b - y
        return (d @ d / 8, w - 0.1 * (2 * d @ x / 8), b - 0.1 * (2 * d.sum() / 8))
    runner = _compare(step, [x, y, np.float64(0.0), np.float64(0.0)], 1, [2, 3])
    assert runner.static[2].shape == ()


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
