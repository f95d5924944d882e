"""Bad input: a graphc exception that is also the matching built-in one, naming the op, the shapes or
dtypes and the user's file:line.

Each check is a single line so that the line the lambda runs on is the line `check` is called from.
"""
import inspect
import os

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager

HERE = os.path.basename(__file__)


def check(exc, builtin, fn, *words):
    """fn() raises graphc's `exc` (a `builtin` too); the message has `words` and the caller's file:line."""
    line = inspect.currentframe().f_back.f_lineno
    with pytest.raises(exc) as info:
        fn()
    err = info.value
    assert isinstance(err, graphc.GraphcError) and isinstance(err, builtin)
    msg = str(err)
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    assert f"{HERE}:{line}" in msg, f"{HERE}:{line} not in {msg!r}"
    return msg


def z(*shape):
    return Tensor(np.zeros(shape, np.float32))


def test_shape_mismatch_in_add():
    check(graphc.ShapeError, ValueError, lambda: z(2, 3) + z(4), "add", "(2, 3)", "(4,)")
    check(graphc.ShapeError, ValueError, lambda: F.mul(z(2, 3), z(3, 2)), "mul", "(2, 3)", "(3, 2)")
    check(graphc.ShapeError, ValueError, lambda: z(5) > z(2, 4), "greater", "(5,)", "(2, 4)")


def test_bad_reshape():
    check(graphc.ShapeError, ValueError, lambda: z(2, 3).reshape((4,)), "reshape", "(2, 3)", "(4,)")
    check(graphc.ShapeError, ValueError, lambda: F.reshape(z(2, 3), (4, -1)), "reshape", "(2, 3)", "(4, -1)")
    check(graphc.ShapeError, ValueError, lambda: z(2, 3).reshape(-1, -1), "reshape", "(-1, -1)")


def test_bad_dtype():
    check(graphc.DTypeError, TypeError, lambda: Tensor([1, 2], dtype="foo"), "Tensor", "'foo'")
    check(graphc.DTypeError, TypeError, lambda: Tensor([1, 2], dtype="complex64"), "Tensor", "complex64")
    check(graphc.DTypeError, TypeError, lambda: Parameter([1.], dtype="float128"), "Parameter", "float128")
    check(graphc.DTypeError, TypeError, lambda: z(2).astype("complex64"), "astype", "complex64")
    check(graphc.DTypeError, TypeError, lambda: Tensor([True]) + Tensor([True]), "add", "bool")
    check(graphc.DTypeError, TypeError, lambda: -Tensor([True, False]), "neg", "bool")
    check(graphc.DTypeError, TypeError, lambda: Tensor([3]) & Tensor([1]), "logical_and", "int32")
    u8, i8 = Tensor([1], dtype="uint8"), Tensor([1], dtype="int8")
    check(graphc.DTypeError, TypeError, lambda: u8 + i8, "uint8", "int8")   # different signedness


def test_unknown_device():
    check(graphc.DeviceError, ValueError, lambda: Tensor([1], device="foo"), "Tensor", "'foo'")
    check(graphc.DeviceError, ValueError, lambda: Tensor([1]).to("tpu0"), "to", "'tpu0'")
    check(graphc.DeviceError, ValueError, lambda: F.zeros((2,), device="cpu"), "'cpu'")


def test_out_of_range_axis():
    check(graphc.AxisError, IndexError, lambda: F.sum(z(2, 3), axis=5), "sum", "axis 5", "(2, 3)")
    check(graphc.AxisError, IndexError, lambda: F.mean(z(2, 3), axis=-3), "mean", "axis -3", "(2, 3)")
    check(graphc.AxisError, IndexError, lambda: F.max(z(2, 3), axis=2), "max", "axis 2", "(2, 3)")
    check(graphc.AxisError, IndexError, lambda: F.argmax(z(2, 3), axis=2), "argmax", "axis 2")
    check(graphc.AxisError, IndexError, lambda: z(2, 3).sum(axis=(0, 3)), "sum", "axis 3")
    check(graphc.AxisError, IndexError, lambda: F.concat([z(2), z(2)], axis=1), "concat", "axis 1")
    check(graphc.AxisError, IndexError, lambda: F.expand_dims(z(2), 3), "expand_dims", "axis 3")
    check(graphc.AxisError, IndexError, lambda: F.gather(z(2, 3), 2, Tensor([[0]])), "gather", "axis 2")


def test_out_of_range_index():
    check(graphc.GraphcIndexError, IndexError, lambda: Tensor([1, 2, 3])[5], "getitem", "5", "size 3")
    check(graphc.GraphcIndexError, IndexError, lambda: Tensor([1, 2, 3])[-4], "getitem", "-4")
    check(graphc.GraphcIndexError, IndexError, lambda: Tensor([[1, 2, 3]])[0, 5], "getitem", "5", "axis 1")
    check(graphc.GraphcIndexError, IndexError, lambda: Tensor([1, 2, 3])[Tensor([5])], "getitem", "5")
    check(graphc.GraphcIndexError, IndexError, lambda: Tensor([1, 2, 3])[[0, 7]], "getitem", "7")
    check(graphc.GraphcIndexError, IndexError, lambda: Tensor([1, 2, 3])[0, 0], "getitem", "(3,)")
    row, two = Tensor([[1, 2]]), Tensor([[2]])
    check(graphc.GraphcIndexError, IndexError, lambda: F.gather(row, 1, two), "gather", "2")
    check(graphc.GraphcIndexError, IndexError, lambda: F.one_hot(Tensor([0, 5]), 3), "one_hot", "5")
    check(graphc.GraphcIndexError, IndexError, lambda: F.nn.cross_entropy(z(1, 2), Tensor([5])), "5")


