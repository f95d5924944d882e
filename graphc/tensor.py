"""Tensor and Parameter: MegEngine's user-facing arrays, eager by default, symbolic while tracing."""
from __future__ import annotations

import itertools

import numpy as np

from . import dispatch
from .device import Device, get_device
from .dispatch import State, apply1, binary
from .ir.dtypes import as_dtype, default_dtype
from .ir.errors import GraphcError, TraceError, with_context
from .ir.location import user_location

_serial = itertools.count()


class Tensor:
    """A multidimensional array on a device; operations on it are recorded when a GradManager records."""

    __slots__ = ("_data", "_sym", "_device", "_serial", "grad", "__weakref__")
    __array_priority__ = 1000  # NumPy defers `ndarray op Tensor` to the Tensor's reflected operator

    def __init__(self, data=None, dtype=None, device=None) -> None:
        op = type(self).__name__
        dev = _checked(op, get_device, device if device is not None or not isinstance(data, Tensor)
                       else data._device)
        if isinstance(data, Tensor):
            arr = data._value()
            if dev is not data._device:
                arr = _move(arr, dev)
            arr = arr if dtype is None else arr.astype(_checked(op, as_dtype, dtype))
        else:
            host = data if hasattr(data, "__cuda_array_interface__") else np.asarray(data)
            d = _checked(op, default_dtype, host) if dtype is None else _checked(op, as_dtype, dtype)
            arr = _move(host, dev).astype(d, copy=dev.kind == "cpu" and host is data)
        self._data = arr
        self._sym = None
        self._device = dev
        self._serial = next(_serial)
        self.grad = None

    @classmethod
    def _wrap(cls, arr, device: Device, sym=None) -> Tensor:
        t = object.__new__(Tensor)
        t._data, t._sym, t._device, t._serial, t.grad = arr, sym, device, next(_serial), None
        return t

    # ---- properties -------------------------------------------------------------------------------
    def _value(self):
        if self._data is None:
            raise TraceError(f"reading the value of a tensor inside a symbolic trace is not possible; "
                             f"return it from the traced function instead (at {user_location()})")
        return self._data

    def _meta(self):
        return self._data if self._data is not None else self._sym

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape, a tuple of ints."""
        return tuple(self._meta().shape)

    @property
    def dtype(self) -> np.dtype:
        """The element type, a numpy dtype."""
        return self._meta().dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self._meta().shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def device(self) -> Device:
        """The device the tensor lives on."""
        return self._device

    def numpy(self) -> np.ndarray:
        """A NumPy copy of the data."""
        a = self._value()
        return a.get() if self._device.kind == "gpu" else np.array(a)

    def item(self):
        """The value of a one-element tensor as a Python scalar."""
        a = self._value()
        if a.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {tuple(a.shape)}")
        return a.item()

    def tolist(self):
        """The data as (nested) Python lists."""
        return self.numpy().tolist()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.size} elements is ambiguous")
        return bool(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        return int(self.item())

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        if self._data is None:
            return f"{type(self).__name__}(<symbolic {self.dtype}{list(self.shape)}>, device={self._device})"
        with np.printoptions(precision=4, suppress=False):
            body = str(self.numpy())
        dt = "" if self.dtype == np.float32 else f", dtype={self.dtype}"
        return f"{type(self).__name__}({body}{dt}, device={self._device})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(self.item(), spec) if spec else repr(self)

    # ---- conversions ----------------------------------------------------------------------------------
    def astype(self, dtype) -> Tensor:
        """A copy converted to dtype."""
        return dispatch.cast(self, _checked("astype", as_dtype, dtype))

    def to(self, device) -> Tensor:
        """A copy on another device."""
        dev = _checked("to", get_device, device)
        return Tensor._wrap(_move(self._value(), dev), dev)

    def detach(self) -> Tensor:
        """The same data, cut off from gradient computation."""
        if self._data is None:
            return apply1("stop_gradient", [self])
        return Tensor._wrap(self._data, self._device)

    # ---- shape methods ----------------------------------------------------------------------------------
    def reshape(self, *shape) -> Tensor:
        """The data viewed with a new shape (one entry may be -1)."""
        from .functional import reshape
        return reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def flatten(self) -> Tensor:
        """The data as a 1-d tensor."""
        return self.reshape(-1)

    def transpose(self, *axes) -> Tensor:
        """Permute axes (reversed when none are given)."""
        from .functional import transpose
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        elif len(axes) == 1 and not isinstance(axes[0], int):
            axes = axes[0]
        return transpose(self, axes)

    @property
    def T(self) -> Tensor:
        """The transpose (axes reversed)."""
        return self.transpose()

    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        """Sum over axes."""
        from .functional import sum
        return sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        """Mean over axes."""
        from .functional import mean
        return mean(self, axis, keepdims)

    def max(self, axis=None, keepdims: bool = False) -> Tensor:
        """Maximum over axes."""
        from .functional import max
        return max(self, axis, keepdims)

    def min(self, axis=None, keepdims: bool = False) -> Tensor:
        """Minimum over axes."""
        from .functional import min
        return min(self, axis, keepdims)

    def prod(self, axis=None, keepdims: bool = False) -> Tensor:
        """Product over axes."""
        from .functional import prod
        return prod(self, axis, keepdims)

    # ---- indexing ------------------------------------------------------------------------------------------
    def __getitem__(self, key) -> Tensor:
        from .functional.indexing import getitem
        return getitem(self, key)

    def __setitem__(self, key, value) -> None:
        from .functional.indexing import setitem
        # As MegEngine, `x[...] = v` replaces the value wholesale (v's shape and dtype); other keys
        # write into the selection, keeping x's shape and dtype.
        self._assign(dispatch.as_tensor(value, like=self) if key is Ellipsis else setitem(self, key, value))

    def _assign(self, new: Tensor) -> None:
        """Make this tensor object hold `new`'s value (a recorded functional update)."""
        if State.tracing is not None:
            State.tracing.assign(self, new)
            return
        self._data = new._data
        for tape in State.tapes:
            tape.rebind(self, new)

    # ---- arithmetic ----------------------------------------------------------------------------------
    def __add__(self, o): return binary("add", self, o)
    def __radd__(self, o): return binary("add", o, self)
    def __sub__(self, o): return binary("sub", self, o)
    def __rsub__(self, o): return binary("sub", o, self)
    def __mul__(self, o): return binary("mul", self, o)
    def __rmul__(self, o): return binary("mul", o, self)
    def __truediv__(self, o): return binary("div", self, o, float_result=True)
    def __rtruediv__(self, o): return binary("div", o, self, float_result=True)
    def __floordiv__(self, o): return binary("floor_div", self, o)
    def __rfloordiv__(self, o): return binary("floor_div", o, self)
    def __mod__(self, o): return binary("mod", self, o)
    def __rmod__(self, o): return binary("mod", o, self)
    def __pow__(self, o):
        from .functional import pow
        return pow(self, o)
    def __rpow__(self, o):
        from .functional import pow
        return pow(o, self)
    def __matmul__(self, o):
        from .functional import matmul
        return matmul(self, o)
    def __rmatmul__(self, o):
        from .functional import matmul
        return matmul(o, self)
    def __neg__(self): return apply1("neg", [self])
    def __pos__(self): return self
    def __abs__(self): return apply1("abs", [self])
    def __invert__(self): return apply1("logical_not", [self])
    def __and__(self, o): return binary("logical_and", self, o)
    def __or__(self, o): return binary("logical_or", self, o)
    def __xor__(self, o): return binary("logical_xor", self, o)
    def __eq__(self, o): return binary("equal", self, o)
    def __ne__(self, o): return binary("not_equal", self, o)
    def __lt__(self, o): return binary("less", self, o)
    def __le__(self, o): return binary("less_equal", self, o)
    def __gt__(self, o): return binary("greater", self, o)
    def __ge__(self, o): return binary("greater_equal", self, o)

    def __round__(self, ndigits=None):
        from .functional import round
        if ndigits is not None:
            raise TypeError("round() of a Tensor takes no ndigits")
        return round(self)

    def __floor__(self):
        from .functional import floor
        return floor(self)

    def __ceil__(self):
        from .functional import ceil
        return ceil(self)

    # In-place operators rebind this tensor object to the result, as MegEngine's (aliases see it).
    def _inplace(self, result) -> Tensor:
        self._assign(result)
        return self

    def __iadd__(self, o): return self._inplace(self + o)
    def __isub__(self, o): return self._inplace(self - o)
    def __imul__(self, o): return self._inplace(self * o)
    def __itruediv__(self, o): return self._inplace(self / o)
    def __ifloordiv__(self, o): return self._inplace(self // o)
    def __imod__(self, o): return self._inplace(self % o)
    def __ipow__(self, o): return self._inplace(self ** o)
    def __imatmul__(self, o): return self._inplace(self @ o)
    def __iand__(self, o): return self._inplace(self & o)
    def __ior__(self, o): return self._inplace(self | o)
    def __ixor__(self, o): return self._inplace(self ^ o)


class Parameter(Tensor):
    """A Tensor that an optimizer may update."""

    __slots__ = ()


def _checked(op: str, fn, arg):
    """fn(arg), with a dtype or device error naming `op` and the user's line."""
    try:
        return fn(arg)
    except GraphcError as e:
        raise with_context(e, op, user_location()) from None


dispatch.Tensor = Tensor


def _move(arr, dev: Device):
    """`arr` on device `dev` (no copy when it is already there)."""
    if dev.kind == "gpu":
        return dev.xp.asarray(arr)
    return arr.get() if hasattr(arr, "__cuda_array_interface__") else arr
