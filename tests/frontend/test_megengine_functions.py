"""The functions MegEngine 1.13 users reach for next (sort, topk, cond_take, the hard activations, logaddexp,
normalize, matinv, diag, cumsum, swapaxes, copy, ctc_loss, pad modes, ...), eager and traced.

Expected values were printed by MegEngine 1.13 in a reference venv (pip install megengine==1.13.0 "numpy<2")
by evaluating the expression in each comment on the same inputs, e.g. `F.topk(x, 2)` with
x = mge.tensor([[3., 1., 2., 5.], [4., 4., 0., -1.]]); they are written here as MegEngine printed them
(float32 values, printed at full precision with .tolist()).
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc.functional as F
from graphc import Tensor, tensor
from graphc.jit import trace

X = [[3., 1., 2., 5.], [4., 4., 0., -1.]]
V = [-2.5, -0.5, 0., 0.5, 2.5]
W = [-4., -3., -1.5, 0., 1.5, 3., 4.]
Y = [[1., 2., 3.], [4., 5., 6.]]
F32 = dict(rtol=1e-6, atol=1e-7)   # float32 values as MegEngine printed them, against graphc's float32 kernels


def modes(fn, *args):
    """fn's results eagerly, in a symbolic trace and in a non-symbolic one (each traced twice: trace, replay)."""
    results = [fn(*args)]
    for symbolic in (True, False):
        t = trace(fn, symbolic=symbolic)
        t(*args)
        results.append(t(*args))
    return results


def values(r):
    return [x.numpy() for x in r] if isinstance(r, (tuple, list)) else r.numpy()


def check(fn, args, want, dtypes=None, **tol):
    """fn(*args) in every mode equals `want` (a list per output for several outputs)."""
    for r in modes(fn, *args):
        got = values(r)
        if isinstance(r, (tuple, list)):
            for g, w in zip(got, want, strict=True):
                np.testing.assert_allclose(g, w, **(tol or F32))
            if dtypes:
                assert [str(x.dtype) for x in r] == dtypes
        else:
            np.testing.assert_allclose(got, want, **(tol or F32))
            if dtypes:
                assert str(r.dtype) == dtypes[0]


# ---- sorting -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, want", [
    ({}, [[[5.0, 3.0], [4.0, 4.0]], [[3, 0], [1, 0]]]),                          # F.topk(x, 2)
    ({"descending": False}, [[[1.0, 2.0], [-1.0, 0.0]], [[1, 2], [3, 2]]]),      # F.topk(x, 2, descending=False)
])
def test_topk(kwargs, want):
    check(lambda x: F.topk(x, 2, **kwargs), [tensor(X)], want, ["float32", "int32"])


def test_topk_kth_only_and_k_beyond_the_axis():
    # F.topk(x, 3, kth_only=True) and F.topk(x, 9) in MegEngine 1.13 (a k beyond the axis gives the whole axis).
    check(lambda x: F.topk(x, 3, kth_only=True), [tensor(X)], [[2.0, 0.0], [2, 2]])
    check(lambda x: F.topk(x, 9), [tensor(X)],
          [[[5.0, 3.0, 2.0, 1.0], [4.0, 4.0, 0.0, -1.0]], [[3, 0, 2, 1], [1, 0, 2, 3]]])


def test_sort_and_argsort():
    # F.sort(x), F.sort(x, descending=True), F.argsort(x, descending=True): equal values keep their order.
    check(F.sort, [tensor(X)], [[[1.0, 2.0, 3.0, 5.0], [-1.0, 0.0, 4.0, 4.0]], [[1, 2, 0, 3], [3, 2, 0, 1]]],
          ["float32", "int32"])
    check(lambda x: F.sort(x, descending=True), [tensor(X)],
          [[[5.0, 3.0, 2.0, 1.0], [4.0, 4.0, 0.0, -1.0]], [[3, 0, 2, 1], [1, 0, 2, 3]]])
    check(lambda x: F.argsort(x, descending=True), [tensor(X)], [[3, 0, 2, 1], [1, 0, 2, 3]], ["int32"])


def test_sort_along_another_axis_and_empty():
    a = np.random.default_rng(0).integers(-5, 5, (4, 6)).astype(np.float32)
    vals, idx = F.sort(Tensor(a), axis=0)
    np.testing.assert_array_equal(vals.numpy(), np.sort(a, axis=0))
    np.testing.assert_array_equal(idx.numpy(), np.argsort(a, axis=0, kind="stable"))
    for shape in [(0,), (3, 0)]:
        vals, idx = F.sort(Tensor(np.zeros(shape, np.float32)))
        assert vals.shape == idx.shape == shape and idx.dtype == np.int32


