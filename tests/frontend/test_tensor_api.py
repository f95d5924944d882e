"""The Tensor API against MegEngine 1.13 (expected strings are what MegEngine 1.13 printed)."""
import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager

D = "device=xpux:0"


# ---- construction and default dtypes -----------------------------------------------------------------------

@pytest.mark.parametrize("data, dtype", [
    (2, np.int32), (3.0, np.float32), (True, np.bool_), ([1, 2], np.int32), ([1.5, 2], np.float32),
    ([True, False], np.bool_), ([], np.float32),
    (np.array([1., 2.]), np.float32),                   # float64 NumPy input -> float32
    (np.array([1, 2], dtype=np.int64), np.int32),       # int64 -> int32
    (np.array([1, 2], dtype=np.uint8), np.uint8),
    (np.array([1, 2], dtype=np.int16), np.int16),
    (np.array([1, 2], dtype=np.float16), np.float16),
    (np.array([True]), np.bool_),
    (np.float32(2.5), np.float32),
])
def test_default_dtype(data, dtype):
    t = Tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(data).astype(dtype))


@pytest.mark.parametrize("dtype", ["float16", "float32", "int8", "int16", "int32", "uint8", "bool",
                                   np.float16, np.int8, np.dtype("uint8")])
def test_explicit_dtype(dtype):
    t = Tensor([1, 0, 1], dtype=dtype)
    assert t.dtype == np.dtype(dtype)
    assert t.numpy().dtype == np.dtype(dtype)
    assert t.tolist() == np.array([1, 0, 1]).astype(dtype).tolist()


def test_explicit_dtype_converts_values():
    # MegEngine 1.13: float -> int truncates toward zero.
    assert repr(Tensor(1.5, dtype="int32")) == f"Tensor(1, dtype=int32, {D})"
    assert repr(Tensor([1.7, -1.7], dtype="int32")) == f"Tensor([ 1 -1], dtype=int32, {D})"
    assert repr(Tensor([1, 0], dtype="bool")) == f"Tensor([ True False], dtype=bool, {D})"


def test_from_tensor_and_empty():
    t = Tensor(Tensor([1, 2]))
    assert repr(t) == f"Tensor([1 2], dtype=int32, {D})"
    assert repr(Tensor(np.float32(2.5))) == f"Tensor(2.5, {D})"
    assert repr(Tensor([])) == f"Tensor([], {D})"
    assert Tensor([[]]).shape == (1, 0)
    assert Tensor(Tensor([1, 2]), dtype="int32").dtype == np.int32
    # As MegEngine 1.13 (in a reference venv, Tensor(x.astype(np.int32), dtype=np.float32) raises RuntimeError
    # "assertion `dtype == m_tensor->dtype()' failed"): a Tensor keeps its dtype; astype converts.
    with pytest.raises(RuntimeError, match="astype"):
        Tensor(Tensor([1, 2]), dtype="float32")


def test_construction_copies_numpy_input():
    a = np.array([1., 2.], dtype=np.float32)
    t = Tensor(a)
    a[0] = 100.
    assert t.tolist() == [1., 2.]


# ---- properties and conversions ----------------------------------------------------------------------------

def test_properties():
    t = Tensor([1, 2, 3])
    assert t.shape == (3,) and type(t.shape) is tuple
    assert Tensor(1.).shape == ()
    assert t.ndim == 1 and Tensor(5.).ndim == 0
    assert t.dtype == np.dtype("int32") and str(t.dtype) == "int32"
    assert Tensor([1.]).dtype == np.float32 and Tensor([1.]).dtype == "float32"
    assert t.size == 3 and type(t.size) is int
    assert Tensor(np.zeros((2, 3))).size == 6
    # MegEngine returns the float 1.0 for a 0-d tensor's size (np.prod(()) -- a bug); graphc: int 1.
    assert Tensor(5.).size == 1 and type(Tensor(5.).size) is int
    assert str(t.device) == "xpux:0"
    assert t.grad is None


def test_item():
    assert Tensor(2).item() == 2 and type(Tensor(2).item()) is int
    assert Tensor(2.5).item() == 2.5 and type(Tensor(2.5).item()) is float
    assert Tensor(True).item() is True
    assert Tensor([7]).item() == 7
    assert Tensor([[7.5]]).item() == 7.5
    with pytest.raises(ValueError):
        Tensor([1, 2]).item()


