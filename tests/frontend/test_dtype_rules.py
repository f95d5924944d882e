"""Dtype promotion and result dtypes against MegEngine 1.13.

Each expected repr is MegEngine 1.13's own output, printed in a reference venv (cases run there later are
marked "venv").
"""
import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import Tensor

D = "device=xpux:0"
NS = {"Tensor": Tensor, "F": F, "np": np, "a": None, "b": None}


def _eval(expr: str):
    ns = dict(NS, a=Tensor([-7, 7, 5]), b=Tensor([3, -3, 2]))
    return eval(expr, ns)


# (expression, MegEngine's repr of the result)
PROMOTION = [
    ("a + b", f"Tensor([-4  4  7], dtype=int32, {D})"),
    ("a + 1.5", f"Tensor([-5.5  8.5  6.5], {D})"),
    ("1.5 + a", f"Tensor([-5.5  8.5  6.5], {D})"),
    ("a * 2", f"Tensor([-14  14  10], dtype=int32, {D})"),
    ("a / b", f"Tensor([-2.3333 -2.3333  2.5   ], {D})"),
    ("a / 2", f"Tensor([-3.5  3.5  2.5], {D})"),
    ("a // b", f"Tensor([-3 -3  2], dtype=int32, {D})"),
    ("a % b", f"Tensor([ 2 -2  1], dtype=int32, {D})"),
    ("Tensor(-7) % Tensor(3)", f"Tensor(2, dtype=int32, {D})"),
    ("Tensor(7) % Tensor(-3)", f"Tensor(-2, dtype=int32, {D})"),
    ("Tensor(-7) // Tensor(3)", f"Tensor(-3, dtype=int32, {D})"),
    ("Tensor(7) // Tensor(-3)", f"Tensor(-3, dtype=int32, {D})"),
    ("a ** 2", f"Tensor([49. 49. 25.], {D})"),
    ("a ** -1", f"Tensor([-0.1429  0.1429  0.2   ], {D})"),
    ("Tensor([1,2,4]) ** -1", f"Tensor([1.   0.5  0.25], {D})"),
    ("a ** 0.5", f"Tensor([   nan 2.6458 2.2361], {D})"),
    ("Tensor([2,3]) ** Tensor([2,3])", f"Tensor([ 4. 27.], {D})"),
    ("2 ** Tensor([1,2])", f"Tensor([2. 4.], {D})"),
    ("Tensor([2.,3.]) ** 2", f"Tensor([4. 9.], {D})"),
    ("Tensor([1.], dtype='float16') + Tensor([1.])", f"Tensor([2.], {D})"),
    ("Tensor([1.], dtype='float16') + 1.5", f"Tensor([2.5], dtype=float16, {D})"),
    ("Tensor([1], dtype='float16') + 1", f"Tensor([2.], dtype=float16, {D})"),
    ("Tensor([1], dtype='float16') * Tensor([2], dtype='int32')", f"Tensor([2.], {D})"),
    ("Tensor([1], dtype='int8') + Tensor([1], dtype='int32')", f"Tensor([2], dtype=int32, {D})"),
    ("Tensor([1], dtype='int8') + 1.5", f"Tensor([2.5], {D})"),
    ("Tensor([1], dtype='int16') + Tensor([1], dtype='int8')", f"Tensor([2], dtype=int16, {D})"),
    ("Tensor([250], dtype='uint8') + 10", f"Tensor([4], dtype=uint8, {D})"),
    ("Tensor([True, False]) + Tensor([1, 2])", f"Tensor([2. 2.], {D})"),
    ("Tensor([True, False]) + 1", f"Tensor([2. 1.], {D})"),
    ("Tensor([True, False]) + 1.5", f"Tensor([2.5 1.5], {D})"),
    ("a > b", f"Tensor([False  True  True], dtype=bool, {D})"),
    ("a == b", f"Tensor([False False False], dtype=bool, {D})"),
    ("a > 1.5", f"Tensor([False  True  True], dtype=bool, {D})"),
    ("a != 5", f"Tensor([ True  True False], dtype=bool, {D})"),
    ("Tensor([1.]) == Tensor([1])", f"Tensor([ True], dtype=bool, {D})"),
    ("Tensor([1], dtype='int8') + np.int8(2)", f"Tensor([3], dtype=int8, {D})"),
    ("F.floor_div(Tensor([7.]), 2)", f"Tensor([3.], {D})"),
    ("F.div(Tensor([7]), Tensor([2]))", f"Tensor([3.5], {D})"),
    ("Tensor([7]) / 0", f"Tensor([inf], {D})"),
    ("Tensor([7.]) % 0", f"Tensor([nan], {D})"),
    ("Tensor([7.]) // 0", f"Tensor([inf], {D})"),
    ("Tensor([-7.]) % 3", f"Tensor([-1.], {D})"),        # float % is C's fmod (the sign of a)
    ("Tensor([7.]) % -3", f"Tensor([1.], {D})"),
    ("Tensor([-7.5]) // 2", f"Tensor([-4.], {D})"),      # float // is floor
    ("-Tensor([1], dtype='uint8')", f"Tensor([255], dtype=uint8, {D})"),
    ("Tensor([1], dtype='uint8') - Tensor([2], dtype='uint8')", f"Tensor([255], dtype=uint8, {D})"),
    ("Tensor([1., 2.]) @ Tensor([3., 4.])", f"Tensor(11.0, {D})"),
    ("Tensor([1, 2]) @ Tensor([3, 4])", f"Tensor(11, dtype=int32, {D})"),
    # venv: bool meets floats and ints as float32; float16 meets non-floats as float32.
    ("Tensor([1], dtype='uint8') + Tensor([True])", f"Tensor([2.], {D})"),
    ("Tensor([1], dtype='uint8') * 2.5", f"Tensor([2.5], {D})"),
    ("Tensor([True]) + Tensor([1.], dtype='float16')", f"Tensor([2.], {D})"),
    ("Tensor([True]) - 1", f"Tensor([0.], {D})"),
    ("1 - Tensor([True])", f"Tensor([0.], {D})"),
    ("Tensor([True, False]) * 2", f"Tensor([2. 0.], {D})"),
    ("Tensor([1,2]).astype('float16') + Tensor([1], dtype='uint8')", f"Tensor([2. 3.], {D})"),
    ("Tensor([7], dtype='int16') // 2", f"Tensor([3], dtype=int16, {D})"),
    ("Tensor([4], dtype='int16') / Tensor([2], dtype='int16')", f"Tensor([2.], {D})"),
    ("Tensor([4.], dtype='float16') / 2", f"Tensor([2.], dtype=float16, {D})"),
    ("Tensor([2], dtype='int8') ** 2", f"Tensor([4.], {D})"),
    ("Tensor([2], dtype='float16') ** 2", f"Tensor([4.], dtype=float16, {D})"),
    ("Tensor([1.5], dtype='float16') / Tensor([2], dtype='int8')", f"Tensor([0.75], {D})"),
    ("Tensor([1.5, -2.5]) % Tensor([1], dtype='int8')", f"Tensor([ 0.5 -0.5], {D})"),
    ("2.5 ** Tensor([2])", f"Tensor([6.25], {D})"),
    ("Tensor([1,2]) ** 0", f"Tensor([1. 1.], {D})"),
    ("-Tensor([1], dtype='int16')", f"Tensor([-1], dtype=int16, {D})"),
    ("abs(Tensor([-3], dtype='int8'))", f"Tensor([3], dtype=int8, {D})"),
    ("F.maximum(Tensor([1], dtype='uint8'), 3)", f"Tensor([3], dtype=uint8, {D})"),
]


