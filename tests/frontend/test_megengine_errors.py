"""Errors as MegEngine raises them: each graphc error is also the builtin MegEngine's C++ core or Python raises
for the same mistake (RuntimeError for shapes, axes, dtypes and devices; AssertionError for a repeated axis),
keeps graphc's message and line, and prints as MegEngine's tutorial shows. Also graphc.tensor, NumPy ufuncs on
Tensors and device comparison.

MegEngine 1.13's classes were printed in a reference venv: tensor([1, 2]) + tensor([1, 2, 3]),
F.sum(x, axis=5), F.concat with mismatched shapes, Tensor(x.astype(np.int32), dtype=np.float32) and
Tensor(x.to("xpu0:2"), device="xpu0:1") raise RuntimeError; F.sum(x, axis=(-1, 1)) raises AssertionError;
Tensor(1.0) + None raises TypeError "the operand is None and is not supported."; device == "foo" is False."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import Tensor


@pytest.mark.parametrize("fn", [
    lambda: Tensor([1, 2]) + Tensor([1, 2, 3]),
    lambda: F.sum(Tensor([[1.0, 2.0]]), axis=5),
    lambda: F.concat([Tensor([[1.0]]), Tensor([1.0])]),
    lambda: Tensor(Tensor([1, 2]), dtype="float32"),
    lambda: Tensor(Tensor([1.0], device="xpu0:2"), device="xpu0:1"),
    lambda: F.matmul(Tensor([[1.0, 2.0]]), Tensor([[1.0, 2.0]])),
    lambda: Tensor([1], dtype="int8") + Tensor([1], dtype="uint8"),
])
def test_shape_axis_dtype_and_device_errors_are_runtime_errors(fn):
    with pytest.raises(RuntimeError) as info:
        fn()
    assert isinstance(info.value, graphc.GraphcError) and "test_megengine_errors.py:" in str(info.value)


def test_the_same_axis_twice_is_an_assertion_error():
    with pytest.raises(AssertionError, match=r"sum: axis \(-1, 1\) names the same axis twice"):
        F.sum(Tensor([[1.0, 2.0]]), axis=(-1, 1))
    with pytest.raises(ValueError):
        Tensor([[1.0]]).mean(axis=(0, 0))


def test_a_none_operand_says_so():
    with pytest.raises(TypeError, match=r"^add: the operand is None and is not supported\. \(at "):
        Tensor(1.0) + None
    with pytest.raises(TypeError, match="operand is None"):
        None * Tensor(1.0)


def test_the_tutorials_optimizer_error_prints_as_a_type_error():
    script = textwrap.dedent("""
        import graphc, graphc.optimizer as optim
        try:
            optim.SGD([graphc.Tensor(1.0)], lr=0.1)
        except graphc.GraphcError:
            print("caught as a GraphcError")
        optim.SGD([graphc.Tensor(1.0)], lr=0.1)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "caught as a GraphcError"
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("TypeError: optimizer can only optimize Parameters, but one of the params is "
                           "<class 'graphc.tensor.Tensor'> (at <string>:7)"), last


def test_graphc_tensor_is_the_tensor_class_and_a_module_to_import_from():
    from graphc.tensor import Parameter as P
    from graphc.tensor import Tensor as T
    assert graphc.tensor is graphc.Tensor is T and P is graphc.Parameter
    t = graphc.tensor([1, 2], dtype="int32", device="cpu0", name="t")
    assert t.tolist() == [1, 2] and isinstance(t, graphc.tensor) and t.name == "t"
    assert repr(type(t)) == "<class 'graphc.tensor.Tensor'>"


def test_numpy_ufuncs_on_tensors_give_tensors_on_the_tensors_device():
    x = np.array([1, 2, 3], dtype=np.int32)
    xx = Tensor(x, device="cpu0")
    y = np.array([1, 0, 3], dtype=np.int32)
    for r, want in [(np.add(xx, y), x + y), (np.equal(xx, y), x == y), (y * xx, x * y),
                    (np.sqrt(xx), np.sqrt(x).astype(np.float32)), (np.exp2(xx), np.exp2(x))]:
        assert isinstance(r, Tensor) and r.device == xx.device
        np.testing.assert_allclose(r.numpy(), want, rtol=1e-6)


def test_a_device_compared_with_an_unknown_name_is_unequal():
    d = Tensor([1.0]).device
    assert not d == "foo" and d != "foo" and d == d.name
    assert graphc.get_default_device() != "foo"