def test_numpy_and_tolist():
    assert Tensor([1, 2]).numpy().dtype == np.int32
    assert Tensor([1., 2]).numpy().dtype == np.float32
    a = Tensor(1.).numpy()
    assert type(a) is np.ndarray and a.shape == () and a.dtype == np.float32
    assert Tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert Tensor([1.5, 2]).tolist() == [1.5, 2.0]
    assert Tensor(3.).tolist() == 3.0
    assert Tensor([True]).tolist() == [True]


def test_numpy_is_a_snapshot():
    y = Tensor([1., 2.])
    ynp = y.numpy()
    y[0] = 100.
    assert ynp.tolist() == [1., 2.]
    assert y.tolist() == [100., 2.]


def test_astype():
    assert repr(Tensor([1, 2]).astype("float32")) == f"Tensor([1. 2.], {D})"
    assert repr(Tensor([1.9, -1.9]).astype("int32")) == f"Tensor([ 1 -1], dtype=int32, {D})"
    assert repr(Tensor([1, 2]).astype(np.float16)) == f"Tensor([1. 2.], dtype=float16, {D})"
    assert repr(Tensor([1, 2]).astype("bool")) == f"Tensor([ True  True], dtype=bool, {D})"
    assert repr(Tensor([0.5, 0.]).astype(bool)) == f"Tensor([ True False], dtype=bool, {D})"
    assert repr(Tensor([300, -1]).astype("uint8")) == f"Tensor([ 44 255], dtype=uint8, {D})"
    assert repr(Tensor([300, -1]).astype("int8")) == f"Tensor([44 -1], dtype=int8, {D})"
    t = Tensor([1, 2])
    t.astype("float32")
    assert t.dtype == np.int32  # not in place


def test_conversions_to_python():
    assert int(Tensor(2.7)) == 2
    assert float(Tensor(2)) == 2.0 and type(float(Tensor(2))) is float
    assert int(Tensor([3])) == 3
    assert [10, 20, 30][Tensor(1)] == 20  # __index__
    assert f"{Tensor(2.5)}" == f"Tensor(2.5, {D})"
    assert repr(round(Tensor(2.5))) == f"Tensor(3.0, {D})"   # half away from zero, as MegEngine
    assert repr(abs(Tensor([-1.5]))) == f"Tensor([1.5], {D})"


def test_array_protocol():
    t = Tensor([[1., 2.], [3., 4.]])
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.tolist() == [[1., 2.], [3., 4.]]
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert np.sum(np.array(t)) == 10.


def test_len_and_bool():
    assert len(Tensor([[1, 2], [3, 4], [5, 6]])) == 3
    with pytest.raises(TypeError):
        len(Tensor(3.))
    assert bool(Tensor([1])) is True
    assert bool(Tensor([0])) is False
    assert bool(Tensor(2.)) is True
    assert bool(Tensor([[0.]])) is False
    with pytest.raises(ValueError):
        bool(Tensor([1, 2]))


def test_hash_and_identity():
    # Tensors hash by identity (== is elementwise), so equal-valued tensors are distinct keys.
    a, b = Tensor([1]), Tensor([1])
    d = {a: "a", b: "b"}
    assert len(d) == 2 and d[a] == "a" and d[b] == "b"


# ---- shape methods -----------------------------------------------------------------------------------------

def test_reshape_forms():
    xr = Tensor(np.arange(6))
    expect = np.arange(6).reshape(3, 2).tolist()
    assert xr.reshape(-1, 2).tolist() == expect
    assert xr.reshape(3, 2).tolist() == expect
    assert xr.reshape((3, 2)).tolist() == expect
    assert xr.reshape([2, -1]).tolist() == np.arange(6).reshape(2, 3).tolist()
    assert Tensor([1., 2.]).reshape(2, 1).shape == (2, 1)
    assert xr.shape == (6,)


def test_flatten_transpose_T():
    m = Tensor([[1, 2, 3], [4, 5, 6]])
    assert repr(m.flatten()) == f"Tensor([1 2 3 4 5 6], dtype=int32, {D})"
    assert repr(m.transpose()) == f"Tensor([[1 4]\n [2 5]\n [3 6]], dtype=int32, {D})"
    assert m.T.tolist() == [[1, 4], [2, 5], [3, 6]]
    z = Tensor(np.arange(24).reshape(2, 3, 4))
    assert z.T.shape == (4, 3, 2) and z.transpose().shape == (4, 3, 2)
    assert z.transpose(2, 0, 1).shape == (4, 2, 3)
    np.testing.assert_array_equal(z.transpose((2, 0, 1)).numpy(),
                                  np.arange(24).reshape(2, 3, 4).transpose(2, 0, 1))
    assert z.flatten().shape == (24,)


