"""Tensor and Parameter, MegEngine's user-facing arrays (eager by default, symbolic while tracing), and
applying an op to them: run at once, recorded on the tapes of recording GradManagers, or traced."""
from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence

import numpy as np

from .device import Device, get_device
from .eager import run_eager
from .indexing import is_full, translate
from .ir import REGISTRY
from .ir.dtypes import as_dtype, default_dtype, float_of, int32, promote, scalar_dtype
from .ir.errors import (
    ArgumentError,
    AxisError,
    DeviceError,
    DTypeError,
    GraphcError,
    GraphcTypeError,
    ShapeError,
    TraceError,
    with_context,
)
from .ir.location import user_location
from .ir.ops.common import normalize_axes
from .ir.symbols import Dim, prod, quotient
from .state import State

_serial = itertools.count()


class Tensor:
    """A multidimensional array on a device; operations on it are recorded when a GradManager records.

    Tensor(data, dtype, device, name): MegEngine's signature (is_const and no_cache are accepted and change
    nothing here); a Tensor given as data keeps its dtype and device."""

    __slots__ = ("_data", "_sym", "_device", "_serial", "grad", "_name", "_qualname", "__weakref__")
    __array_priority__ = 1000  # NumPy defers `ndarray op Tensor` to the Tensor's reflected operator

    def __init__(self, data=None, dtype=None, device=None, is_const: bool = False, no_cache: bool = False,
                 name: str | None = None) -> None:
        op = type(self).__name__
        if isinstance(data, Tensor):
            # As MegEngine: a Tensor made from a Tensor keeps its dtype and device (astype/to convert).
            if dtype is not None and _checked(op, as_dtype, dtype) != data.dtype:
                raise with_context(DTypeError(f"a tensor of dtype {data.dtype} cannot be given dtype "
                                              f"{np.dtype(dtype)}; use .astype()"), op, user_location())
            if device is not None and _checked(op, get_device, device) != data._device:
                raise with_context(DeviceError(f"a tensor on {data._device} cannot be given device {device}; "
                                               "use .to()"), op, user_location())
            dev, arr = data._device, data._value()
        else:
            dev = _checked(op, get_device, device)
            host = data if hasattr(data, "__cuda_array_interface__") else _host_array(op, data)
            d = _checked(op, default_dtype, host) if dtype is None else _checked(op, as_dtype, dtype)
            arr = _move(host, dev).astype(d, copy=dev.kind == "cpu" and host is data)
        self._data = arr
        self._sym = None
        self._device = dev
        self._serial = next(_serial)
        self.grad = None
        self._name = "" if name is None else str(name)
        self._qualname = None

    @classmethod
    def _wrap(cls, arr, device: Device, sym=None) -> Tensor:
        t = object.__new__(Tensor)
        t._data, t._sym, t._device, t._serial, t.grad = arr, sym, device, next(_serial), None
        t._name, t._qualname = "", None
        return t

    # ---- properties -------------------------------------------------------------------------------
    def _value(self):
        if self._data is None:
            data = State.tracing.argument_value(self) if State.tracing is not None else None
            if data is not None:
                return data
            raise TraceError(f"reading the value of a tensor inside a symbolic trace is not possible "
                             f"(at {user_location()}); return the tensor from the traced function and read it "
                             "after the call, or trace with @trace(symbolic=False), which runs the first call "
                             "eagerly so values can be read then")
        return self._data

    def _meta(self):
        return self._data if self._data is not None else self._sym

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape, a tuple of ints."""
        d = self._data
        return tuple((d if d is not None else self._sym).shape)

    @property
    def dtype(self) -> np.dtype:
        """The element type, a numpy dtype."""
        d = self._data     # read on every op: kept to one attribute lookup when the tensor has a value
        return (d if d is not None else self._sym).dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self._meta().shape)

    @property
    def size(self) -> int | Dim:
        """Number of elements (symbolic inside a trace with symbolic sizes)."""
        return prod(self.shape)

    @property
    def device(self) -> Device:
        """The device the tensor lives on."""
        return self._device

    @property
    def name(self) -> str:
        """The user's name for the tensor ("" when unnamed); printed graphs, pictures and plan files show it."""
        return self._name

    @name.setter
    def name(self, name: str) -> None:
        self._name = str(name)
        if self._sym is not None and self._sym.kind != "const":
            self._sym.name = self._name or None

    def _label(self) -> str | None:
        """The name graphs give this tensor: the user's, else the one a Module gave it (fc.weight)."""
        return self._name or self._qualname

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

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy ufuncs on Tensors give Tensors on the tensor's device, as in MegEngine: ufuncs graphc has
        as ops run as those ops (recorded and traced); others run on the host values."""
        if method != "__call__" or kwargs:
            return NotImplemented
        op = _UFUNC_OPS.get(ufunc.__name__)
        if op is not None and len(inputs) == op.arity:
            return _apply_ufunc(op, inputs)
        host = [t.numpy() if isinstance(t, Tensor) else t for t in inputs]
        r = ufunc(*host)
        return tuple(Tensor(a, device=self._device) for a in r) if isinstance(r, tuple) else \
            Tensor(r, device=self._device)

    # ---- conversions ----------------------------------------------------------------------------------
    def astype(self, dtype) -> Tensor:
        """A copy converted to dtype."""
        return cast(self, _checked("astype", as_dtype, dtype))

    def to(self, device) -> Tensor:
        """A copy on another device."""
        dev = _checked("to", get_device, device)
        return Tensor._wrap(_move(self._value(), dev), dev)

    def detach(self) -> Tensor:
        """The same data, cut off from gradient computation."""
        if self._data is None or State.tracing is not None:   # traced: a barrier node, not a frozen constant
            return apply1("stop_gradient", [self])
        return Tensor._wrap(self._data, self._device)

    # ---- shape methods ----------------------------------------------------------------------------------
    def reshape(self, *shape) -> Tensor:
        """The data viewed with a new shape (one entry may be -1)."""
        target = shape[0] if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape
        new = _reshape_target(self.shape, self.size, target)
        return self if new == self.shape else apply1("reshape", [self], shape=new)

    def flatten(self) -> Tensor:
        """The data as a 1-d tensor."""
        return self.reshape(-1)

    def transpose(self, *axes) -> Tensor:
        """Permute axes (reversed when none are given)."""
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        elif len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = axes[0]
        return apply1("transpose", [self], perm=_ints(axes, "transpose"))

    @property
    def T(self) -> Tensor:
        """The transpose (axes reversed)."""
        return self.transpose()

    def _reduce(self, name: str, axis, keepdims: bool) -> Tensor:
        try:
            axes = normalize_axes(axis, self.ndim)
        except (AxisError, ArgumentError) as e:
            raise with_context(type(e)(f"{e} (shape {self.shape})"), name, user_location()) from None
        return apply1(name, [self], axis=axes, keepdims=bool(keepdims))

    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        """Sum over axes (all when axis is None)."""
        return self._reduce("sum", axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        """Mean over axes."""
        return self._reduce("mean", axis, keepdims)

    def max(self, axis=None, keepdims: bool = False) -> Tensor:
        """Maximum over axes."""
        return self._reduce("max", axis, keepdims)

    def min(self, axis=None, keepdims: bool = False) -> Tensor:
        """Minimum over axes."""
        return self._reduce("min", axis, keepdims)

    def prod(self, axis=None, keepdims: bool = False) -> Tensor:
        """Product over axes."""
        return self._reduce("prod", axis, keepdims)

    # ---- indexing ------------------------------------------------------------------------------------------
    def __getitem__(self, key) -> Tensor:
        spec, arrays = self._index(key)
        if is_full(spec) and not arrays:
            return self
        return apply1("getitem", [self, *arrays], spec=spec)

    def __setitem__(self, key, value) -> None:
        # As MegEngine, `x[...] = v` replaces the value wholesale (v's shape and dtype); other keys
        # write into the selection, keeping x's shape and dtype.
        self._assign(as_tensor(value, like=self) if key is Ellipsis else self._with_item(key, value))

    def _index(self, key) -> tuple[tuple, list[Tensor]]:
        """The getitem spec of `key` and its index operands as int32 tensors on this tensor's device."""
        spec, ops = translate(self.shape, key, _value_or_none, State.tracing is not None, _static_or_array)
        arrays = [cast(k, int32) if isinstance(k, Tensor) else Tensor(k, device=self._device) for k in ops]
        return spec, arrays

    def _with_item(self, key, value) -> Tensor:
        """A copy of this tensor with self[key] replaced by value (the functional form of assignment)."""
        spec, arrays = self._index(key)
        v = cast(as_tensor(value, like=self), self.dtype)
        if not arrays and is_full(spec):
            return v if v.shape == self.shape else apply1("broadcast_to", [v], shape=self.shape)
        return apply1("setitem", [self, v, *arrays], spec=spec, accumulate=False)

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
    def __pow__(self, o): return binary("pow", self, o, float_result=True)
    def __rpow__(self, o): return binary("pow", o, self, float_result=True)
    def __matmul__(self, o): return matmul(self, o)
    def __rmatmul__(self, o): return matmul(o, self)
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

    def _rounded(self, name: str) -> Tensor:
        return self if self.dtype.kind in "iub" else apply1(name, [self])

    def __round__(self, ndigits=None):
        if ndigits is not None:
            raise TypeError("round() of a Tensor takes no ndigits")
        return self._rounded("round")

    def __floor__(self): return self._rounded("floor")
    def __ceil__(self): return self._rounded("ceil")

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