def test_index_of_wrong_type():
    check(graphc.GraphcIndexError, IndexError, lambda: Tensor([1, 2])[1.5], "getitem", "1.5")


def test_backward_outside_recording():
    w = Parameter(2.0)
    gm = GradManager().attach([w])
    y = w * 3
    check(graphc.GradError, RuntimeError, lambda: gm.backward(y), "GradManager.backward")
    with gm:
        y = w * 3
    check(graphc.GradError, RuntimeError, lambda: gm.backward(y), "GradManager.backward")


def test_second_backward():
    w = Parameter(2.0)
    gm = GradManager().attach([w])
    with gm:
        y = w * 3
        gm.backward(y)
        check(graphc.GradError, RuntimeError, lambda: gm.backward(y), "GradManager.backward")


def test_record_twice():
    gm = GradManager()
    with gm:
        check(graphc.GradError, RuntimeError, lambda: gm.record(), "GradManager.record", "already recording")


def test_optimizer_given_a_tensor():
    t = Tensor(1.)
    msg = check(graphc.GraphcTypeError, TypeError, lambda: optim.SGD([t], lr=0.1), "optimizer", "Tensor")
    assert msg.startswith("optimizer can only optimize Parameters, but one of the params is ")
    check(graphc.GraphcTypeError, TypeError, lambda: optim.Adam([Parameter(1.), t], lr=0.1), "Tensor")


def test_matmul_mismatch():
    check(graphc.ShapeError, ValueError, lambda: F.matmul(z(2, 3), z(2, 3)), "matmul", "(2, 3)")
    check(graphc.ShapeError, ValueError, lambda: z(2) @ z(3), "matmul", "(2,)", "(3,)")
    a, b = z(2, 2, 3), z(3, 3, 4)
    check(graphc.ShapeError, ValueError, lambda: F.matmul(a, b), "matmul", "(2, 2, 3)", "(3, 3, 4)")
    check(graphc.ShapeError, ValueError, lambda: F.linear(z(2, 3), z(4, 2)), "matmul", "(4, 2)")
    check(graphc.ShapeError, ValueError, lambda: F.dot(z(2, 2), z(2, 2)), "dot", "(2, 2)")


def test_concat_mismatch():
    a, b = Tensor([[1, 2]]), Tensor([[3]])
    check(graphc.ShapeError, ValueError, lambda: F.concat([a, b]), "concat", "(1, 2)", "(1, 1)")
    check(graphc.ShapeError, ValueError, lambda: F.stack([z(2), z(1)]), "stack", "(2,)", "(1,)")


def test_other_shape_errors():
    check(graphc.ShapeError, ValueError, lambda: F.broadcast_to(z(2), (3,)), "broadcast_to", "(2,)", "(3,)")
    check(graphc.ShapeError, ValueError, lambda: F.transpose(z(2, 3), (0,)), "transpose", "(2, 3)")
    check(graphc.ShapeError, ValueError, lambda: F.squeeze(z(1, 2, 1), 1), "squeeze", "(1, 2, 1)")
    check(graphc.ShapeError, ValueError, lambda: F.where(Tensor([True]), z(2), z(3)), "where", "(2,)", "(3,)")
    check(graphc.ShapeError, ValueError, lambda: F.nn.square_loss(z(2), z(3)), "square_loss", "(2,)", "(3,)")
    check(graphc.ShapeError, ValueError, lambda: F.split(Tensor(np.arange(6)), 7), "split", "7")
    check(graphc.ShapeError, ValueError, lambda: F.nn.cross_entropy(z(2, 3), Tensor([[1]])), "cross_entropy")
    y = z(3)
    check(graphc.ShapeError, ValueError, lambda: y.__setitem__(slice(0, 2), z(3)), "setitem", "(3,)", "(2,)")


def test_gradmanager_dy_mismatch():
    w = Parameter([1., 2.])
    gm = GradManager().attach([w])
    with gm:
        y = w * 2
        check(graphc.GradError, RuntimeError, lambda: gm.backward(y, Tensor([1., 2., 3.])), "(3,)", "(2,)")


def test_errors_are_catchable_as_builtins_and_as_graphc_errors():
    for fn, builtin in [(lambda: z(2) + z(3), ValueError), (lambda: Tensor([1], dtype="foo"), TypeError),
                        (lambda: F.sum(z(2), axis=1), IndexError), (lambda: Tensor([1])[3], IndexError)]:
        with pytest.raises(builtin):
            fn()
        with pytest.raises(graphc.GraphcError):
            fn()