def test_topk_gradient_lands_where_the_values_came_from():
    from graphc import Parameter
    from graphc.autodiff import GradManager
    x = Parameter(X)
    gm = GradManager().attach([x])
    with gm:
        vals, _ = F.topk(x, 2)
        gm.backward((vals * Tensor([[1., 10.], [100., 1000.]])).sum())
    np.testing.assert_array_equal(x.grad.numpy(), [[10., 0., 0., 1.], [1000., 100., 0., 0.]])


# ---- elementwise --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, fn, data, want", [
    ("asinh", F.asinh, V, [-1.6472312211990356, -0.4812118411064148, 0.0, 0.4812118411064148, 1.6472312211990356]),
    ("acosh", lambda v: F.acosh(v + 3), V,
     [np.nan, 1.566799283027649, 1.7627471685409546, 1.9248473644256592, 2.3895263671875]),
    ("atanh", lambda v: F.atanh(v / 3), V,
     [-1.198947548866272, -0.1682361215353012, 0.0, 0.1682361215353012, 1.198947548866272]),
    ("hswish", F.hswish, W, [-0.0, -0.0, -0.375, 0.0, 1.125, 3.0, 4.0]),
    ("hsigmoid", F.hsigmoid, W, [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]),
    ("relu6", lambda w: F.nn.relu6(w * 2), W, [0.0, 0.0, 0.0, 0.0, 3.0, 6.0, 6.0]),
    ("logaddexp", lambda v: F.logaddexp(v, v * 2), V,
     [-2.421110153198242, -0.02592301368713379, 0.6931471824645996, 1.4740769863128662, 5.078889846801758]),
])
def test_elementwise(name, fn, data, want):
    # F.<name>(...) as in the id, on v = mge.tensor(V) or w = mge.tensor(W).
    check(fn, [tensor(data)], want)


def test_logaddexp_does_not_overflow():
    # F.logaddexp(mge.tensor([1e3, -1e3]), mge.tensor([1e3, 1.])) in MegEngine 1.13.
    check(F.logaddexp, [tensor([1e3, -1e3]), tensor([1e3, 1.])], [1000.6931762695312, 1.0])


def test_integer_inputs_compute_in_float32():
    for fn in (F.asinh, F.atanh, F.hswish, F.hsigmoid):
        assert fn(tensor([0, 1], dtype="int32")).dtype == np.float32
    assert F.logaddexp(tensor([1]), tensor([2])).dtype == np.float32


# ---- math, shapes, losses ----------------------------------------------------------------------------

def test_normalize():
    # F.normalize(x, axis=1) and F.normalize(x, ord=1, axis=0) in MegEngine 1.13.
    check(lambda x: F.normalize(x, axis=1), [tensor(X)],
          [[0.4803844690322876, 0.1601281613111496, 0.3202563226222992, 0.8006407618522644],
           [0.6963106393814087, 0.6963106393814087, 0.0, -0.17407765984535217]])
    check(lambda x: F.normalize(x, ord=1, axis=0), [tensor(X)],
          [[0.4285714328289032, 0.20000000298023224, 1.0, 0.8333333134651184],
           [0.5714285969734192, 0.800000011920929, 0.0, -0.1666666716337204]])
    assert F.normalize(Tensor([[0., 0.]]), axis=1).tolist() == [[0., 0.]]   # a zero norm is clipped to eps


def test_matinv():
    # F.matinv(mge.tensor([[2., 1.], [1., 3.]])) in MegEngine 1.13.
    check(F.matinv, [tensor([[2., 1.], [1., 3.]])],
          [[0.6000000238418579, -0.20000000298023224], [-0.20000000298023224, 0.4000000059604645]])
    batch = np.eye(3) + np.random.default_rng(1).uniform(-0.2, 0.2, (2, 3, 3))
    np.testing.assert_allclose(F.matinv(Tensor(batch)).numpy(), np.linalg.inv(batch), rtol=1e-5)