# Printed as MegEngine prints its classes (<class 'graphc.tensor.Tensor'>); graphc.tensor resolves both.
Tensor.__module__ = Parameter.__module__ = "graphc.tensor"


# NumPy ufunc name -> the elementwise op of the same semantics (its OpDef says which ufunc that is).
_UFUNC_OPS = {op.ufunc: op for op in REGISTRY.values() if op.elementwise and op.ufunc and not op.attrs}


def _apply_ufunc(op, inputs) -> Tensor:
    """`op` on a ufunc's operands with MegEngine's promotion; integers go to float32 for float-only ops."""
    if op.arity == 2:
        return binary(op.name, *inputs, float_result=not _takes(op, int32))
    x = as_tensor(inputs[0])
    return apply1(op.name, [x if _takes(op, x.dtype) else cast(x, float_of(x.dtype))])


def _takes(op, dtype: np.dtype) -> bool:
    """True when `op` accepts operands of `dtype`."""
    try:
        op.infer([((), dtype)] * op.arity, {})
    except GraphcError:
        return False
    return True


def _checked(op: str, fn, arg):
    """fn(arg), with a dtype or device error naming `op` and the user's line."""
    try:
        return fn(arg)
    except GraphcError as e:
        raise with_context(e, op, user_location()) from None


