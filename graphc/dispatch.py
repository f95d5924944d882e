"""Applying an op to Tensors: eager execution, tape recording for GradManager, or tracing."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .device import get_device
from .ir import FORWARD, REGISTRY, OpDef
from .ir.dtypes import float_of, promote, scalar_dtype
from .ir.errors import DeviceError, GraphcError, GraphcIndexError, ShapeError, with_context
from .ir.location import user_location

# graphc.tensor sets this when it is imported (tensor.py builds on this module, hence the late binding).
Tensor: type = None  # type: ignore[assignment]


class State:
    """Process-wide front-end state: the active trace and the recording tapes."""

    tracing = None            # the jit.Trace being built, or None
    tapes: list = []          # eager tapes of recording GradManagers
    role = FORWARD            # the role of nodes a trace records now (forward, gradient, update)


class role:
    """Context manager: nodes traced inside get this role (optimizer steps use UPDATE)."""

    def __init__(self, r: str) -> None:
        self.r = r

    def __enter__(self) -> None:
        self.prev, State.role = State.role, self.r

    def __exit__(self, *exc) -> None:
        State.role = self.prev


def apply(opname: str, inputs: Sequence, attrs: dict | None = None, device=None) -> list:
    """Apply op `opname` to Tensors; returns the output Tensors."""
    op = REGISTRY[opname]
    attrs = attrs or {}
    if State.tracing is not None:
        return State.tracing.apply(op, inputs, attrs, device)
    dev = inputs[0]._device if inputs else get_device(device)
    for t in inputs:
        if t._device is not dev and t._device != dev:
            raise DeviceError(f"{opname}: operands are on different devices {dev} and {t._device} "
                              f"(at {user_location()})")
    arrays = [t._data for t in inputs]
    outs = run_eager(op, arrays, attrs, dev.xp)
    wrap = Tensor._wrap
    tensors = [wrap(a, dev) for a in outs]
    if State.tapes:
        for tape in State.tapes:
            tape.record(op, attrs, inputs, tensors)
    return tensors


_INFERRED: dict[tuple, list] = {}      # (op name, input types) -> output types, for attribute-free ops
_INFERRED_MAX = 4096


def _infer(op: OpDef, arrays: list, attrs: dict) -> list:
    """The op's output types; a training loop repeats the same few, so attribute-free ones are cached."""
    types_in = [(a.shape, a.dtype) for a in arrays]
    key = (op.name, *types_in) if not attrs else None
    types = _INFERRED.get(key) if key else None
    if types is None:
        try:
            types = op.infer(types_in, attrs)
        except GraphcError as e:
            raise with_context(e, op.name, user_location()) from None
        if key and len(_INFERRED) < _INFERRED_MAX:
            _INFERRED[key] = types
    return types


def run_eager(op: OpDef, arrays: list, attrs: dict, xp) -> list:
    """Infer (for errors with the user's line), run the kernel and normalize its results."""
    types = _infer(op, arrays, attrs)
    try:
        with np.errstate(all="ignore"):  # as MegEngine: inf and nan results, no warnings
            r = op.kernel(xp, *arrays, **attrs)
    except IndexError as e:
        raise GraphcIndexError(f"{op.name}: {e} (at {user_location()})") from None
    except ValueError as e:
        raise ShapeError(f"{op.name}: {e} (at {user_location()})") from None
    outs = [r] if len(types) == 1 else list(r)
    for i, (a, (_, dtype)) in enumerate(zip(outs, types)):
        if type(a) is not np.ndarray and not hasattr(a, "__cuda_array_interface__"):
            a = xp.asarray(a)
        if a.dtype != dtype:
            a = a.astype(dtype)
        outs[i] = a
    return outs


def apply1(opname: str, inputs: Sequence, **attrs):
    """Apply a single-output op."""
    return apply(opname, inputs, attrs)[0]


def as_tensor(x, like=None):
    """A Tensor for x; Python scalars take their dtype from `like` (MegEngine's weak scalars)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float, bool, np.number, np.bool_)):
        # astype wraps out-of-range Python ints (int8 + 1000 -> -23) where asarray(dtype=) refuses them.
        arr = np.asarray(x).astype(scalar_dtype(x, like.dtype))
        return Tensor._wrap(like._device.xp.asarray(arr), like._device)
    if like is not None and isinstance(x, (list, tuple)):  # as MegEngine: lists take the tensor's dtype
        return Tensor(np.asarray(x), dtype=like.dtype, device=like._device)
    return Tensor(x, device=None if like is None else like._device)


def cast(t, dtype):
    """t converted to dtype (no node when it already has it)."""
    if t.dtype == dtype:
        return t
    return apply1("astype", [t], dtype=str(np.dtype(dtype)))


def binary(opname: str, a, b, float_result: bool = False):
    """Elementwise binary op with MegEngine's promotion of tensors and Python scalars."""
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            b = as_tensor(b)
        a = as_tensor(a, like=b)
    elif not isinstance(b, Tensor):
        b = as_tensor(b, like=a)
    da, db = a._meta().dtype, b._meta().dtype
    try:
        d = da if da == db else promote(da, db)
    except GraphcError as e:
        raise with_context(e, opname, user_location()) from None
    if float_result:
        d = float_of(d)
    return apply(opname, [cast(a, d), cast(b, d)])[0]
