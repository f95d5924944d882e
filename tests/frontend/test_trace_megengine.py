"""trace, the MegEngine way where graphc differs: checked mode (trace(checked=True) / GRAPHC_TRACE_CHECKED=1)
runs the function on every call and raises MegEngine's TraceError on the first op that differs from the trace;
the default replays. Also: values read from arguments (shapes, masks, bounds) are checked before each replay;
arguments are the caller's tensors (attach, .grad, in-place updates); exclude_from_trace; profiling."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.config import config
from graphc.jit import exclude_from_trace, trace

A, B, C = Tensor([1, 2, 3, 4]), Tensor([5, 6, 7, 8]), Tensor([9, 0, 1, 2])


@pytest.mark.parametrize("normal, changed, reason", [
    ("a + b + c", "a + b - c", "operator mismatch"),
    ("a + b + 1", "a + b + 2", "tensors not equals"),
    ("(a + b, b + c)[0]", "a + b", "mismature end"),
    ("a + b + c", "c + (a + b)", "expect internal node, got external"),
    ("c + (a + b)", "a + b + c", "expect external node, got internal"),
    ("a + b + c", "a + b + c + c", "too many instructions"),
    ("(a + b, b + c)[1]", "(a + b, b + c)[0]", "data unreadable"),
    ("(a + b, b + c)[1] + a", "(a + b, b + c)[0] + a", "input id mismatch"),
])
def test_checked_mode_raises_megengines_error_naming_the_op_and_line(normal, changed, reason):
    expr = [normal]

    @trace(checked=True)
    def fn(a, b, c):
        return eval(expr[0])
    want = eval(normal.replace("a", "A").replace("b", "B").replace("c", "C")).numpy()
    np.testing.assert_array_equal(fn(A, B, C).numpy(), want)
    expr[0] = changed
    with pytest.raises(graphc.TraceError) as info:
        fn(A, B, C)
    assert str(info.value) == f"trace error because {reason}"     # MegEngine's message, word for word
    cause = str(info.value.__cause__)
    assert cause.startswith("checked trace:") and ("(at <string>:1)" in cause or "return" in cause)   # eval's line
    expr[0] = normal
    np.testing.assert_array_equal(fn(A, B, C).numpy(), want)      # the trace is unchanged


def test_checked_mode_names_both_ops_and_lines():
    flip = [False]

    @trace(checked=True)
    def fn(a, b):
        return a - b if flip[0] else a + b
    fn(A, B)
    flip[0] = True
    with pytest.raises(graphc.TraceError) as info:
        fn(A, B)
    cause = str(info.value.__cause__)
    assert "op 0: the function applies sub" in cause and "the trace recorded add" in cause
    assert cause.count("test_trace_megengine.py:") == 2


def test_checked_mode_repeats_side_effects_and_exceptions_replay_does_not():
    for checked in (False, True):
        seen, fail = [], [False]

        @trace(checked=checked, symbolic=False)
        def fn(x, seen=seen, fail=fail):
            y = x * 2
            seen.append(y.numpy().tolist())
            if fail[0]:
                raise KeyError("later call")
            return y
        fn(A)
        fn(Tensor([1, 1, 1, 1]))
        fail[0] = True
        if checked:
            with pytest.raises(KeyError):
                fn(A)
            assert seen == [[2, 4, 6, 8], [2, 2, 2, 2], [2, 4, 6, 8]]
        else:
            assert fn(A).tolist() == [2, 4, 6, 8]     # replay: the Python body does not run again
            assert seen == [[2, 4, 6, 8]]


def test_the_environment_switch_makes_checked_the_default(monkeypatch):
    monkeypatch.setattr(config, "trace_checked", True)
    assert trace(lambda x: x).checked and not trace(lambda x: x, checked=False).checked
    monkeypatch.setattr(config, "trace_checked", False)
    assert not trace(lambda x: x).checked


def test_a_checked_training_step_equals_the_replayed_one():
    def run(checked):
        w = Parameter([1.0, -1.0])
        gm = GradManager().attach([w])
        opt = graphc.optimizer.SGD([w], lr=0.1, momentum=0.9)

        @trace(checked=checked)
        def step(x):
            with gm:
                loss = F.sum((w * x - 1) ** 2)
                gm.backward(loss)
                opt.step().clear_grad()
            return loss
        return [step(Tensor([1.0, 2.0])).item() for _ in range(4)], w.numpy()
    (l1, w1), (l2, w2) = run(False), run(True)
    np.testing.assert_allclose(l1, l2, rtol=1e-6)
    np.testing.assert_allclose(w1, w2, rtol=1e-6)


# ---- values read while tracing -------------------------------------------------------------------------------

@pytest.mark.parametrize("symbolic", [True, False])
def test_shapes_bounds_and_masks_read_from_arguments_retrace_when_they_change(symbolic):
    @trace(symbolic=symbolic)
    def f(x, shape, mask, stop):
        return F.broadcast_to(x, shape)[mask][:stop]
    x = Tensor([[1.0], [2.0]])
    r = f(x, Tensor([2, 3]), Tensor([True, False]), Tensor(2))
    assert r.tolist() == [[1.0, 1.0, 1.0]]
    assert f(x, Tensor([2, 2]), Tensor([False, True]), Tensor(1)).tolist() == [[2.0, 2.0]]
    assert f.traces == 2
    assert f(x, Tensor([2, 2]), Tensor([False, True]), Tensor(1)).tolist() == [[2.0, 2.0]]
    assert f.traces == 2


def test_a_computed_shape_or_mask_is_refused_with_the_line():
    @trace(symbolic=False)
    def f(x):
        return x[x > 0]
    with pytest.raises(graphc.TraceError, match=r"mask.*test_trace_megengine\.py:\d+"):
        f(Tensor([1.0, -1.0]))


def test_an_argument_value_read_in_a_symbolic_trace_is_checked():
    @trace
    def f(x):
        return Tensor(x.numpy() * 2) + x
    assert f(Tensor([1.0])).tolist() == [3.0]
    assert f(Tensor([2.0])).tolist() == [6.0] and f.traces == 2


def test_zero_dimensional_index_tensors_stay_symbolic():
    x = np.arange(125.0).reshape(5, 5, 5)

    @trace
    def f(x, vec):
        return x[vec, vec[0], vec[1]]
    vec = Tensor([1, 2, 3])
    np.testing.assert_array_equal(f(Tensor(x), vec).numpy(), x[[1, 2, 3], 1, 2])
    np.testing.assert_array_equal(f(Tensor(x), Tensor([3, 0, 4])).numpy(), x[[3, 0, 4], 3, 0])
    assert f.traces == 1


# ---- arguments are the caller's tensors --------------------------------------------------------------------------

@pytest.mark.parametrize("symbolic", [True, False])
def test_an_attached_argument_gets_its_gradient_inside_and_outside(symbolic):
    x0, x1 = Tensor([1.0, 2.0]), Tensor([3.0, 5.0])
    gm = GradManager().attach(x0)

    @trace(symbolic=symbolic)
    def f(a, b):
        with gm:
            y = a * b
            gm.backward(y, F.ones_like(y))
        return y, a.grad
    for _ in range(2):
        x0.grad = None
        y, g = f(x0, x1)
        assert g.tolist() == [3.0, 5.0] and x0.grad.tolist() == [3.0, 5.0]


@pytest.mark.parametrize("symbolic", [True, False])
def test_an_argument_updated_in_place_updates_the_callers_tensor(symbolic):
    @trace(symbolic=symbolic)
    def f(x):
        x[0] = x[0] + 1
        return x * 1
    t = Tensor([1.0, 5.0])
    f(t)
    f(t)
    assert t.tolist() == [3.0, 5.0]


# ---- exclude_from_trace, options -------------------------------------------------------------------------------

def test_exclude_from_trace_runs_outside_the_graph():
    log = []

    @trace(symbolic=False)
    def f(x):
        y = x * 2
        with exclude_from_trace():
            log.append(float(y.sum().item()))
        return y
    f(Tensor([1.0]))
    f(Tensor([2.0]))
    assert log == [2.0] and all(n.op.name == "mul" for n in f.graph.nodes)


def test_megengine_keywords_symbolic_shape_and_profiling():
    f = trace(lambda x: x + 1, symbolic_shape=True, profiling=True)
    f(Tensor([1.0]))
    f(Tensor([1.0]))
    prof = f.get_profile()["profiler"]
    assert prof["traces"] == 1 and prof["calls"] == 2 and prof["seconds"] > 0 and prof["plan"]["nodes"] >= 1
    with pytest.raises(graphc.TraceError, match="profiling"):
        trace(lambda x: x)(Tensor(1.0)) and trace(lambda x: x).get_profile()


def test_detach_inside_a_non_symbolic_trace_follows_new_inputs():
    @trace(symbolic=False)
    def f(x):
        return x.detach() + 1
    f(Tensor([1.0]))
    assert f(Tensor([5.0])).tolist() == [6.0]