def _host_array(op: str, data) -> np.ndarray:
    """`data` as a NumPy array, or an error naming the user's line (ragged nested lists, above all)."""
    try:
        return np.asarray(data)
    except ValueError:
        raise with_context(ShapeError("nested sequences of different lengths (a ragged shape) cannot make a "
                                      "tensor"), op, user_location()) from None


def _move(arr, dev: Device):
    """`arr` on device `dev` (no copy when it is already there)."""
    if dev.kind == "gpu":
        return dev.xp.asarray(arr)
    return arr.get() if hasattr(arr, "__cuda_array_interface__") else arr


def _value_or_none(t: object) -> np.ndarray | None:
    """The host value of a tensor or array, None for a tensor of a symbolic trace."""
    if isinstance(t, Tensor):
        return None if t._data is None else t.numpy()
    return np.asarray(t)


def static_value(t: Tensor) -> np.ndarray:
    """The value of a tensor used as a shape, size or bound (inside a trace: read, and checked at replays)."""
    return State.tracing.read_value(t) if State.tracing is not None else t.numpy()


def static_scalar(x) -> object:
    """A Python number given as a number or a one-element Tensor."""
    return static_value(x).reshape(-1)[0].item() if isinstance(x, Tensor) else x


def _static_or_array(t: object) -> np.ndarray:
    """The value of an index mask or slice bound (a tensor's is read as a static value)."""
    return static_value(t) if isinstance(t, Tensor) else np.asarray(t)


def _ints(shape, op: str = "shape") -> tuple[int | Dim, ...]:
    """A shape or axis list given as an int, a sequence (of ints, symbolic sizes or one-element Tensors) or a
    Tensor, as a tuple of ints (symbolic sizes kept; 2.5 is refused, not truncated)."""
    if isinstance(shape, Tensor):
        shape = static_value(shape).reshape(-1).tolist()
    if isinstance(shape, (int, np.integer, Dim)):
        shape = (shape,)
    try:
        return tuple(s if isinstance(s, Dim) else operator.index(static_scalar(s)) for s in shape)
    except TypeError:
        raise GraphcTypeError(f"{op}: sizes and axes must be integers, got {shape!r} (at {user_location()})") from None


def _reshape_target(shape: tuple[int, ...], size: int, target) -> tuple[int, ...]:
    """The shape `target` names for a tensor of `shape` and `size` elements (one entry may be -1)."""
    new = list(_ints(target, "reshape"))
    if new.count(-1) > 1:
        raise with_context(ShapeError(f"only one dimension of {tuple(new)} may be -1"), "reshape", user_location())
    if -1 in new:
        known = prod(s for s in new if s != -1)
        try:
            new[new.index(-1)] = quotient(size, known, f"reshape of {shape} into {tuple(new)}")
        except ShapeError:
            raise with_context(ShapeError(f"cannot reshape a tensor of shape {shape} into shape {tuple(new)}"),
                               "reshape", user_location()) from None
    return tuple(new)


