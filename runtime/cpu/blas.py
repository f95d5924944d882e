"""The BLAS library's threads around graphc's own matrix products, chosen by the product's size as the fused
loops choose theirs: one thread per `config.blas_min_flops` of work, `config.threads` at most, and the
library's own setting given back when the call returns.

NumPy's BLAS starts all its threads for any product above a few thousand elements. For small products
they cost more than they save, and on a busy machine a helper thread waiting for a core stalls the whole
product: a 128x128 float32 product took 0.04 ms on one thread and 30 ms on two while another process kept
both cores of a 2-core machine busy. threadpoolctl finds the library (OpenBLAS, MKL, BLIS, FlexiBLAS under
any symbol prefix) and sets its threads in about a microsecond.

Results never depend on it; the count is a process-wide setting of the library, so plans running in two
threads at once may see each other's count.
"""
from __future__ import annotations

import functools
import operator
import threading

from graphc.config import config
from graphc.ir.symbols import Dim

# Products below this many operations are left to the library's own setting: setting threads around them
# costs about as much as the product (OpenBLAS runs products below 2^19 operations on one thread anyway).
SMALL = 1 << 16

_libraries: list | None = None
_lock = threading.Lock()


def libraries() -> list:
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (looked up once)."""
    global _libraries
    if _libraries is None:
        with _lock:
            if _libraries is None:
                try:
                    # Imported here: a source tree run without an install (a GPU machine offline) lacks it.
                    from threadpoolctl import ThreadpoolController
                    _libraries = ThreadpoolController().select(user_api="blas").lib_controllers
                except Exception:   # no threadpoolctl, or a library it cannot drive: BLAS keeps its setting
                    _libraries = []
    return _libraries


def product_flops(a_shape: tuple, out_shape: tuple, transpose_a: bool = False) -> int | Dim:
    """Floating-point operations of a (batched) matrix or vector product: 2 * output elements * inner size
    (a symbolic size when the shapes have free dimensions)."""
    k = a_shape[-2] if transpose_a else a_shape[-1]
    return functools.reduce(operator.mul, out_shape, 2 * k)


def threads_for(flops: int) -> int | None:
    """BLAS threads for a product of `flops` operations; None below SMALL (the library's own setting)."""
    if flops < SMALL:
        return None
    return max(1, min(config.threads, flops // config.blas_min_flops))


class Scope:
    """A call's BLAS threads: `scope(n)` sets n threads (when not already set); leaving gives back the
    library's previous setting. Does nothing where no BLAS library can be driven."""

    __slots__ = ("libs", "saved", "current")

    def __enter__(self) -> Scope:
        self.libs = libraries()
        self.saved = [lib.get_num_threads() for lib in self.libs]
        self.current = self.saved[0] if self.saved else None
        return self

    def __call__(self, n: int | None) -> None:
        if n is not None and n != self.current and self.libs:
            for lib in self.libs:
                lib.set_num_threads(n)
            self.current = n

    def __exit__(self, *exc) -> None:
        if self.libs and [self.current] * len(self.libs) != self.saved:
            for lib, n in zip(self.libs, self.saved):
                lib.set_num_threads(n)