def test_reduction_methods():
    t = Tensor([[1., 2.], [3., 4.]])
    assert repr(t.sum(axis=1)) == f"Tensor([3. 7.], {D})"
    assert repr(t.mean(1, keepdims=True)) == f"Tensor([[1.5]\n [3.5]], {D})"
    assert repr(t.max()) == f"Tensor(4.0, {D})"
    assert repr(t.min(axis=0)) == f"Tensor([1. 2.], {D})"
    assert repr(t.prod()) == f"Tensor(24.0, {D})"
    i = Tensor([[1, 2], [3, 4]])
    # MegEngine 1.13: mean of ints is float32, sum/prod/max/min keep int32.
    assert [repr(r) for r in (i.mean(), i.sum(), i.prod(), i.max(), i.min())] == [
        f"Tensor(2.5, {D})", f"Tensor(10, dtype=int32, {D})", f"Tensor(24, dtype=int32, {D})",
        f"Tensor(4, dtype=int32, {D})", f"Tensor(1, dtype=int32, {D})"]


# ---- devices -----------------------------------------------------------------------------------------------

def test_to_device_and_device_argument():
    t = Tensor([1, 2]).to("cpu0")
    assert repr(t) == "Tensor([1 2], dtype=int32, device=cpu0:0)"
    assert str(t.device) == "cpu0:0"
    assert repr(Tensor([1, 2], device="cpu0")) == "Tensor([1 2], dtype=int32, device=cpu0:0)"
    assert repr(Tensor([1], device="cpu1")) == "Tensor([1], dtype=int32, device=cpu1:0)"
    assert str(Tensor([1], device="cpux").device) == "cpux:0"
    assert Tensor([1, 2]).device == Tensor([3]).device
    assert Tensor([1, 2]).device != Tensor([1, 2], device="cpu0").device
    # An op's result lives where its operands live.
    assert str((t + 1).device) == "cpu0:0"


def test_default_device():
    assert graphc.get_default_device() == "xpux"
    assert isinstance(graphc.is_cuda_available(), bool)
    try:
        graphc.set_default_device("cpu0")
        assert graphc.get_default_device() == "cpu0"
        assert repr(Tensor([1, 2])) == "Tensor([1 2], dtype=int32, device=cpu0:0)"
        assert str(Tensor([1, 2]).device) == "cpu0:0"
    finally:
        graphc.set_default_device("xpux")
    assert graphc.get_default_device() == "xpux"
    assert str(Tensor([1]).device) == "xpux:0"


def test_gpu_device_names():
    if graphc.is_cuda_available():
        t = Tensor([1., 2.], device="gpu0")
        assert str(t.device) == "gpu0:0" and repr(t) == "Tensor([1. 2.], device=gpu0:0)"
        assert t.to("cpu0").tolist() == [1., 2.] and str(t.to("cpu0").device) == "cpu0:0"
        assert str(Tensor([1], device="gpux").device) == "gpux:0"
    else:
        # No CUDA device: naming one is an error, as in MegEngine ("request gpu0 out of valid range").
        with pytest.raises(graphc.DeviceError):
            Tensor([1], device="gpu0")
        with pytest.raises(graphc.DeviceError):
            Tensor([1]).to("gpux")


# ---- detach / Parameter ------------------------------------------------------------------------------------

def test_detach():
    assert repr(Tensor([1.]).detach()) == f"Tensor([1.], {D})"
    d = Parameter([1.]).detach()
    assert type(d) is Tensor and repr(d) == f"Tensor([1.], {D})"
    # MegEngine 1.13: grad of x.detach() * x at 3 is 3 (the detached factor is a constant).
    x = Parameter([3.])
    gm = GradManager().attach([x])
    with gm:
        gm.backward(F.sum(x.detach() * x))
    assert x.grad.tolist() == [3.]


def test_parameter_is_a_tensor():
    p = Parameter([1.])
    assert isinstance(p, Tensor)
    assert type(p + 1) is Tensor
    assert type(Parameter([1.]) * Parameter([2.])) is Tensor
    assert repr(Parameter([1, 2])) == f"Parameter([1 2], dtype=int32, {D})"
    assert repr(Parameter([[1., 2.], [3., 4.]])) == f"Parameter([[1. 2.]\n [3. 4.]], {D})"