@pytest.mark.parametrize("expr, expected", PROMOTION)
def test_promotion(expr, expected):
    assert repr(_eval(expr)) == expected


# Functions: result dtypes (recorded from MegEngine 1.13).
FUNCTIONS = [
    ("F.mean(Tensor([[1,2],[3,4]]))", f"Tensor(2.5, {D})"),
    ("F.mean(Tensor([[1,2],[3,4]]), axis=0)", f"Tensor([2. 3.], {D})"),
    ("F.sum(Tensor([True, True, False]))", f"Tensor(2, dtype=int32, {D})"),
    ("F.mean(Tensor([True, False]))", f"Tensor(0.5, {D})"),
    ("F.prod(Tensor([True, True]))", f"Tensor(1, dtype=int32, {D})"),
    ("F.max(Tensor([True, False]))", f"Tensor(True, dtype=bool, {D})"),
    ("F.min(Tensor([True, False]))", f"Tensor(False, dtype=bool, {D})"),           # venv
    ("F.sum(Tensor([1,2], dtype='int8'))", f"Tensor(3, dtype=int8, {D})"),
    ("F.sum(Tensor([1,2], dtype='uint8'))", f"Tensor(3, dtype=uint8, {D})"),
    ("F.sum(Tensor([1,2], dtype='int16'))", f"Tensor(3, dtype=int16, {D})"),       # venv
    ("F.prod(Tensor([1,2], dtype='int8'))", f"Tensor(2, dtype=int8, {D})"),        # venv
    ("F.max(Tensor([1,2], dtype='int8'))", f"Tensor(2, dtype=int8, {D})"),         # venv
    ("F.sum(Tensor([1,2], dtype='float16'))", f"Tensor(3.0, dtype=float16, {D})"),
    ("F.mean(Tensor([1,2], dtype='float16'))", f"Tensor(1.5, {D})"),
    ("F.mean(Tensor([1,2], dtype='int16'))", f"Tensor(1.5, {D})"),
    ("F.var(Tensor([1,2], dtype='float16'))", f"Tensor(0.25, {D})"),              # venv
    ("F.sqrt(Tensor([[1,2],[3,4]]))", f"Tensor([[1.     1.4142]\n [1.7321 2.    ]], {D})"),
    ("F.exp(Tensor([0, 1]))", f"Tensor([1.     2.7183], {D})"),
    ("F.log(Tensor([1, 2]))", f"Tensor([0.     0.6931], {D})"),
    ("F.sin(Tensor([0, 1]))", f"Tensor([0.     0.8415], {D})"),
    ("F.tanh(Tensor([0,1]))", f"Tensor([0.     0.7616], {D})"),
    ("F.exp(Tensor([1], dtype='int8'))", f"Tensor([2.7183], {D})"),               # venv
    ("F.sqrt(Tensor([4], dtype='float16'))", f"Tensor([2.], dtype=float16, {D})"),  # venv
    ("F.tanh(Tensor([1.], dtype='float16'))", f"Tensor([0.7617], dtype=float16, {D})"),  # venv
    ("F.relu(Tensor([-1.], dtype='float16'))", f"Tensor([0.], dtype=float16, {D})"),  # venv
    ("F.abs(Tensor([-1, 2]))", f"Tensor([1 2], dtype=int32, {D})"),
    ("F.abs(Tensor([-1, 2], dtype='int8'))", f"Tensor([1 2], dtype=int8, {D})"),
    ("F.neg(Tensor([-1, 2]))", f"Tensor([ 1 -2], dtype=int32, {D})"),
    ("F.relu(Tensor([-1, 2]))", f"Tensor([0 2], dtype=int32, {D})"),
    ("F.floor(Tensor([1, 2]))", f"Tensor([1 2], dtype=int32, {D})"),
    ("F.floor(Tensor([1.5, -1.5]))", f"Tensor([ 1. -2.], {D})"),
    ("F.ceil(Tensor([1.5]))", f"Tensor([2.], {D})"),
    ("F.round(Tensor([1, 2]))", f"Tensor([1 2], dtype=int32, {D})"),
    ("F.sign(Tensor([-3, 0, 2]))", f"Tensor([-1  0  1], dtype=int32, {D})"),
    ("F.square(Tensor([-3, 2]))", f"Tensor([9 4], dtype=int32, {D})"),
    ("F.clip(Tensor([-5, 0, 5]), -1.5, 2.5)", f"Tensor([-1.5  0.   2.5], {D})"),
    ("F.clip(Tensor([-5, 0, 5]), -1, 2)", f"Tensor([-1  0  2], dtype=int32, {D})"),
    ("F.clip(Tensor([-5., 0, 5]), -1, 2)", f"Tensor([-1.  0.  2.], {D})"),
    ("F.clip(Tensor([-5, 0, 5]), lower=0)", f"Tensor([0 0 5], dtype=int32, {D})"),
    ("F.clip(Tensor([-5, 0, 5]), upper=0)", f"Tensor([-5  0  0], dtype=int32, {D})"),
    ("F.clip(Tensor([-5, 0, 5], dtype='int8'), -1, 2)", f"Tensor([-1  0  2], dtype=int8, {D})"),
    ("F.clip(Tensor([-5, 0, 5]), -1.5)", f"Tensor([-1.5  0.   5. ], {D})"),          # venv
    ("F.where(Tensor([True, False]), Tensor([1, 2]), Tensor([1.5, 2.5]))", f"Tensor([1.  2.5], {D})"),
    ("F.where(Tensor([True, False]), Tensor([1, 2]), Tensor([3, 4]))", f"Tensor([1 4], dtype=int32, {D})"),
    ("F.where(Tensor([True, False]), Tensor([1], dtype='int8'), Tensor([3, 4]))",
     f"Tensor([1 4], dtype=int32, {D})"),
    ("F.where(Tensor([True]), Tensor([1.]), Tensor([2.])).dtype", "dtype('float32')"),
    ("F.maximum(Tensor([1, 5]), Tensor([2.5, 3.]))", f"Tensor([2.5 5. ], {D})"),
    ("F.maximum(Tensor([1, 5]), 2.5)", f"Tensor([2.5 5. ], {D})"),
    ("F.minimum(Tensor([1, 5]), Tensor([2, 3]))", f"Tensor([1 3], dtype=int32, {D})"),
    ("F.maximum(Tensor([1, 5], dtype='int8'), Tensor([2, 3], dtype='int32'))",
     f"Tensor([2 5], dtype=int32, {D})"),
    ("F.concat([Tensor([1]), Tensor([2.5])])", f"Tensor([1.  2.5], {D})"),
    ("F.concat([Tensor([1, 2]), Tensor([3], dtype='int8')])", f"Tensor([1 2 3], dtype=int32, {D})"),
    ("F.concat([Tensor([1.], dtype='float16'), Tensor([2])])", f"Tensor([1. 2.], {D})"),   # venv
    ("F.concat([Tensor([True]), Tensor([2])])", f"Tensor([1. 2.], {D})"),                 # venv
    ("F.argmax(Tensor([1, 3, 3, 2]))", f"Tensor(1, dtype=int32, {D})"),
    ("F.one_hot(Tensor([0, 2]), 3)", f"Tensor([[1 0 0]\n [0 0 1]], dtype=int32, {D})"),
    ("F.full((2,), 3)", f"Tensor([3 3], dtype=int32, {D})"),
    ("F.full((2,), 3.)", f"Tensor([3. 3.], {D})"),
    ("F.full((2,), True)", f"Tensor([ True  True], dtype=bool, {D})"),
    ("F.full_like(Tensor([1,2]), 2.5)", f"Tensor([2 2], dtype=int32, {D})"),
    ("F.full_like(Tensor([1.,2.]), 7)", f"Tensor([7. 7.], {D})"),
    ("F.zeros_like(Tensor([1,2]))", f"Tensor([0 0], dtype=int32, {D})"),
    ("F.ones_like(Tensor([1], dtype='int8'))", f"Tensor([1], dtype=int8, {D})"),          # venv
    ("F.arange(5)", f"Tensor([0. 1. 2. 3. 4.], {D})"),
    ("F.arange(5, dtype='int32')", f"Tensor([0 1 2 3 4], dtype=int32, {D})"),
    ("F.linspace(0, 10, 3)", f"Tensor([ 0.  5. 10.], {D})"),
    ("F.norm(Tensor([3, 4]))", f"Tensor(5.0, {D})"),                                       # venv
    ("F.norm(Tensor([3., -4.]), ord=0)", f"Tensor(2, dtype=int32, {D})"),
    ("F.logsumexp(Tensor([1, 2]), axis=0)", f"Tensor(2.3132617, {D})"),                     # venv
    ("F.nn.square_loss(Tensor([1, 2]), Tensor([1, 4]))", f"Tensor(2.0, {D})"),             # venv
    ("F.nn.l1_loss(Tensor([1, 2]), Tensor([1, 4]))", f"Tensor(1.0, {D})"),                 # venv
    ("F.isnan(Tensor([1, 2]))", f"Tensor([False False], dtype=bool, {D})"),               # venv
    ("F.equal(Tensor([1, 2]), 1.0)", f"Tensor([ True False], dtype=bool, {D})"),          # venv
    ("F.atan2(Tensor([1]), Tensor([1]))", f"Tensor([0.7854], {D})"),                       # venv
    ("F.floor_div(Tensor([7]), 2.0)", f"Tensor([3.], {D})"),                               # venv
    ("F.mod(Tensor([7]), 2.5)", f"Tensor([2.], {D})"),                                     # venv
    ("F.logical_xor(Tensor([True, False]), Tensor([True, True]))", f"Tensor([False  True], dtype=bool, {D})"),
]


