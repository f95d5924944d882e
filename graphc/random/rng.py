"""Random generators with a key tensor: (seed, counter), read by each random op and advanced after it."""
from __future__ import annotations

import secrets

import numpy as np

from ..device import Device, get_device
from ..ir.dtypes import as_dtype
from ..ir.errors import ArgumentError
from ..ir.location import user_location
from ..state import State
from ..tensors import Tensor, _ints, apply, apply1, as_tensor

_STEP = np.array([0, 1], np.int32)


class RNG:
    """A random number generator with its own seed (MegEngine's megengine.random.RNG)."""

    def __init__(self, seed: int | None = None, device=None) -> None:
        self._device: Device | None = None if device is None else get_device(device)   # None: the default
        self._seed = _seed_value(seed)
        self._keys: dict[str, Tensor] = {}

    def _key(self, device: Device) -> Tensor:
        """This generator's key on `device` (captured as a state when a trace reads it)."""
        key = self._keys.get(device.name)
        if key is None:
            key = self._keys[device.name] = Tensor(np.array([self._seed, 0], np.int32), device=device)
            key._qualname = "rng_key"
        if State.tracing is not None:
            State.tracing.capture(key)
        return key

    def _draw(self, opname: str, attrs: dict, device: Device | None = None) -> Tensor:
        key = self._key(device or self._device or get_device(None))
        out = apply(opname, [key], attrs)[0]
        key._assign(apply1("add", [key, Tensor(_STEP, device=key.device)]))
        return out

    def uniform(self, low: float = 0.0, high: float = 1.0, size=None) -> Tensor:
        """Samples from the uniform distribution on [low, high), float32."""
        return self._draw("uniform", {"shape": _size(size), "low": _number(low), "high": _number(high)})

    def normal(self, mean: float = 0.0, std: float = 1.0, size=None) -> Tensor:
        """Samples from the normal distribution N(mean, std**2), float32."""
        if std < 0:
            raise ArgumentError(f"normal: std must not be negative, got {std} (at {user_location()})")
        return self._draw("normal", {"shape": _size(size), "mean": _number(mean), "std": _number(std)})

    def permutation(self, n, *, dtype="int32") -> Tensor:
        """A random permutation of range(n), or of the first axis of the tensor n."""
        if isinstance(n, Tensor):
            return n[self.permutation(n.shape[0])]
        return self._draw("permutation", {"n": int(n), "dtype": str(as_dtype(dtype))})

    def shuffle(self, inp: Tensor) -> None:
        """Shuffle the tensor in place along its first axis."""
        inp._assign(self.permutation(inp))


def _seed_value(seed: int | None) -> int:
    """A seed as an int32 (a fresh random one when None)."""
    s = secrets.randbits(31) if seed is None else int(seed)
    return int(np.array(s & 0xFFFFFFFF, np.uint32).view(np.int32))


def _size(size) -> tuple[int, ...]:
    return () if size is None else _ints(size)


def _number(x) -> float:
    return float(x.item() if isinstance(x, Tensor) else x)


_global = [RNG()]   # as MegEngine: a fresh seed per process until seed() is called


def seed(seed: int) -> None:
    """Reset the global generator to `seed` (its draws repeat from the start)."""
    _global[0] = RNG(seed=seed)


def _default() -> RNG:
    return _global[0]


def uniform(low: float = 0.0, high: float = 1.0, size=None) -> Tensor:
    """Samples from the global generator's uniform distribution on [low, high)."""
    return _default().uniform(low, high, size)


def normal(mean: float = 0.0, std: float = 1.0, size=None) -> Tensor:
    """Samples from the global generator's normal distribution N(mean, std**2)."""
    return _default().normal(mean, std, size)


def permutation(n, *, dtype="int32") -> Tensor:
    """A random permutation from the global generator."""
    return _default().permutation(n, dtype=dtype)


def shuffle(inp: Tensor) -> None:
    """Shuffle in place along the first axis with the global generator."""
    _default().shuffle(as_tensor(inp))


def default_rng() -> RNG:
    """The global generator (F.nn.dropout draws from it)."""
    return _default()