def test_diag():
    # F.diag(mge.tensor([1., 2., 3.]), k=1), F.diag(x, k=-1), F.diag(x, k=2) in MegEngine 1.13.
    check(lambda v: F.diag(v, k=1), [tensor([1., 2., 3.])],
          [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
    check(lambda x: F.diag(x, k=-1), [tensor(X)], [4.0])
    check(lambda x: F.diag(x, k=2), [tensor(X)], [2.0, -1.0])
    np.testing.assert_array_equal(F.diag(Tensor([1., 2.]), k=-1).numpy(), np.diag([1., 2.], k=-1))


def test_cumsum_swapaxes_copy():
    # F.cumsum(x, 1), F.cumsum(mge.tensor([[1, 2, 3], [4, 5, 6]]), 0) in MegEngine 1.13.
    check(lambda x: F.cumsum(x, 1), [tensor(X)], [[3.0, 4.0, 6.0, 11.0], [4.0, 8.0, 8.0, 7.0]])
    check(lambda x: F.cumsum(x, 0), [tensor([[1, 2, 3], [4, 5, 6]])], [[1, 2, 3], [5, 7, 9]], ["int32"])
    assert F.swapaxes(F.ones((2, 3, 4)), 0, 2).shape == (4, 3, 2)   # (4, 3, 2) in MegEngine
    x = Tensor(X)
    c = F.copy(x)
    assert c is not x and c.tolist() == X


def test_cond_take():
    # F.cond_take(x > 2, x) in MegEngine 1.13: the values and their positions in the flattened x.
    vals, idx = F.cond_take(tensor(X) > 2, tensor(X))
    assert vals.tolist() == [3.0, 5.0, 4.0, 4.0] and idx.tolist() == [0, 3, 4, 5] and idx.dtype == np.int32
    with pytest.raises(RuntimeError, match="where"):      # a data-dependent length cannot be traced
        trace(lambda m, x: F.cond_take(m, x))(tensor(X) > 2, tensor(X))


def test_argmax_over_a_tuple_of_axes():
    # F.argmax(x, axis=(0, 1)) and F.argmin(x, axis=(0, 1)) in MegEngine 1.13 give 0: one axis after another,
    # the last first, each indexing the previous result.
    assert F.argmax(tensor(X), axis=(0, 1)).item() == 0
    assert F.argmin(tensor(X), axis=(0, 1)).item() == 0
    assert F.argmax(tensor(X), axis=(0, 1), keepdims=True).shape == (1, 1)


def test_prelu_indexing_one_hot_meshgrid():
    # F.nn.prelu(x, mge.tensor([0.25])), F.nn.indexing_one_hot(x, mge.tensor([3, 2]), 1) and
    # F.meshgrid(mge.tensor([1., 2., 3.]), mge.tensor([4., 5.])) (also indexing="ij") in MegEngine 1.13.
    check(lambda x: F.nn.prelu(x, Tensor([0.25])), [tensor(X)], [[3.0, 1.0, 2.0, 5.0], [4.0, 4.0, 0.0, -0.25]])
    check(lambda x: F.nn.indexing_one_hot(x, Tensor([3, 2]), 1), [tensor(X)], [5.0, 0.0])
    a, b = F.meshgrid(Tensor([1., 2., 3.]), Tensor([4., 5.]))
    assert a.tolist() == [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]] and b.tolist() == [[4.0, 4.0, 4.0], [5.0, 5.0, 5.0]]
    a, b = F.meshgrid(Tensor([1., 2., 3.]), Tensor([4., 5.]), indexing="ij")
    assert a.tolist() == [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]] and b.tolist() == [[4.0, 5.0], [4.0, 5.0], [4.0, 5.0]]


@pytest.mark.parametrize("pad_width, mode, want", [
    (((1, 1), (2, 0)), "reflect", [[6.0, 5.0, 4.0, 5.0, 6.0], [3.0, 2.0, 1.0, 2.0, 3.0], [6.0, 5.0, 4.0, 5.0, 6.0],
                                   [3.0, 2.0, 1.0, 2.0, 3.0]]),
    (((1, 0), (1, 2)), "EDGE", [[1.0, 1.0, 2.0, 3.0, 3.0, 3.0], [1.0, 1.0, 2.0, 3.0, 3.0, 3.0],
                                [4.0, 4.0, 5.0, 6.0, 6.0, 6.0]]),
    (((0, 1), (1, 0)), "REPLICATE", [[1.0, 1.0, 2.0, 3.0], [4.0, 4.0, 5.0, 6.0], [4.0, 4.0, 5.0, 6.0]]),
])
def test_pad_modes(pad_width, mode, want):
    # F.nn.pad(y, pad_width, mode=mode) on y = mge.tensor(Y) in MegEngine 1.13.
    check(lambda y: F.nn.pad(y, pad_width, mode=mode), [tensor(Y)], want)


