"""Row-major matrix products as column-major BLAS calls (cuBLAS's convention); no GPU needed here.

cuBLAS reads matrices column-major. A row-major m x n matrix with row stride ld is, read column-major,
its n x m transpose with leading dimension ld; so the row-major product C = a @ b is computed as
C^T = b^T @ a^T, with `b` as the call's first operand and C written column-major n x m (row-major
m x n). A transposed view (F-contiguous) is read with the transpose flag instead of being copied; an
operand that is neither C- nor F-contiguous has to be copied first.
"""
from __future__ import annotations

from dataclasses import dataclass

OP_N, OP_T = 0, 1   # cublasOperation_t


@dataclass(frozen=True)
class GemmCall:
    """gemm(transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) with A = b's and B = a's memory."""

    transa: int
    transb: int
    m: int
    n: int
    k: int
    lda: int
    ldb: int
    ldc: int


def operand_layout(x) -> str | None:
    """'row' for a C-contiguous 2-D array, 'col' for an F-contiguous one (a transposed view), else None."""
    if x.flags.c_contiguous:
        return "row"
    if x.flags.f_contiguous:
        return "col"
    return None


def gemm_call(a_layout: str, a_shape: tuple[int, int], b_layout: str, b_shape: tuple[int, int]) -> GemmCall:
    """The column-major call computing the row-major (m, n) product of a (m, k) and b (k, n)."""
    (m, k), (k2, n) = a_shape, b_shape
    if k != k2:
        raise ValueError(f"gemm: shapes {a_shape} and {b_shape} do not match")
    # b row-major is b^T column-major (n x k, ld n); b F-contiguous is b itself (k x n, ld k).
    transa, lda = (OP_N, n) if b_layout == "row" else (OP_T, k)
    # a row-major is a^T column-major (k x m, ld k); a F-contiguous is a itself (m x k, ld m).
    transb, ldb = (OP_N, k) if a_layout == "row" else (OP_T, m)
    return GemmCall(transa, transb, n, m, k, max(1, lda), max(1, ldb), max(1, n))