# ---- reprs (recorded from MegEngine 1.13) ------------------------------------------------------------------

@pytest.mark.parametrize("make, expected", [
    (lambda: Tensor(3.), f"Tensor(3.0, {D})"),
    (lambda: Tensor(2), f"Tensor(2, dtype=int32, {D})"),
    (lambda: Tensor(True), f"Tensor(True, dtype=bool, {D})"),
    (lambda: Tensor([1.5, -2.25]), f"Tensor([ 1.5  -2.25], {D})"),
    (lambda: Tensor([0.1, 1 / 3, 100.0, 1e-8]),
     f"Tensor([1.0000e-01 3.3333e-01 1.0000e+02 1.0000e-08], {D})"),
    (lambda: Tensor([1e10, 1.0]), f"Tensor([1.e+10 1.e+00], {D})"),
    (lambda: Parameter(3.0), f"Parameter(3.0, {D})"),
    (lambda: Tensor([1, 2], dtype="float16"), f"Tensor([1. 2.], dtype=float16, {D})"),
    (lambda: Tensor([1.5, 2], dtype=np.float16), f"Tensor([1.5 2. ], dtype=float16, {D})"),
    (lambda: Tensor([1, -2], dtype="int8"), f"Tensor([ 1 -2], dtype=int8, {D})"),
    (lambda: Tensor([1, 2], dtype="uint8"), f"Tensor([1 2], dtype=uint8, {D})"),
    (lambda: Tensor([1, 2], dtype="int16"), f"Tensor([1 2], dtype=int16, {D})"),
    (lambda: Tensor([True, False]), f"Tensor([ True False], dtype=bool, {D})"),
    (lambda: Tensor(np.arange(2000, dtype="float32")),
     f"Tensor([0.000e+00 1.000e+00 2.000e+00 ... 1.997e+03 1.998e+03 1.999e+03], {D})"),
    (lambda: Tensor(np.arange(2000, dtype="int32")),
     f"Tensor([   0    1    2 ... 1997 1998 1999], dtype=int32, {D})"),
    (lambda: Tensor(np.arange(1001, dtype="float32")),
     f"Tensor([   0.    1.    2. ...  998.  999. 1000.], {D})"),
    (lambda: Tensor(np.arange(3000).reshape(3, 1000)),
     "Tensor([[   0    1    2 ...  997  998  999]\n [1000 1001 1002 ... 1997 1998 1999]\n"
     f" [2000 2001 2002 ... 2997 2998 2999]], dtype=int32, {D})"),
    (lambda: Tensor(np.arange(20).reshape(4, 5) / 3),
     "Tensor([[0.     0.3333 0.6667 1.     1.3333]\n [1.6667 2.     2.3333 2.6667 3.    ]\n"
     f" [3.3333 3.6667 4.     4.3333 4.6667]\n [5.     5.3333 5.6667 6.     6.3333]], {D})"),
    (lambda: Tensor([float("nan"), float("inf"), -float("inf"), -0.0]),
     f"Tensor([ nan  inf -inf  -0.], {D})"),
    (lambda: Tensor([1]), f"Tensor([1], dtype=int32, {D})"),
    (lambda: Tensor([[1]]), f"Tensor([[1]], dtype=int32, {D})"),
    (lambda: Tensor([123456789, 2]), f"Tensor([123456789         2], dtype=int32, {D})"),
    (lambda: Tensor([1e-5, 1.0]), f"Tensor([1.e-05 1.e+00], {D})"),
    (lambda: Tensor([0.5, 100.25]), f"Tensor([  0.5  100.25], {D})"),
    (lambda: Tensor(np.arange(6, dtype="float16").reshape(2, 3)),
     f"Tensor([[0. 1. 2.]\n [3. 4. 5.]], dtype=float16, {D})"),
    (lambda: Tensor(np.zeros((0, 3))), f"Tensor([], {D})"),
    (lambda: Tensor(np.arange(24).reshape(2, 3, 4)),
     "Tensor([[[ 0  1  2  3]\n  [ 4  5  6  7]\n  [ 8  9 10 11]]\n\n [[12 13 14 15]\n  [16 17 18 19]\n"
     f"  [20 21 22 23]]], dtype=int32, {D})"),
    (lambda: Tensor(np.arange(8, dtype="float32").reshape(2, 2, 2)),
     f"Tensor([[[0. 1.]\n  [2. 3.]]\n\n [[4. 5.]\n  [6. 7.]]], {D})"),
])
def test_repr(make, expected):
    t = make()
    assert repr(t) == expected
    assert str(t) == expected


