"""The row-major -> column-major mapping of matrix products that runtime/gpu_blas.py hands to cuBLAS,
checked on the CPU: a NumPy emulation of BLAS gemm (column-major, leading dimensions, transpose flags)
reads the operands' raw memory exactly as cuBLAS would, and must reproduce a @ b."""
from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

from graphc.runtime.gpu.gemm_layout import OP_N, OP_T, gemm_call, operand_layout


def _column_major(memory: np.ndarray, rows: int, cols: int, ld: int) -> np.ndarray:
    """The rows x cols column-major matrix with leading dimension ld stored in `memory`."""
    assert ld >= max(1, rows), "BLAS requires ld >= rows"
    size = memory.itemsize
    return as_strided(memory, (rows, cols), (size, ld * size), writeable=False)


def _memory(x: np.ndarray) -> np.ndarray:
    """x's elements in memory order (what a device pointer to x sees)."""
    assert x.flags.c_contiguous or x.flags.f_contiguous
    return np.ravel(x, order="K")


def emulate_gemm(c, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """BLAS C = op(A) @ op(B) on raw memory; returns C's memory read back as the row-major result."""
    a_rows, a_cols = (c.m, c.k) if c.transa == OP_N else (c.k, c.m)
    b_rows, b_cols = (c.k, c.n) if c.transb == OP_N else (c.n, c.k)
    opa = _column_major(A, a_rows, a_cols, c.lda)
    opb = _column_major(B, b_rows, b_cols, c.ldb)
    opa = opa if c.transa == OP_N else opa.T
    opb = opb if c.transb == OP_N else opb.T
    out = np.full(c.ldc * c.n, np.nan)
    _column_major(out, c.m, c.n, c.ldc)  # validates ldc
    for j in range(c.n):
        out[j * c.ldc:j * c.ldc + c.m] = opa @ opb[:, j]
    # C is n x m column-major with ldc = n: row-major (m, n) memory.
    return out[:c.m * c.n].reshape(c.n, c.m)


def _operand(rng, shape, layout: str) -> np.ndarray:
    if layout == "row":
        return rng.standard_normal(shape)
    if layout == "col":                       # a transposed view of a row-major array
        return rng.standard_normal(shape[::-1]).T
    return rng.standard_normal((shape[0], 2 * shape[1]))[:, ::2]   # strided: neither


@pytest.mark.parametrize("m,k,n", [(3, 4, 5), (1, 4, 5), (3, 1, 5), (3, 4, 1), (1, 1, 1), (7, 2, 3)])
@pytest.mark.parametrize("la", ["row", "col"])
@pytest.mark.parametrize("lb", ["row", "col"])
def test_gemm_call_reproduces_the_row_major_product(m, k, n, la, lb):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a, b = _operand(rng, (m, k), la), _operand(rng, (k, n), lb)
    # Arrays with a dimension of 1 are both C- and F-contiguous: the mapping must hold either way.
    call = gemm_call(operand_layout(a), a.shape, operand_layout(b), b.shape)
    got = emulate_gemm(call, _memory(b), _memory(a))
    np.testing.assert_allclose(got, a @ b, rtol=1e-12)


def test_transposed_views_use_the_transpose_flag_not_a_copy():
    a = np.ones((5, 3)).T          # F-contiguous (3, 5)
    b = np.ones((5, 4))
    assert operand_layout(a) == "col" and operand_layout(b) == "row"
    call = gemm_call("col", a.shape, "row", b.shape)
    assert (call.transa, call.transb) == (OP_N, OP_T)
    assert (call.m, call.n, call.k, call.lda, call.ldb, call.ldc) == (4, 3, 5, 4, 3, 4)


def test_strided_operands_are_reported_for_copying():
    x = _operand(np.random.default_rng(0), (4, 3), "strided")
    assert operand_layout(x) is None


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        gemm_call("row", (2, 3), "row", (4, 5))