def test_pad_modes_match_numpy_and_differentiate():
    from graphc import Parameter
    from graphc.autodiff import GradManager
    a = np.arange(20.).reshape(4, 5)
    for pw in [((1, 2), (3, 0)), ((3, 3), (4, 4)), ((0, 0), (1, 1))]:
        for mode in ("reflect", "edge", "constant"):
            np.testing.assert_array_equal(F.nn.pad(Tensor(a), pw, mode=mode).numpy(), np.pad(a, pw, mode=mode))
    # Each input element receives the gradient of every place padding copied it to.
    x = Parameter(np.zeros((2, 3), np.float32))
    gm = GradManager().attach([x])
    with gm:
        gm.backward(F.nn.pad(x, ((0, 0), (1, 1)), mode="edge").sum())
    assert x.grad.tolist() == [[2., 1., 2.], [2., 1., 2.]]
    with pytest.raises(AssertionError, match="mode"):
        F.nn.pad(Tensor(a), ((1, 1), (1, 1)), mode="wrap")


def test_tensor_and_none_arguments():
    # F.broadcast_to(mge.tensor([[1.], [2.]]), (None, 3)), F.eye((3,)), F.linspace(mge.tensor(0.),
    # mge.tensor(1.), mge.tensor(5)) and F.arange(mge.tensor(1), mge.tensor(7), mge.tensor(2)) in MegEngine 1.13.
    assert F.broadcast_to(Tensor([[1.], [2.]]), (None, 3)).tolist() == [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    assert F.eye((3,)).tolist() == np.eye(3).tolist()
    assert F.linspace(Tensor(0.), Tensor(1.), Tensor(5)).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert F.arange(Tensor(1), Tensor(7), Tensor(2)).tolist() == [1.0, 3.0, 5.0]
    assert F.broadcast_to(Tensor([1.]), (Tensor([2]), Tensor([3]))).shape == (2, 3)


def test_cross_entropy_fixes():
    # MegEngine 1.13: F.nn.cross_entropy(mge.tensor([[0.2, 0.8], [0.6, 0.4]]), mge.tensor([1, 0]),
    # with_logits=False, label_smooth=0.1), F.nn.cross_entropy(x, mge.tensor([3, 0]), label_smooth=0.2) and
    # F.nn.cross_entropy(x, mge.tensor([3, 0]), axis=-1).
    p = Tensor([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_allclose(F.nn.cross_entropy(p, Tensor([1, 0]), with_logits=False, label_smooth=0.1).item(),
                               0.4117785096168518, rtol=1e-6)
    np.testing.assert_allclose(F.nn.cross_entropy(Tensor(X), Tensor([3, 0]), label_smooth=0.2).item(),
                               0.895389199256897, rtol=1e-6)
    np.testing.assert_allclose(F.nn.cross_entropy(Tensor(X), Tensor([3, 0]), axis=-1).item(),
                               0.4453892707824707, rtol=1e-6)
    assert F.loss.cross_entropy is F.nn.cross_entropy


# ---- ctc_loss ----------------------------------------------------------------------------------------------

PROBS = np.array([[[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]], [[0.2, 0.2, 0.6], [0.3, 0.3, 0.4]],
                  [[0.3, 0.4, 0.3], [0.5, 0.25, 0.25]], [[0.6, 0.1, 0.3], [0.2, 0.2, 0.6]]], np.float32)


@pytest.mark.parametrize("reduction, want", [("none", [1.6533896923065186, 1.7573580741882324]),
                                             ("sum", 3.410747766494751), ("mean", 1.2920265197753906)])
def test_ctc_loss(reduction, want):
    # F.nn.ctc_loss(mge.tensor(PROBS), mge.tensor([4, 3]), mge.tensor([1, 2, 2]), mge.tensor([2, 1]),
    # reduction=reduction) in MegEngine 1.13.
    check(lambda p: F.nn.ctc_loss(p, Tensor([4, 3]), Tensor([1, 2, 2]), Tensor([2, 1]), reduction=reduction),
          [Tensor(PROBS)], want, rtol=2e-6)


def test_ctc_loss_blank_padded_labels_and_gradient():
    from graphc import Parameter
    from graphc.autodiff import GradManager
    # F.nn.ctc_loss(..., mge.tensor([1, 0, 1]), ..., blank=2, reduction="none") in MegEngine 1.13.
    got = F.nn.ctc_loss(Tensor(PROBS), Tensor([4, 3]), Tensor([1, 0, 1]), Tensor([2, 1]), blank=2, reduction="none")
    np.testing.assert_allclose(got.numpy(), [1.6074399948120117, 1.491654872894287], rtol=2e-6)
    padded = F.nn.ctc_loss(Tensor(PROBS), Tensor([4, 3]), Tensor([[1, 0], [1, 9]]), Tensor([2, 1]), blank=2,
                           reduction="none")
    np.testing.assert_allclose(padded.numpy(), got.numpy(), rtol=1e-7)
    # The gradient of the summed loss, as MegEngine 1.13's GradManager gives it (t.grad after backward).
    want = [[[-0.6269592642784119, -2.2884011268615723, 0.0], [-2.173912763595581, 0.0, -2.6086957454681396]],
            [[-0.8777428865432739, -2.0062694549560547, -0.705329179763794],
             [-1.0144927501678467, 0.0, -1.7391302585601807]],
            [[-0.9090908765792847, -0.407523512840271, -1.8808774948120117],
             [-1.4492753744125366, 0.0, -1.1014492511749268]],
            [[-0.9090908765792847, 0.0, -1.5151513814926147], [0.0, 0.0, 0.0]]]
    p = Parameter(PROBS)
    gm = GradManager().attach([p])
    with gm:
        gm.backward(F.nn.ctc_loss(p, Tensor([4, 3]), Tensor([1, 2, 2]), Tensor([2, 1]), reduction="sum"))
    np.testing.assert_allclose(p.grad.numpy(), want, rtol=2e-6, atol=1e-6)


# ---- the module layout MegEngine users import from ---------------------------------------------------------

# Printed by MegEngine 1.13: megengine.functional.elemwise.__all__, .math.__all__ and .loss.__all__.
MEGENGINE_ELEMWISE = ["abs", "acos", "acosh", "add", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "clip",
                      "cos", "cosh", "div", "equal", "exp", "expm1", "floor", "floor_div", "greater",
                      "greater_equal", "left_shift", "less", "less_equal", "log", "log1p", "logaddexp",
                      "logical_and", "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "mod", "mul",
                      "neg", "not_equal", "pow", "right_shift", "round", "sin", "sinh", "sqrt", "square", "sub",
                      "tan", "tanh"]
MEGENGINE_MATH = ["argmax", "argmin", "argsort", "dot", "isinf", "isnan", "matinv", "matmul", "max", "mean", "min",
                  "norm", "normalize", "prod", "sign", "sort", "std", "sum", "svd", "topk", "var"]
MEGENGINE_LOSS = ["binary_cross_entropy", "cross_entropy", "ctc_loss", "hinge_loss", "l1_loss", "square_loss"]


def test_megengine_submodules_and_their_names():
    assert set(F.elemwise.__all__) == set(MEGENGINE_ELEMWISE) - {"left_shift", "right_shift"}
    assert set(F.math.__all__) == set(MEGENGINE_MATH) - {"svd"}
    assert set(F.loss.__all__) == set(MEGENGINE_LOSS)
    for module in (F, F.nn, F.elemwise, F.math, F.loss):
        for name in module.__all__:
            assert callable(getattr(module, name)) or name in ("elemwise", "loss", "math", "nn"), name


def test_tab_completion_shows_the_api_not_the_internals():
    for module in (F, F.nn):
        names = dir(module)
        assert names == module.__all__
        assert not {"apply", "as_tensor", "user_location", "int32", "cast", "Tensor"} & set(names)


def test_new_ops_are_saved_in_plan_files_and_verified(tmp_path):
    import graphc

    @trace
    def f(x, probs):
        vals, idx = F.topk(x, 2)
        s, order = F.sort(x, descending=True)
        loss = F.nn.ctc_loss(probs, Tensor([4, 3]), Tensor([1, 2, 2]), Tensor([2, 1]), reduction="none")
        m = F.matinv(F.eye(2) + x[:, :2] * 0.1)
        return (vals + F.cumsum(s, 1)[:, :2] + F.hswish(x[:, :2]) + F.logaddexp(x, x)[:, :2],
                idx + order[:, :2], loss, m, F.copy(F.asinh(x)))
    x, probs = Tensor(X), Tensor(PROBS)
    want = [r.numpy() for r in f(x, probs)]
    f.dump(tmp_path / "f.gcplan", test_inputs=[x, probs])
    plan = graphc.load(tmp_path / "f.gcplan", verify=True)
    got = plan(x, probs)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-6)
    assert {"topk", "sort", "ctc_loss", "matinv", "cumsum", "hswish", "logaddexp", "copy", "asinh"} <= {
        n.op.name for n in plan.graph.nodes}