# ---- applying ops ----------------------------------------------------------------------------------------

def apply(opname: str, inputs: Sequence[Tensor], attrs: dict | None = None, device=None) -> list[Tensor]:
    """Apply op `opname` to Tensors: traced inside a trace, else run at once (and recorded on the tapes)."""
    op = REGISTRY[opname]
    attrs = attrs or {}
    if State.tracing is not None:
        return State.tracing.apply(op, inputs, attrs, device)
    dev = inputs[0]._device if inputs else get_device(device)
    for t in inputs:
        if t._device is not dev or t._data is None:
            if t._data is None:   # a symbolic trace's tensor used outside its trace (exclude_from_trace)
                raise TraceError(f"{opname}: a tensor of a symbolic trace has no value outside the trace "
                                 f"(at {user_location()})")
            if t._device != dev:
                raise DeviceError(f"{opname}: operands are on different devices {dev} and {t._device} "
                                  f"(at {user_location()})")
    outs = run_eager(op, [t._data for t in inputs], attrs, dev.xp)
    tensors = [Tensor._wrap(a, dev) for a in outs]
    for tape in State.tapes:
        tape.record(op, attrs, inputs, tensors)
    return tensors


def apply1(opname: str, inputs: Sequence[Tensor], **attrs) -> Tensor:
    """Apply a single-output op."""
    return apply(opname, inputs, attrs)[0]


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """A Tensor for x; Python scalars and lists take their dtype from `like` (MegEngine's weak scalars)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float, bool, np.number, np.bool_)):
        # astype wraps out-of-range Python ints (int8 + 1000 -> -23) where asarray(dtype=) refuses them.
        arr = np.asarray(x).astype(scalar_dtype(x, like.dtype))
        return Tensor._wrap(like._device.xp.asarray(arr), like._device)
    if like is not None and isinstance(x, (list, tuple)):  # as MegEngine: lists take the tensor's dtype
        return Tensor(np.asarray(x), dtype=like.dtype, device=like._device)
    return Tensor(x, device=None if like is None else like._device)


def cast(t: Tensor, dtype) -> Tensor:
    """t converted to dtype (no node when it already has it)."""
    if t.dtype == dtype:
        return t
    return apply1("astype", [t], dtype=str(np.dtype(dtype)))


def binary(opname: str, a, b, float_result: bool = False) -> Tensor:
    """Elementwise binary op with MegEngine's promotion of tensors and Python scalars."""
    if a is None or b is None:
        raise GraphcTypeError(f"{opname}: the operand is None and is not supported. (at {user_location()})")
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            b = as_tensor(b)
        a = as_tensor(a, like=b)
    elif not isinstance(b, Tensor):
        b = as_tensor(b, like=a)
    da, db = a.dtype, b.dtype
    try:
        d = da if da == db else promote(da, db)
    except GraphcError as e:
        raise with_context(e, opname, user_location()) from None
    if float_result:
        d = float_of(d)
    return apply(opname, [a if da == d else cast(a, d), b if db == d else cast(b, d)])[0]


def matmul(inp1, inp2, transpose_a: bool = False, transpose_b: bool = False) -> Tensor:
    """Matrix product; 1-d operands are treated as a row or column vector and squeezed after."""
    a, b = as_tensor(inp1), as_tensor(inp2)
    d = promote(a.dtype, b.dtype)
    a, b = cast(a, d), cast(b, d)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must not be scalars, got shapes {a.shape} and {b.shape} "
                         f"(at {user_location()})")
    a1, b1 = a.ndim == 1, b.ndim == 1
    shapes = (a.shape, b.shape)
    if a1:
        a = a.reshape(1, -1)
    if b1:
        b = b.reshape(-1, 1)
    try:
        out = apply1("matmul", [a, b], transpose_a=bool(transpose_a and not a1),
                     transpose_b=bool(transpose_b and not b1))
    except ShapeError:
        if not (a1 or b1):
            raise
        # Name the user's shapes, not those of the vectors made 2-d above.
        raise ShapeError(f"matmul: shapes {shapes[0]} and {shapes[1]} do not match for matrix product "
                         f"(at {user_location()})") from None
    if a1 or b1:
        out = out.reshape(out.shape[:-2] + (() if a1 else out.shape[-2:-1]) + (() if b1 else out.shape[-1:]))
    return out
