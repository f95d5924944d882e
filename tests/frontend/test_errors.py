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


# ---- issue 15 item 14: errors a user meets ----------------------------------------------------------------

def test_index_errors_in_traced_code_and_plans_name_the_op_and_line(tmp_path, capsys):
    from graphc.cli_plan import main
    from graphc.jit import trace

    @trace
    def pick(x, i):
        return (x * 2.0)[i]
    x = z(5)
    pick(x, Tensor(np.array([1, 2], np.int32)))
    line = pick.__wrapped__.__code__.co_firstlineno + 2      # the decorator, the def, then the return
    with pytest.raises(graphc.GraphcIndexError, match=rf"getitem: index 7 is out of bounds .*\(at .*{HERE}:{line}\)"):
        pick(x, Tensor(np.array([1, 7], np.int32)))
    pick.dump(tmp_path / "pick.gcplan", arg_names=["x", "i"])
    loaded = graphc.load(tmp_path / "pick.gcplan")
    with pytest.raises(IndexError, match=rf"getitem: index 9 .*{HERE}:{line}"):
        loaded(x, np.array([0, 9], np.int32))
    np.save(tmp_path / "x.npy", np.zeros(5, np.float32))
    np.save(tmp_path / "i.npy", np.array([0, 9], np.int32))
    assert main(["run", str(tmp_path / "pick.gcplan"), "-i", f"x={tmp_path / 'x.npy'}",
                 "-i", f"i={tmp_path / 'i.npy'}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("graphc: error: getitem: index 9 is out of bounds")

    @trace
    def loss(logits, label):
        return F.nn.cross_entropy(logits, label)
    logits = z(3, 4)
    loss(logits, Tensor(np.array([0, 1, 2])))
    with pytest.raises(graphc.GraphcIndexError, match=f"index 9 is out of bounds.*{HERE}"):
        loss(logits, Tensor(np.array([0, 9, 2])))


def test_ragged_nested_lists():
    check(graphc.ShapeError, ValueError, lambda: Tensor([[1, 2], [3]]), "Tensor", "ragged")
    check(graphc.ShapeError, ValueError, lambda: Parameter([[1.0], [2.0, 3.0]]), "Parameter", "ragged")


def test_sizes_must_be_integers():
    check(graphc.GraphcTypeError, TypeError, lambda: F.ones((2.5,)), "ones", "integers", "2.5")
    check(graphc.GraphcTypeError, TypeError, lambda: F.zeros([2, 1.0]), "zeros", "integers")
    check(graphc.GraphcTypeError, TypeError, lambda: z(2, 3).reshape(3, 2.0), "reshape", "integers")
    assert F.ones((np.int64(2), Tensor(np.int32(3)))).shape == (2, 3)


def test_hyper_parameters_of_the_wrong_type_or_not_a_number():
    w = Parameter(1.0)
    check(graphc.GraphcTypeError, TypeError, lambda: optim.Adam([w], lr="fast"), "Adam", "lr must be", "'fast'")
    check(graphc.GraphcTypeError, TypeError, lambda: optim.SGD([w], lr=0.1, momentum=None), "SGD", "momentum")
    for bad in (float("nan"), float("inf"), -0.5):
        with pytest.raises(ValueError, match=f"SGD: invalid lr {bad!r}.*{HERE}"):
            optim.SGD([w], lr=bad)
    with pytest.raises(ValueError, match="Adam: invalid betas\\[0\\] 1.0: it must be in \\[0, 1\\)"):
        optim.Adam([w], lr=0.1, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="AdamW: invalid eps nan"):
        optim.AdamW([w], lr=0.1, eps=float("nan"))


def test_backward_reaching_no_attached_tensor_warns_once(monkeypatch):
    import warnings

    from graphc import autodiff
    from graphc.jit import trace
    monkeypatch.setattr(autodiff, "_warned_no_gradient", False)
    w, u = Parameter(2.0), Parameter(3.0)
    gm = GradManager().attach([w])
    with pytest.warns(UserWarning, match=f"depends on none of the attached tensors.*{HERE}"):
        with gm:
            gm.backward(u * 3.0)
    assert w.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with gm:
            gm.backward(Tensor(1.0))          # as MegEngine: still no gradient, and no second warning

        @trace
        def step(x):
            with gm:
                gm.backward(u * x)
            return x
        step(Tensor(1.0))
    assert w.grad is None
    monkeypatch.setattr(autodiff, "_warned_no_gradient", False)
    with pytest.warns(UserWarning, match="depends on none"):
        step(Tensor(np.ones(2, np.float32)))       # a new trace, its backward reaches no attached tensor either


def test_zeros_and_ones_are_made_in_the_requested_dtype():
    import tracemalloc
    tracemalloc.start()
    try:
        for make in (F.zeros, F.ones):
            tracemalloc.reset_peak()
            t = make((512, 1024), "float32")
            # 2 MiB of float32; a float64 array first (4 MiB) and a float32 copy of it made 6 MiB.
            assert tracemalloc.get_traced_memory()[1] < 3 << 20
            assert t.dtype == np.float32 and float(t.numpy()[0, 0]) == (make is F.ones)
            del t
    finally:
        tracemalloc.stop()
    assert F.full((2,), 7).dtype == np.int32 and F.full((2,), 1.5).dtype == np.float32
    assert F.zeros_like(Tensor(np.zeros(3, np.int32))).dtype == np.int32
