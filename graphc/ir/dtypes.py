"""Dtype names and MegEngine's promotion rules (no int64/float64 by default, ints/ints -> float32)."""
import numpy as np

from .errors import DTypeError
from .location import user_location

bool_ = np.dtype(np.bool_)
uint8 = np.dtype(np.uint8)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)

SUPPORTED = (bool_, uint8, int8, int16, int32, float16, float32, float64)
_NARROW = {np.dtype(np.int64): int32, np.dtype(np.uint16): int32, np.dtype(np.uint32): int32,
           np.dtype(np.uint64): int32, float64: float32}


def as_dtype(dt: object) -> np.dtype:
    """Canonical numpy dtype for a user-given dtype (name, type or dtype); refuses unsupported ones."""
    try:
        d = np.dtype(dt)
    except TypeError:
        raise DTypeError(f"unknown dtype {dt!r}") from None
    if d == np.dtype(np.int64):
        return int32
    if d not in SUPPORTED:
        raise DTypeError(f"dtype {d} is not supported (supported: {', '.join(map(str, SUPPORTED))})")
    return d


def default_dtype(arr: np.ndarray) -> np.dtype:
    """The dtype MegEngine gives a Tensor built from this array without an explicit dtype."""
    d = arr.dtype
    if d in SUPPORTED and d != float64:
        return d
    if d in _NARROW:
        return _NARROW[d]
    if d.kind in "iu":
        return int32
    if d.kind == "f":
        return float32
    raise DTypeError(f"cannot make a Tensor from data of dtype {d}")


def is_int(d: np.dtype) -> bool:
    """True for (signed or unsigned) integer dtypes."""
    return d.kind in "iu"


def promote(*dts: np.dtype) -> np.dtype:
    """Result dtype of an elementwise op over tensors of these dtypes (MegEngine's rules).

    Floats win (float16 meeting a non-float tensor computes in float32); bool meeting a number gives
    float32; integers of one signedness widen; unsigned meeting signed integers is refused.
    """
    first = dts[0]
    if all(d == first for d in dts):
        return first
    floats = [d for d in dts if d.kind == "f"]
    if floats:
        wide = max(floats, key=lambda d: d.itemsize)
        # As MegEngine: float16 meeting an integer or bool tensor computes in float32.
        return float32 if wide == float16 and len(floats) < len(dts) else wide
    if any(d.kind == "b" for d in dts):
        return float32 if any(d.kind in "iu" for d in dts) else bool_
    ints = [d for d in dts if d.kind in "iu"]
    if len({d.kind for d in ints}) > 1:
        raise DTypeError("dtype promotion between different signedness is undefined: "
                         + ", ".join(str(d) for d in ints) + f" (at {user_location()})")
    r = np.result_type(*ints)
    return r if r in SUPPORTED else int32


def scalar_dtype(value: object, other: np.dtype) -> np.dtype:
    """Dtype a Python scalar takes when combined with a tensor of dtype `other` (weak typing)."""
    if isinstance(value, (bool, np.bool_)):
        return other
    if isinstance(value, (int, np.integer)):
        # As MegEngine: a bool tensor meeting a Python int computes in float32.
        return other if other.kind != "b" else float32
    if isinstance(value, (float, np.floating)):
        return other if other.kind == "f" else float32
    raise DTypeError(f"unsupported scalar {value!r} of type {type(value).__name__}")


def float_of(d: np.dtype) -> np.dtype:
    """The float dtype a true division or transcendental function of dtype `d` yields."""
    return d if d.kind == "f" else float32
