"""Forward values of graphc.functional vs NumPy/math or MegEngine 1.13's recorded outputs."""
import math

import numpy as np
import pytest

import graphc.functional as F
from graphc import Tensor

D = "device=xpux:0"
rng = np.random.default_rng(0)
XA = rng.uniform(-2, 2, (3, 4)).astype(np.float32)
XB = rng.uniform(-2, 2, (3, 4)).astype(np.float32)
POS = rng.uniform(0.1, 3, (3, 4)).astype(np.float32)
UNIT = rng.uniform(-0.9, 0.9, (3, 4)).astype(np.float32)


def close(t: Tensor, expected, rtol=1e-6, atol=1e-6):
    expected = np.asarray(expected)
    assert isinstance(t, Tensor)
    assert t.shape == expected.shape
    np.testing.assert_allclose(t.numpy().astype(np.float64), expected.astype(np.float64),
                               rtol=rtol, atol=atol)


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _gelu(x):
    return np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))(_f64(x))


def _sigmoid(x):
    return 1 / (1 + np.exp(-_f64(x)))


# ---- elementwise ------------------------------------------------------------------------------------------

UNARY = [
    ("neg", XA, lambda x: -x), ("abs", XA, np.abs), ("exp", XA, np.exp), ("log", POS, np.log),
    ("log1p", POS, np.log1p), ("expm1", XA, np.expm1), ("sqrt", POS, np.sqrt), ("square", XA, np.square),
    ("sin", XA, np.sin), ("cos", XA, np.cos), ("tan", UNIT, np.tan), ("tanh", XA, np.tanh),
    ("sinh", XA, np.sinh), ("cosh", XA, np.cosh), ("asin", UNIT, np.arcsin), ("acos", UNIT, np.arccos),
    ("atan", XA, np.arctan), ("sigmoid", XA, _sigmoid), ("relu", XA, lambda x: np.maximum(x, 0)),
    ("gelu", XA, _gelu), ("silu", XA, lambda x: _f64(x) * _sigmoid(x)),
    ("softplus", XA, lambda x: np.log1p(np.exp(_f64(x)))), ("logsigmoid", XA, lambda x: np.log(_sigmoid(x))),
    ("sign", XA, np.sign), ("floor", XA * 3, np.floor), ("ceil", XA * 3, np.ceil),
]


@pytest.mark.parametrize("name, x, ref", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, x, ref):
    r = getattr(F, name)(Tensor(x))
    assert r.dtype == np.float32
    close(r, ref(_f64(x)), rtol=2e-6, atol=1e-6)