@pytest.mark.parametrize("expr, expected", FUNCTIONS)
def test_function_dtypes(expr, expected):
    assert repr(_eval(expr)) == expected


def test_construction_narrows_64_bit():
    assert Tensor(np.array([1., 2.], dtype=np.float64)).dtype == np.float32
    assert Tensor(np.array([1, 2], dtype=np.int64)).dtype == np.int32
    assert Tensor(np.array([1, 2], dtype=np.uint8)).dtype == np.uint8
    assert Tensor(2 ** 20).dtype == np.int32


def test_numpy_float64_operands_do_not_widen():
    # MegEngine refuses float64 NumPy operands ("unsupported numpy dtype"); graphc accepts them but keeps
    # MegEngine's no-float64 rule: the result is float32.
    assert (Tensor([1.5]) + np.float64(1)).dtype == np.float32
    assert (Tensor([1]) + np.array([1.5])).dtype == np.float32


@pytest.mark.parametrize("expr", [
    "Tensor([200], dtype='uint8') + Tensor([1], dtype='int8')",     # different signedness is undefined
    "Tensor([1], dtype='uint8') + Tensor([1], dtype='int32')",
    "Tensor([1], dtype='uint8') + Tensor([1], dtype='int16')",
    "F.concat([Tensor([1], dtype='uint8'), Tensor([2], dtype='int8')])",
    "Tensor([True, False]) + Tensor([True, True])",                 # no arithmetic on bools
    "Tensor([True, False]) * Tensor([True, True])",
    "-Tensor([True, False])",
    "F.abs(Tensor([True]))",
    "Tensor([3]) & Tensor([1])",                                    # logical ops need bools
    "~Tensor([1])",
])
def test_refused_dtypes(expr):
    # MegEngine raises RuntimeError/TypeError here; graphc's DTypeError is a TypeError.
    with pytest.raises(graphc.DTypeError):
        _eval(expr)


def test_python_int_wraps_to_tensor_dtype():
    # MegEngine 1.13: a Python scalar takes the tensor's dtype and wraps.
    assert repr(Tensor([1], dtype="int8") + 1000) == f"Tensor([-23], dtype=int8, {D})"
    assert repr(Tensor([100], dtype="int8") + 100) == f"Tensor([-56], dtype=int8, {D})"


def test_list_operand_takes_tensor_dtype():
    # MegEngine 1.13: `Tensor([1]) + [1.5, 2.5]` converts the list to int32.
    assert repr(Tensor([1]) + [1.5, 2.5]) == f"Tensor([2 3], dtype=int32, {D})"