def test_repr_not_summarized_at_1000():
    r = repr(Tensor(np.arange(1000, dtype="float32")))
    assert r.startswith("Tensor([  0.   1.   2.   3.   4.   5.   6.   7.   8.   9.  1")
    assert "..." not in r and r.endswith(f"999.], {D})")


def test_repr_leaves_print_options_alone():
    before = np.get_printoptions()
    repr(Tensor([1 / 3]))
    assert np.get_printoptions() == before


# ---- indexing (recorded from MegEngine 1.13) ---------------------------------------------------------------

X = np.arange(9).reshape(3, 3)


@pytest.mark.parametrize("key", [
    1, -1, (1, 2), (slice(None), 1), None, (Ellipsis, 0), (0, Ellipsis), (Ellipsis, None),
    slice(None, None, 2), slice(None, None, -1), slice(1, 10), (slice(None), None, 1), [0, 2],
    ([0, 1], [1, 2]), ([[0], [1]], [1, 2]),
    (slice(1, 2), [0, 2]), np.array([0, 2]), [True, False, True], X > 2, (X > 2) & (X < 7),
    (np.array([True, False, True]), slice(0, 2)), (slice(None), [2, 0, 2]),
])
def test_getitem_matches_numpy(key):
    x = Tensor(X)
    r = x[key]
    expected = X[key]
    assert r.shape == expected.shape
    assert r.dtype == np.int32
    np.testing.assert_array_equal(r.numpy(), expected)


def test_getitem_reprs_and_tensor_keys():
    x = Tensor(X)
    assert repr(x[1]) == f"Tensor([3 4 5], dtype=int32, {D})"
    assert repr(x[1, 2]) == f"Tensor(5, dtype=int32, {D})"
    assert repr(x[1][2]) == f"Tensor(5, dtype=int32, {D})"
    assert x[None].shape == (1, 3, 3)
    assert x[Tensor([0, 2])].tolist() == [[0, 1, 2], [6, 7, 8]]
    assert x[Tensor(1)].tolist() == [3, 4, 5]
    assert x[Tensor([True, False, True])].tolist() == [[0, 1, 2], [6, 7, 8]]
    assert x[x > 2].tolist() == [3, 4, 5, 6, 7, 8]
    assert x[[0, 1], :][:, [2]].tolist() == [[2], [5]]
    x2 = Tensor(np.arange(24).reshape(2, 3, 4))
    a2 = np.arange(24).reshape(2, 3, 4)
    assert x2[:, [0, 2], 1:3].tolist() == a2[:, [0, 2], 1:3].tolist()
    assert x2[[0, 1], :, [0, 3]].tolist() == [[0, 4, 8], [15, 19, 23]]
    assert x2[:, [0, 2], [1, 3]].shape == (2, 2)
    assert x2[0, :, [1, 2]].shape == (2, 3)


def test_setitem_in_place_and_aliases():
    y = Tensor([1., 2., 3., 4.])
    z = y
    y[1:3] = 0
    assert repr(y) == f"Tensor([1. 0. 0. 4.], {D})"
    assert z is y and z.tolist() == [1., 0., 0., 4.]


def test_setitem_forms():
    y = Tensor([1., 2., 3., 4.])
    y[[0, 0]] = Tensor([5., 6.])       # duplicate indices: the last write wins
    assert y.tolist() == [6., 2., 3., 4.]
    y = Tensor([1., 2., 3., 4.])
    y[y > 2] = 0
    assert y.tolist() == [1., 2., 0., 0.]
    y = Tensor([1, 2, 3])
    y[0] = 2.7                          # cast to the tensor's dtype
    assert repr(y) == f"Tensor([2 2 3], dtype=int32, {D})"
    y = Tensor([[1., 2.], [3., 4.]])
    y[:, 0] = Tensor([9., 8.])
    assert y.tolist() == [[9., 2.], [8., 4.]]
    y = Tensor([[1., 2.], [3., 4.]])
    y[0] += 10
    assert repr(y) == f"Tensor([[11. 12.]\n [ 3.  4.]], {D})"
    y = Tensor([1., 2.])
    s = y[0:1]
    y[0] = 100.
    assert s.tolist() == [1.]           # an earlier slice is not a view
    p = Parameter([1., 2., 3.])
    p[:] = 7
    assert p.tolist() == [7., 7., 7.] and p.dtype == np.float32
    p[:] = Tensor([1, 2, 3])
    assert repr(p) == f"Parameter([1. 2. 3.], {D})"