BINARY = [
    ("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("div", np.divide),
    ("maximum", np.maximum), ("minimum", np.minimum), ("atan2", np.arctan2),
    ("floor_div", lambda a, b: np.floor(a / b)), ("mod", np.fmod),  # float % is C's fmod, as MegEngine
]


@pytest.mark.parametrize("name, ref", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shape_b", [(3, 4), (4,), (3, 1), ()])
def test_binary_broadcasting(name, ref, shape_b):
    b = {(3, 4): XB, (4,): XB[0], (3, 1): XB[:, :1], (): XB[0, 0]}[shape_b]
    b = np.where(np.abs(b) < 0.2, 0.7, b).astype(np.float32)
    r = getattr(F, name)(Tensor(XA), Tensor(b))
    close(r, ref(_f64(XA), _f64(b)), rtol=2e-6, atol=2e-6)


def test_pow():
    close(F.pow(Tensor(POS), Tensor(XA)), _f64(POS) ** _f64(XA), rtol=2e-6)
    close(F.pow(Tensor(POS), 2), _f64(POS) ** 2, rtol=2e-6)
    # MegEngine 1.13
    assert repr(F.pow(Tensor([2, 3]), -1)) == f"Tensor([0.5    0.3333], {D})"
    assert repr(F.pow(Tensor([2, 3]), Tensor([-1, 2]))) == f"Tensor([0.5 9. ], {D})"
    assert repr(F.pow(Tensor([0.]), 0)) == f"Tensor([1.], {D})"
    with np.errstate(invalid="ignore"):
        assert np.isnan(F.pow(Tensor([-8.]), 1 / 3).item())


def test_integer_floor_div_and_mod():
    # MegEngine 1.13: integer // and % follow Python (floor); float % is fmod, float // is floor.
    a, b = [7, -7, 7, -7], [2, 2, -2, -2]
    assert F.floor_div(Tensor(a), Tensor(b)).tolist() == [x // y for x, y in zip(a, b, strict=True)]
    assert F.mod(Tensor(a), Tensor(b)).tolist() == [x % y for x, y in zip(a, b, strict=True)]
    assert F.floor_div(Tensor([7., -7., 7., -7.]), Tensor([2., 2., -2., -2.])).tolist() == [3., -4., -4., 3.]
    assert F.mod(Tensor([7., -7., 7., -7.]), Tensor([2., 2., -2., -2.])).tolist() == [1., -1., 1., -1.]
    assert (Tensor([5.5, -5.5]) % 2).tolist() == [1.5, -1.5]


def test_atan2_quadrants():
    assert F.atan2(Tensor([1.]), Tensor([0.])).item() == pytest.approx(math.pi / 2, rel=1e-6)
    assert F.atan2(Tensor([0.]), Tensor([-1.])).item() == pytest.approx(math.pi, rel=1e-6)
    assert F.atan2(Tensor([-1.]), Tensor([-1.])).item() == pytest.approx(-3 * math.pi / 4, rel=1e-6)


def test_activations_vs_megengine():
    # MegEngine 1.13 (printed with .numpy().tolist()).
    close(F.gelu(Tensor([-1., 0.5, 2.])), [-0.15865525603294373, 0.3457312285900116, 1.9544997215270996])
    close(F.softplus(Tensor([-1., 0., 2., 30.])),
          [0.3132616877555847, 0.6931471824645996, 2.1269280910491943, 30.])
    close(F.logsigmoid(Tensor([-1., 0., 2.])),
          [-1.3132617473602295, -0.6931471824645996, -0.12692800164222717])
    close(F.silu(Tensor([-1., 0.5, 2.])), [-0.2689414322376251, 0.3112296760082245, 1.7615940570831299])
    close(F.sigmoid(Tensor([-1., 0., 2.])), [0.2689414322376251, 0.5, 0.8807970285415649])
    assert repr(F.gelu(Tensor([-3., 3.]))) == f"Tensor([-0.004  2.996], {D})"
    assert repr(F.leaky_relu(Tensor([-1., 2.]))) == f"Tensor([-0.01  2.  ], {D})"
    close(F.leaky_relu(Tensor(XA), 0.2), np.where(XA > 0, XA, 0.2 * _f64(XA)))
    # Stable for large magnitudes.
    close(F.sigmoid(Tensor([-100., 100.])), [0., 1.])
    close(F.softplus(Tensor([-100., 100.])), [0., 100.])
    close(F.logsigmoid(Tensor([-100.])), [-100.])


def test_rounding_vs_megengine():
    # MegEngine 1.13: round is half away from zero; 0.49999997 (just below 0.5) rounds to 0.
    assert repr(F.round(Tensor([0.5, 1.5, 2.5, -0.5, -1.5, 0.49999997]))) == \
        f"Tensor([ 1.  2.  3. -1. -2.  0.], {D})"
    assert repr(F.round(Tensor([2.5], dtype="float16"))) == f"Tensor([3.], dtype=float16, {D})"
    assert repr(F.floor(Tensor([-0.5, 0.5]))) == f"Tensor([-1.  0.], {D})"
    assert repr(F.ceil(Tensor([-0.5, 0.5]))) == f"Tensor([-0.  1.], {D})"
    assert repr(F.sign(Tensor([-2., 0., 3., -0.0]))) == f"Tensor([-1.  0.  1.  0.], {D})"
    assert repr(F.sign(Tensor([float("nan")]))) == f"Tensor([0.], {D})"
    x = rng.uniform(-5, 5, 50).astype(np.float32)
    assert F.round(Tensor(x)).tolist() == (np.sign(x) * np.floor(np.abs(x) + 0.5)).tolist()


def test_clip():
    assert repr(F.clip(Tensor([-2., 0.5, 3.]), 0, 1)) == f"Tensor([0.  0.5 1. ], {D})"
    close(F.clip(Tensor(XA), -0.5, 0.75), np.clip(XA, -0.5, 0.75))
    close(F.clip(Tensor(XA), lower=0.1), np.maximum(XA, 0.1))
    close(F.clip(Tensor(XA), upper=0.1), np.minimum(XA, 0.1))
    # MegEngine 1.13: tensor bounds clip elementwise.
    assert repr(F.clip(Tensor([1, 5]), Tensor([2, 2]), Tensor([3, 3]))) == f"Tensor([2 3], dtype=int32, {D})"
    assert repr(F.clip(Tensor([1., 5.]), Tensor([2., 2.]), 3)) == f"Tensor([2. 3.], {D})"
    with pytest.raises(ValueError):
        F.clip(Tensor([1.]))


COMPARE = [("equal", np.equal), ("not_equal", np.not_equal), ("less", np.less), ("less_equal", np.less_equal),
           ("greater", np.greater), ("greater_equal", np.greater_equal)]


@pytest.mark.parametrize("name, ref", COMPARE, ids=[c[0] for c in COMPARE])
def test_comparisons(name, ref):
    a = np.array([[1, 2, 3], [3, 2, 1]], np.float32)
    b = np.array([2, 2, 2], np.float32)
    r = getattr(F, name)(Tensor(a), Tensor(b))
    assert r.dtype == np.bool_
    assert r.tolist() == ref(a, b).tolist()


def test_logical():
    p = np.array([True, True, False, False])
    q = np.array([True, False, True, False])
    assert F.logical_and(Tensor(p), Tensor(q)).tolist() == (p & q).tolist()
    assert F.logical_or(Tensor(p), Tensor(q)).tolist() == (p | q).tolist()
    assert F.logical_xor(Tensor(p), Tensor(q)).tolist() == (p ^ q).tolist()
    assert F.logical_not(Tensor(p)).tolist() == (~p).tolist()
    assert F.logical_and(Tensor(p), Tensor([True])).tolist() == p.tolist()


def test_isnan_isinf():
    x = Tensor([1., float("nan"), float("inf"), -float("inf")])
    assert repr(F.isnan(Tensor([1., float("nan")]))) == f"Tensor([False  True], dtype=bool, {D})"
    assert F.isnan(x).tolist() == [False, True, False, False]
    assert F.isinf(x).tolist() == [False, False, True, True]


def test_where():
    assert repr(F.where(Tensor([[True, False], [False, True]]), Tensor([[1., 2.], [3., 4.]]),
                        Tensor([[9., 9.], [9., 9.]]))) == f"Tensor([[1. 9.]\n [9. 4.]], {D})"
    # MegEngine 1.13: broadcasting of the branches.
    assert repr(F.where(Tensor([True, False]), Tensor([[1.], [2.]]), Tensor([3., 4]))) == \
        f"Tensor([[1. 4.]\n [2. 4.]], {D})"
    m = XA > 0
    close(F.where(Tensor(m), Tensor(XA), Tensor(XB)), np.where(m, XA, XB))


# ---- reductions --------------------------------------------------------------------------------------------

X3 = rng.uniform(-2, 2, (2, 3, 4)).astype(np.float32)
AXES = [None, 0, 1, -1, (0, 2), (0, 1, 2)]


@pytest.mark.parametrize("name, ref", [("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min),
                                       ("prod", np.prod), ("var", np.var), ("std", np.std)])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, ref, axis, keepdims):
    r = getattr(F, name)(Tensor(X3), axis=axis, keepdims=keepdims)
    close(r, ref(_f64(X3), axis=axis, keepdims=keepdims), rtol=1e-5, atol=1e-6)


def test_reductions_vs_megengine():
    x = Tensor([[1., 2.], [3., 5.]])
    assert repr(F.var(x)) == f"Tensor(2.1875, {D})"
    assert repr(F.var(x, axis=0)) == f"Tensor([1.   2.25], {D})"
    assert repr(F.std(x, axis=1)) == f"Tensor([0.5 1. ], {D})"
    assert repr(F.var(x, axis=1, keepdims=True)) == f"Tensor([[0.25]\n [1.  ]], {D})"
    assert F.std(x).item() == pytest.approx(1.47902, rel=1e-5)
    assert repr(F.prod(Tensor([[1., 2.], [3., 4.]]), axis=1)) == f"Tensor([ 2. 12.], {D})"
    assert repr(F.max(Tensor([[1., 5.], [3., 4.]]), axis=1, keepdims=True)) == f"Tensor([[5.]\n [4.]], {D})"
    assert repr(F.max(Tensor([[1., 5.], [7., 2.]]), axis=-1)) == f"Tensor([5. 7.], {D})"
    assert repr(F.min(Tensor([[1, 5], [7, 2]]), axis=1)) == f"Tensor([1 2], dtype=int32, {D})"
    assert repr(F.sum(Tensor([[1., 5.], [3., 4.]]), axis=[0, 1], keepdims=True)) == f"Tensor([[13.]], {D})"
    assert repr(F.mean(Tensor([[1., 5.], [3., 4.]]), axis=-1)) == f"Tensor([3.  3.5], {D})"
    assert repr(F.sum(Tensor([[1, 2], [3, 4]]), axis=())) == f"Tensor([[1 2]\n [3 4]], dtype=int32, {D})"
    assert F.var(Tensor([1, 2, 4])).item() == pytest.approx(1.5555556, rel=1e-6)


def test_norm():
    x = Tensor([[1., 2.], [3., 5.]])
    assert repr(F.norm(Tensor([3., 4.]))) == f"Tensor(5.0, {D})"
    assert repr(F.norm(x, axis=0)) == f"Tensor([3.1623 5.3852], {D})"
    assert repr(F.norm(x, ord=1, axis=1)) == f"Tensor([3. 8.], {D})"
    assert repr(F.norm(Tensor([3., -4.]), ord=float("inf"))) == f"Tensor(4.0, {D})"
    assert repr(F.norm(Tensor([[3., 4.], [6., 8.]]), axis=1, keepdims=True)) == \
        f"Tensor([[ 5.]\n [10.]], {D})"
    close(F.norm(Tensor(X3), ord=3, axis=1), np.sum(np.abs(_f64(X3)) ** 3, axis=1) ** (1 / 3), rtol=1e-5)
    close(F.norm(Tensor(X3), ord=-float("inf"), axis=2), np.min(np.abs(X3), axis=2))
    with pytest.raises(TypeError):
        F.norm(x)


def test_argmax_argmin():
    x = Tensor([[1., 2.], [3., 5.]])
    assert repr(F.argmax(x)) == f"Tensor(3, dtype=int32, {D})"
    assert repr(F.argmin(x)) == f"Tensor(0, dtype=int32, {D})"
    assert repr(F.argmax(x, axis=1)) == f"Tensor([1 1], dtype=int32, {D})"
    assert repr(F.argmin(x, axis=0)) == f"Tensor([0 0], dtype=int32, {D})"
    assert repr(F.argmax(x, axis=1, keepdims=True)) == f"Tensor([[1]\n [1]], dtype=int32, {D})"
    assert repr(F.argmin(Tensor([2, 1, 1]))) == f"Tensor(1, dtype=int32, {D})"   # first of ties
    for axis in (0, 1, 2, -1):
        assert F.argmax(Tensor(X3), axis=axis).tolist() == np.argmax(X3, axis=axis).tolist()
        assert F.argmin(Tensor(X3), axis=axis).tolist() == np.argmin(X3, axis=axis).tolist()


def test_logsumexp():
    x = Tensor([[1., 2.], [3., 5.]])
    assert repr(F.logsumexp(x, axis=1)) == f"Tensor([2.3133 5.1269], {D})"
    assert repr(F.logsumexp(x, axis=0, keepdims=True)) == f"Tensor([[3.1269 5.0486]], {D})"
    ref = np.log(np.sum(np.exp(_f64(X3)), axis=(0, 2)))
    close(F.logsumexp(Tensor(X3), axis=(0, 2)), ref, rtol=1e-6)
    close(F.logsumexp(Tensor([1000., 1000.]), axis=0), 1000 + math.log(2))   # stable
    with pytest.raises(TypeError):
        F.logsumexp(x)   # axis is required, as in MegEngine


# ---- shape -------------------------------------------------------------------------------------------------

def test_reshape_flatten_transpose():
    a = np.arange(24).reshape(2, 3, 4)
    t = Tensor(a)
    assert F.reshape(t, (4, -1)).tolist() == a.reshape(4, -1).tolist()
    assert F.flatten(t).shape == (24,)
    assert F.flatten(t, 1).shape == (2, 12)
    assert F.flatten(t, 0, 1).tolist() == a.reshape(6, 4).tolist()
    assert F.flatten(Tensor(3.)).shape == (1,)
    assert F.transpose(t, (2, 0, 1)).tolist() == a.transpose(2, 0, 1).tolist()


def test_broadcast_to():
    assert repr(F.broadcast_to(Tensor([1, 2]), (3, 2))) == \
        f"Tensor([[1 2]\n [1 2]\n [1 2]], dtype=int32, {D})"
    assert repr(F.broadcast_to(Tensor([[1], [2]]), (2, 3))) == \
        f"Tensor([[1 1 1]\n [2 2 2]], dtype=int32, {D})"
    assert F.broadcast_to(Tensor(XA[:1]), (2, 3, 4)).tolist() == np.broadcast_to(XA[:1], (2, 3, 4)).tolist()


def test_expand_dims_squeeze():
    assert F.expand_dims(Tensor([1, 2]), 0).shape == (1, 2)
    assert F.expand_dims(Tensor([1, 2]), [0, 2]).shape == (1, 2, 1)
    assert F.expand_dims(Tensor([1, 2]), -1).shape == (2, 1)
    assert F.expand_dims(Tensor([1, 2]), (0, -1)).shape == (1, 2, 1)
    assert repr(F.expand_dims(Tensor(1.), 0)) == f"Tensor([1.], {D})"
    z = Tensor(np.zeros((1, 2, 1)))
    assert F.squeeze(z).shape == (2,)
    assert F.squeeze(z, 0).shape == (2, 1)
    assert F.squeeze(z, (0, 2)).shape == (2,)


def test_concat_stack():
    assert repr(F.concat([Tensor([[1, 2]]), Tensor([[3, 4]])])) == \
        f"Tensor([[1 2]\n [3 4]], dtype=int32, {D})"
    assert repr(F.concat([Tensor([[1, 2]]), Tensor([[3, 4]])], axis=1)) == \
        f"Tensor([[1 2 3 4]], dtype=int32, {D})"
    assert F.concat([Tensor(XA), Tensor(XB), Tensor(XA[:1])]).tolist() == \
        np.concatenate([XA, XB, XA[:1]]).tolist()
    assert F.concat([Tensor(XA), Tensor(XB)], axis=-1).shape == (3, 8)
    assert repr(F.stack([Tensor([1, 2]), Tensor([3, 4])])) == f"Tensor([[1 2]\n [3 4]], dtype=int32, {D})"
    assert repr(F.stack([Tensor([1, 2]), Tensor([3, 4])], axis=1)) == \
        f"Tensor([[1 3]\n [2 4]], dtype=int32, {D})"
    assert F.stack([Tensor(XA), Tensor(XB)], axis=2).tolist() == np.stack([XA, XB], axis=2).tolist()
    # MegEngine stacks 0-d tensors into shape (2, 1) (a bug); graphc follows NumPy: (2,).
    assert F.stack([Tensor(1.), Tensor(2.)]).tolist() == [1., 2.]


def test_split():
    y = Tensor(np.arange(8).reshape(4, 2))
    parts = F.split(y, 2)
    assert isinstance(parts, tuple) and [p.tolist() for p in parts] == \
        [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
    assert [p.tolist() for p in F.split(y, [1, 3])] == [[[0, 1]], [[2, 3], [4, 5]], [[6, 7]]]
    assert [p.tolist() for p in F.split(y, 2, axis=1)] == [[[0], [2], [4], [6]], [[1], [3], [5], [7]]]
    # MegEngine 1.13: an integer count splits as np.array_split (the first parts one longer).
    assert [p.tolist() for p in F.split(Tensor(np.arange(5)), 2)] == [[0, 1, 2], [3, 4]]
    assert [p.tolist() for p in F.split(Tensor(np.arange(6)), 4)] == [[0, 1], [2, 3], [4], [5]]
    assert [p.tolist() for p in F.split(Tensor(np.arange(6)), [2])] == [[0, 1], [2, 3, 4, 5]]
    for n in (1, 3, 7):
        got = [p.tolist() for p in F.split(Tensor(np.arange(10)), n)]
        assert got == [a.tolist() for a in np.array_split(np.arange(10), n)]
    with pytest.raises(ValueError):
        F.split(Tensor(np.arange(6)), 7)


def test_gather():
    inp = Tensor([[1, 2], [3, 4], [5, 6]])
    assert repr(F.gather(inp, 1, Tensor([[0, 0], [1, 0], [1, 1]]))) == \
        f"Tensor([[1 1]\n [4 3]\n [6 6]], dtype=int32, {D})"
    assert repr(F.gather(inp, 0, Tensor([[0, 2], [1, 0]]))) == f"Tensor([[1 6]\n [3 2]], dtype=int32, {D})"
    idx = rng.integers(0, 3, (2, 3, 4))
    assert F.gather(Tensor(X3), 1, Tensor(idx)).tolist() == np.take_along_axis(X3, idx, 1).tolist()


def test_scatter():
    r = F.scatter(Tensor(np.zeros((3, 3), dtype="float32")), 1, Tensor([[0, 1], [2, 0], [1, 1]]),
                  Tensor([[1., 2.], [3., 4.], [5., 6.]]))
    assert repr(r) == f"Tensor([[1. 2. 0.]\n [4. 0. 3.]\n [0. 6. 0.]], {D})"
    # Duplicate indices: the last write wins (recorded from MegEngine 1.13).
    r = F.scatter(Tensor(np.zeros((3,), dtype="float32")), 0, Tensor([0, 0, 1]), Tensor([1., 2., 3.]))
    assert repr(r) == f"Tensor([2. 3. 0.], {D})"
    base = np.zeros((3, 4), np.float32)
    idx = np.array([[2, 0, 1, 0], [1, 2, 0, 2]])
    src = rng.uniform(size=(2, 4)).astype(np.float32)
    expected = base.copy()
    np.put_along_axis(expected, idx, src, 0)
    assert F.scatter(Tensor(base), 0, Tensor(idx), Tensor(src)).tolist() == expected.tolist()


def test_repeat_tile_roll():
    m = Tensor([[1, 2], [3, 4]])
    assert repr(F.repeat(m, 2, axis=1)) == f"Tensor([[1 1 2 2]\n [3 3 4 4]], dtype=int32, {D})"
    assert F.repeat(m, 2, axis=0).tolist() == [[1, 2], [1, 2], [3, 4], [3, 4]]
    assert repr(F.repeat(m, 2)) == f"Tensor([1 1 2 2 3 3 4 4], dtype=int32, {D})"
    assert repr(F.repeat(Tensor(2.), 3)) == f"Tensor([2. 2. 2.], {D})"
    assert F.tile(m, (2, 1)).tolist() == [[1, 2], [3, 4], [1, 2], [3, 4]]
    assert repr(F.tile(Tensor([1, 2]), (2,))) == f"Tensor([1 2 1 2], dtype=int32, {D})"
    assert F.tile(Tensor(X3), (1, 2, 3)).tolist() == np.tile(X3, (1, 2, 3)).tolist()
    r = Tensor([[1, 2, 3], [4, 5, 6]])
    assert F.roll(r, 1).tolist() == [[6, 1, 2], [3, 4, 5]]
    assert F.roll(r, 1, axis=1).tolist() == [[3, 1, 2], [6, 4, 5]]
    assert F.roll(r, -1, axis=0).tolist() == [[4, 5, 6], [1, 2, 3]]
    assert F.roll(r, (1, 1), axis=(0, 1)).tolist() == [[6, 4, 5], [3, 1, 2]]
    assert repr(F.roll(Tensor([1, 2, 3]), 5)) == f"Tensor([2 3 1], dtype=int32, {D})"


def test_pad():
    m = Tensor([[1., 2.], [3., 4.]])
    assert repr(F.nn.pad(m, ((1, 0), (0, 2)))) == \
        f"Tensor([[0. 0. 0. 0.]\n [1. 2. 0. 0.]\n [3. 4. 0. 0.]], {D})"
    assert repr(F.nn.pad(m, ((1, 1), (0, 0)), constant_value=9)) == \
        f"Tensor([[9. 9.]\n [1. 2.]\n [3. 4.]\n [9. 9.]], {D})"
    assert F.pad(Tensor(X3), ((0, 1), (2, 0), (1, 1))).tolist() == \
        np.pad(X3, ((0, 1), (2, 0), (1, 1))).tolist()


# ---- creation ----------------------------------------------------------------------------------------------

def test_creation():
    assert repr(F.zeros((2,))) == f"Tensor([0. 0.], {D})"
    assert repr(F.ones((2,))) == f"Tensor([1. 1.], {D})"
    assert repr(F.zeros(3)) == f"Tensor([0. 0. 0.], {D})"
    assert repr(F.ones([2, 1])) == f"Tensor([[1.]\n [1.]], {D})"
    assert repr(F.zeros((2,), dtype="int32")) == f"Tensor([0 0], dtype=int32, {D})"
    assert F.full((2, 3), 1.5).tolist() == np.full((2, 3), 1.5).tolist()
    assert F.full((2,), 7, dtype="float16").dtype == np.float16
    assert repr(F.ones_like(Tensor([1., 2]))) == f"Tensor([1. 1.], {D})"
    assert F.zeros_like(Tensor(X3)).shape == (2, 3, 4)
    assert F.full_like(Tensor(XA), -2.).tolist() == np.full((3, 4), -2.).tolist()
    assert repr(F.arange(0, 1, 0.25)) == f"Tensor([0.   0.25 0.5  0.75], {D})"
    assert repr(F.arange(1, 4)) == f"Tensor([1. 2. 3.], {D})"
    assert repr(F.arange(5.)) == f"Tensor([0. 1. 2. 3. 4.], {D})"
    assert repr(F.arange(5, 0, -2)) == f"Tensor([5. 3. 1.], {D})"
    assert repr(F.arange(0, 1, 0.3)) == f"Tensor([0.  0.3 0.6 0.9], {D})"
    assert repr(F.linspace(0, 1, 5)) == f"Tensor([0.   0.25 0.5  0.75 1.  ], {D})"
    assert repr(F.linspace(1, 0, 3)) == f"Tensor([1.  0.5 0. ], {D})"
    assert repr(F.eye(3)) == f"Tensor([[1. 0. 0.]\n [0. 1. 0.]\n [0. 0. 1.]], {D})"
    assert repr(F.eye(2, 3)) == f"Tensor([[1. 0. 0.]\n [0. 1. 0.]], {D})"
    assert repr(F.eye(2, dtype="int32")) == f"Tensor([[1 0]\n [0 1]], dtype=int32, {D})"
    assert str(F.zeros((2,), device="cpu0").device) == "cpu0:0"


# ---- linear algebra ----------------------------------------------------------------------------------------

def test_matmul():
    A = Tensor([[1., 2., 3.], [4., 5., 6.]])
    assert repr(F.matmul(Tensor([1., 1.]), A)) == f"Tensor([5. 7. 9.], {D})"
    assert repr(F.matmul(A, Tensor([1., 1., 1.]))) == f"Tensor([ 6. 15.], {D})"
    assert repr(F.matmul(A, A, transpose_b=True)) == f"Tensor([[14. 32.]\n [32. 77.]], {D})"
    assert repr(F.matmul(A, A, transpose_a=True)) == \
        f"Tensor([[17. 22. 27.]\n [22. 29. 36.]\n [27. 36. 45.]], {D})"
    assert repr(F.matmul(Tensor([1., 2.]), Tensor([3., 4.]))) == f"Tensor(11.0, {D})"
    a = rng.standard_normal((2, 4, 2, 3)).astype(np.float32)
    b = rng.standard_normal((4, 3, 5)).astype(np.float32)
    close(F.matmul(Tensor(a), Tensor(b)), _f64(a) @ _f64(b), rtol=1e-5, atol=1e-5)
    close(F.matmul(Tensor(b), Tensor(a[0]), transpose_a=True, transpose_b=True),
          np.swapaxes(_f64(b), -1, -2) @ np.swapaxes(_f64(a[0]), -1, -2), rtol=1e-5, atol=1e-5)
    assert F.matmul(Tensor(np.ones((4, 2, 3), "float32")), Tensor(np.ones((3, 5), "float32"))).shape == \
        (4, 2, 5)


def test_dot_and_linear():
    assert repr(F.dot(Tensor([1., 2.]), Tensor([3., 4.]))) == f"Tensor(11.0, {D})"
    r = F.linear(Tensor([[1., 2., 3.]]), Tensor([[1., 0., 0.], [0., 1., 1.]]), Tensor([10., 20.]))
    assert repr(r) == f"Tensor([[11. 25.]], {D})"
    x = rng.standard_normal((5, 3)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    close(F.linear(Tensor(x), Tensor(w)), _f64(x) @ _f64(w).T, rtol=1e-5, atol=1e-5)


# ---- nn ----------------------------------------------------------------------------------------------------

def _softmax(x, axis):
    e = np.exp(_f64(x) - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_logsoftmax():
    assert repr(F.softmax(Tensor([[1., 2., 3.], [1., 1., 1.]]))) == \
        f"Tensor([[0.09   0.2447 0.6652]\n [0.3333 0.3333 0.3333]], {D})"
    assert repr(F.softmax(Tensor([1., 2., 3.]))) == f"Tensor([0.09   0.2447 0.6652], {D})"
    assert repr(F.logsoftmax(Tensor([[1., 2., 3.]]), axis=1)) == f"Tensor([[-2.4076 -1.4076 -0.4076]], {D})"
    assert repr(F.logsoftmax(Tensor([1., 2., 3.]), axis=0)) == f"Tensor([-2.4076 -1.4076 -0.4076], {D})"
    for axis in (0, 1, 2):
        close(F.softmax(Tensor(X3), axis=axis), _softmax(X3, axis))
        close(F.logsoftmax(Tensor(X3), axis=axis), np.log(_softmax(X3, axis)), rtol=1e-5)
    close(F.softmax(Tensor([1000., 0.]), axis=0), [1., 0.])


def test_softmax_default_axis():
    # MegEngine 1.13: the default axis is 0 for ndim 0, 1, 3 and 1 otherwise.
    t3 = np.arange(8, dtype="float32").reshape(2, 2, 2)
    close(F.softmax(Tensor(t3)), _softmax(t3, 0))
    t4 = t3.reshape(1, 2, 2, 2)
    close(F.softmax(Tensor(t4)), _softmax(t4, 1))
    t2 = np.arange(6, dtype="float32").reshape(3, 2)
    assert repr(F.softmax(Tensor(t2))) == \
        f"Tensor([[0.2689 0.7311]\n [0.2689 0.7311]\n [0.2689 0.7311]], {D})"


def test_one_hot_and_embedding():
    assert F.one_hot(Tensor([[0, 1]]), 2).shape == (1, 2, 2)
    labels = rng.integers(0, 5, (2, 3))
    assert F.one_hot(Tensor(labels), 5).tolist() == np.eye(5, dtype=np.int32)[labels].tolist()
    r = F.embedding(Tensor([[0, 2]]), Tensor([[1., 1.], [2., 2.], [3., 3.]]))
    assert repr(r) == f"Tensor([[[1. 1.]\n  [3. 3.]]], {D})"
    w = rng.standard_normal((6, 3)).astype(np.float32)
    idx = np.array([5, 0, 0, 3])
    assert F.nn.embedding(Tensor(idx), Tensor(w)).tolist() == w[idx].tolist()


def test_dropout():
    x = Tensor(np.ones(20000, "float32"))
    assert F.nn.dropout(x, 0.5, training=False).tolist() == x.tolist()
    assert F.dropout(x, 0.0).tolist() == x.tolist()
    a = F.nn.dropout(x, 0.3).numpy()
    kept = a != 0
    # Kept elements are scaled by 1 / (1 - p); about p of them are dropped (binomial: sd ~ 0.0032).
    np.testing.assert_allclose(a[kept], 1 / 0.7, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.3) < 0.02
    b = F.nn.dropout(x, 0.3).numpy()
    assert (a != b).any()   # a fresh mask each call


def test_square_and_l1_loss():
    pred, lab = Tensor([1., 2., 3.]), Tensor([0., 2., 5.])
    assert F.nn.square_loss(pred, lab).item() == pytest.approx(5 / 3, rel=1e-6)
    assert repr(F.nn.l1_loss(pred, lab)) == f"Tensor(1.0, {D})"
    assert repr(F.nn.square_loss(pred, lab, reduction="sum")) == f"Tensor(5.0, {D})"
    assert repr(F.nn.square_loss(pred, lab, reduction="none")) == f"Tensor([1. 0. 4.], {D})"
    assert repr(F.nn.l1_loss(pred, lab, reduction="none")) == f"Tensor([1. 0. 2.], {D})"
    assert repr(F.nn.square_loss(Tensor([[1., 2.], [3., 4.]]), Tensor([[0., 0.], [0., 0.]]))) == \
        f"Tensor(7.5, {D})"
    close(F.nn.l1_loss(Tensor(XA), Tensor(XB)), np.mean(np.abs(_f64(XA) - _f64(XB))))


def test_cross_entropy():
    logits = Tensor([[1., 2., 3.], [1., 0., -1.]])
    labels = Tensor([2, 0])
    # MegEngine 1.13.
    assert F.nn.cross_entropy(logits, labels).item() == pytest.approx(0.4076059, rel=1e-6)
    assert F.nn.cross_entropy(logits, labels, label_smooth=0.1).item() == pytest.approx(0.50760597, rel=1e-6)
    assert F.nn.cross_entropy(F.softmax(logits, axis=1), labels, with_logits=False).item() == \
        pytest.approx(0.40760598, rel=1e-6)
    close(F.nn.cross_entropy(logits, labels, reduction="none"), [0.4076059, 0.4076059])
    assert F.nn.cross_entropy(logits, labels, reduction="sum").item() == pytest.approx(0.8152118, rel=1e-6)
    assert F.nn.cross_entropy(logits.T, labels, axis=0).item() == pytest.approx(0.4076059, rel=1e-6)
    assert F.nn.cross_entropy(Tensor([[1., 2., 3.]]), Tensor([2.])).item() == \
        pytest.approx(0.4076059, rel=1e-6)
    # Against NumPy on random data, label smoothing included: (1-ls)*nll + ls*mean(-logsoftmax).
    lg = rng.standard_normal((5, 4)).astype(np.float32)
    lab = rng.integers(0, 4, 5)
    logp = np.log(_softmax(lg, 1))
    nll = -logp[np.arange(5), lab]
    assert F.nn.cross_entropy(Tensor(lg), Tensor(lab)).item() == pytest.approx(nll.mean(), rel=1e-5)
    smooth = 0.9 * nll + 0.1 * (-logp.mean(axis=1))
    assert F.nn.cross_entropy(Tensor(lg), Tensor(lab), label_smooth=0.1).item() == \
        pytest.approx(smooth.mean(), rel=1e-5)


def test_binary_cross_entropy_and_hinge():
    assert F.nn.binary_cross_entropy(Tensor([0., 2.]), Tensor([0., 1.])).item() == \
        pytest.approx(0.41003758, rel=1e-6)
    assert F.nn.binary_cross_entropy(Tensor([0., 2.]), Tensor([0, 1])).item() == \
        pytest.approx(0.41003758, rel=1e-6)
    assert F.nn.binary_cross_entropy(Tensor([0.5, 0.9]), Tensor([0., 1.]), with_logits=False).item() == \
        pytest.approx(0.39925388, rel=1e-6)
    pred, lab = Tensor([[0.5, -2.], [1.5, 0.2]]), Tensor([[1., -1.], [-1., 1.]])
    assert F.nn.hinge_loss(pred, lab).item() == pytest.approx(1.9, rel=1e-6)
    assert F.nn.hinge_loss(pred, lab, norm="L2").item() == pytest.approx(3.57, rel=1e-6)
    p = rng.standard_normal((4, 3)).astype(np.float32)
    y = rng.integers(0, 2, (4, 3)).astype(np.float32)
    ref = -(y * np.log(_sigmoid(p)) + (1 - y) * np.log(1 - _sigmoid(p))).mean()
    assert F.nn.binary_cross_entropy(Tensor(p), Tensor(y)).item() == pytest.approx(ref, rel=1e-5)
