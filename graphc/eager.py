"""Running one op on arrays at once (eager mode): output types inferred first, so that errors name the op
and the user's line, then the kernel, its results normalized to the inferred dtypes."""
from __future__ import annotations

import numpy as np

from .ir import OpDef
from .ir.errors import GraphcError, GraphcIndexError, ShapeError, with_context
from .ir.location import user_location
from .runtime import fp
from .runtime.cpu import blas

_INFERRED: dict[tuple, list] = {}      # (op, input types, attributes) -> output types
_INFERRED_MAX = 4096


def infer(op: OpDef, arrays: list, attrs: dict) -> list:
    """The op's output types; a training loop repeats the same few, so they are cached (for attributes that
    hash: most are ints, tuples and strings)."""
    types_in = [(a.shape, a.dtype) for a in arrays]
    key = (op, *types_in, *attrs.items())
    try:
        types = _INFERRED.get(key)
    except TypeError:      # an attribute that does not hash (a subgraph, a list)
        key = types = None
    if types is None:
        try:
            types = op.infer(types_in, attrs)
        except GraphcError as e:
            raise with_context(e, op.name, user_location()) from None
        if key and len(_INFERRED) < _INFERRED_MAX:
            _INFERRED[key] = types
    return types


def run_eager(op: OpDef, arrays: list, attrs: dict, xp) -> list:
    """The op's outputs on arrays of module `xp`, each of the dtype inference gives."""
    types = infer(op, arrays, attrs)
    # A matrix product on the CPU runs with the BLAS threads its size calls for (None: left alone).
    threads = None
    if op.family == "linalg" and xp is np:
        threads = blas.threads_for(blas.product_flops(arrays[0].shape, types[0][0], bool(attrs.get("transpose_a"))))
    quiet = fp.quiet()     # as MegEngine: inf and nan results, no warnings
    try:
        if threads:
            with blas.Scope() as scope:
                scope(threads)
                r = op.kernel(xp, *arrays, **attrs)
        else:
            r = op.kernel(xp, *arrays, **attrs)
    except IndexError as e:
        raise GraphcIndexError(f"{op.name}: {e} (at {user_location()})") from None
    except ValueError as e:
        raise ShapeError(f"{op.name}: {e} (at {user_location()})") from None
    finally:
        fp.restore(quiet)
    outs = [r] if len(types) == 1 else list(r)
    for i, (a, (_, dtype)) in enumerate(zip(outs, types)):
        if type(a) is not np.ndarray and not hasattr(a, "__cuda_array_interface__"):
            a = xp.asarray(a)
        if a.dtype != dtype:
            a = a.astype(dtype)
        outs[i] = a
    return outs
