"""Tensor creation: zeros, ones, full, arange, linspace, eye, the *_like forms and copy."""
from __future__ import annotations

import numpy as np

from ..device import get_device
from ..ir.dtypes import as_dtype, default_dtype, float32
from ..ir.errors import ShapeError
from ..ir.location import user_location
from ..ir.symbols import is_static
from ..tensors import Tensor, _checked, _ints, apply1, as_tensor, static_scalar


def _make(arr: np.ndarray, dtype, device) -> Tensor:
    return Tensor(arr, dtype=float32 if dtype is None else as_dtype(dtype), device=device)


def _filled(op: str, shape: tuple, value, dtype, device) -> Tensor:
    """`value` in `shape`, made directly in `dtype` on `device` (no float64 array first); a shape with
    symbolic sizes (inside a trace) broadcasts the one value."""
    dev = _checked(op, get_device, device)
    d = _checked(op, as_dtype, dtype)
    if not is_static(shape):
        return apply1("broadcast_to", [Tensor._wrap(dev.xp.asarray(value, dtype=d), dev)], shape=shape)
    return Tensor._wrap(dev.xp.full(shape, value, dtype=d), dev)


def zeros(shape, dtype="float32", device=None) -> Tensor:
    """A tensor of zeros."""
    return _filled("zeros", _ints(shape, "zeros"), 0, float32 if dtype is None else dtype, device)


def ones(shape, dtype="float32", device=None) -> Tensor:
    """A tensor of ones."""
    return _filled("ones", _ints(shape, "ones"), 1, float32 if dtype is None else dtype, device)


def full(shape, value, dtype=None, device=None) -> Tensor:
    """A tensor filled with value (dtype from the value when not given: int32, float32 or bool)."""
    if dtype is None:
        dtype = _checked("full", default_dtype, np.asarray(value))
    return _filled("full", _ints(shape, "full"), value, dtype, device)


def zeros_like(inp: Tensor) -> Tensor:
    """Zeros of inp's shape, dtype and device."""
    return _filled("zeros_like", inp.shape, 0, inp.dtype, inp.device)


def ones_like(inp: Tensor) -> Tensor:
    """Ones of inp's shape, dtype and device."""
    return _filled("ones_like", inp.shape, 1, inp.dtype, inp.device)


def full_like(inp: Tensor, value) -> Tensor:
    """value in inp's shape, dtype and device."""
    return _filled("full_like", inp.shape, value, inp.dtype, inp.device)


def arange(start=0, stop=None, step=1, dtype="float32", device=None) -> Tensor:
    """Evenly spaced values in [start, stop); the bounds may be one-element Tensors."""
    start, stop, step = (static_scalar(v) for v in (start, stop, step))
    if stop is None:
        start, stop = 0, start
    return _make(np.arange(start, stop, step, dtype=np.float64), dtype, device)


def linspace(start, stop, num, dtype="float32", device=None) -> Tensor:
    """num evenly spaced values from start to stop inclusive; each may be a one-element Tensor."""
    start, stop, num = (static_scalar(v) for v in (start, stop, num))
    return _make(np.linspace(start, stop, int(num)), dtype, device)


def eye(N, M=None, dtype="float32", device=None) -> Tensor:
    """An N x M matrix with ones on the diagonal (N may be a shape of one or two sizes)."""
    if isinstance(N, (tuple, list)) or (isinstance(N, Tensor) and N.ndim):
        dims = _ints(N)
        if len(dims) not in (1, 2):
            raise ShapeError(f"eye: shape must have one or two sizes, got {dims} (at {user_location()})")
        N, M = dims if len(dims) == 2 else (dims[0], None)
    N, M = int(static_scalar(N)), None if M is None else int(static_scalar(M))
    return _make(np.eye(N, M), dtype, device)


def copy(inp, device=None) -> Tensor:
    """A copy of inp (on `device` when given)."""
    x = as_tensor(inp)
    if device is not None and x.device != device:
        return x.to(device)
    return apply1("copy", [x])