def test_setitem_ellipsis_replaces_wholesale():
    # MegEngine 1.13: `x[...] = v` takes v's value, shape and dtype; the object stays the same.
    p = Parameter([1., 2., 3.])
    old = id(p)
    p[...] = Tensor([7., 8., 9.])
    assert repr(p) == f"Parameter([7. 8. 9.], {D})" and id(p) == old and type(p) is Parameter
    p = Parameter([1., 2., 3.])
    p[...] = Tensor([7, 8, 9])
    assert repr(p) == f"Parameter([7 8 9], dtype=int32, {D})"
    p = Parameter([1., 2., 3.])
    p[...] = 5
    assert repr(p) == f"Parameter(5.0, {D})"
    p = Parameter([1., 2., 3.])
    p[...] = Tensor([1., 2.])
    assert repr(p) == f"Parameter([1. 2.], {D})"


def test_inplace_operators_rebind():
    y = Tensor([1., 2.])
    z = y
    y += 1
    assert y is z and repr(z) == f"Tensor([2. 3.], {D})"
    y *= Tensor([2., 0.5])
    assert z.tolist() == [4., 1.5]
    yi = Tensor([1, 2])
    yi += 1.5                           # the result replaces the value wholesale (float32 now)
    assert repr(yi) == f"Tensor([2.5 3.5], {D})"


# ---- operators ---------------------------------------------------------------------------------------------

A = np.array([[1., -2., 3.], [4., 5., -6.]], dtype=np.float32)
B = np.array([0.5, 4., -2.], dtype=np.float32)


@pytest.mark.parametrize("fn", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b, lambda a, b: a // b,
    lambda a, b: a ** 2, lambda a, b: abs(a) ** b, lambda a, b: -a, lambda a, b: abs(a),
    lambda a, b: a < b, lambda a, b: a <= b, lambda a, b: a > b, lambda a, b: a >= b, lambda a, b: a == b,
    lambda a, b: a != b, lambda a, b: 2 + a, lambda a, b: 2 - a, lambda a, b: 3 * a, lambda a, b: 1 / b,
    lambda a, b: 7 // b, lambda a, b: 2 ** b, lambda a, b: 1.5 < a, lambda a, b: a + b[None, :1],
    lambda a, b: a @ b, lambda a, b: a.T @ a,
])
def test_operators_match_numpy(fn):
    r = fn(Tensor(A), Tensor(B))
    expected = fn(A, B)
    assert r.shape == expected.shape
    assert r.dtype == expected.dtype
    np.testing.assert_allclose(r.numpy(), expected, rtol=1e-6)


def test_reflected_operators_with_numpy_left_operand():
    r = np.float32(2) - Tensor([1., 2.])
    assert type(r) is Tensor and r.tolist() == [1., 0.]
    r = np.ones(2, np.float32) + Tensor([1., 2.])
    assert type(r) is Tensor and r.tolist() == [2., 3.]
    r = np.ones((1, 2), np.float32) @ Tensor([[1.], [2.]])
    assert type(r) is Tensor and r.tolist() == [[3.]]


def test_broadcasting_operators():
    r = Tensor([1, 2]) + Tensor([[10], [20]])
    assert repr(r) == f"Tensor([[11 12]\n [21 22]], dtype=int32, {D})"
    r = Tensor(np.ones((2, 1, 3), np.float32)) * Tensor(np.arange(4, dtype=np.float32).reshape(4, 1))
    assert r.shape == (2, 4, 3)
    np.testing.assert_array_equal(r.numpy(), np.ones((2, 1, 3)) * np.arange(4).reshape(4, 1))


def test_logical_operators():
    assert repr(Tensor([True, False]) & Tensor([True, True])) == f"Tensor([ True False], dtype=bool, {D})"
    assert repr(Tensor([True, False]) | Tensor([False, False])) == f"Tensor([ True False], dtype=bool, {D})"
    assert repr(~Tensor([True, False])) == f"Tensor([False  True], dtype=bool, {D})"
    assert repr(Tensor([True]) ^ Tensor([True])) == f"Tensor([False], dtype=bool, {D})"
