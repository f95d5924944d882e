"""Devices named as MegEngine names them: xpux (GPU when available, else CPU), cpuN, gpuN."""
from __future__ import annotations

import functools
import re

from .ir.errors import DeviceError
from .ir.location import user_location
from .runtime.arrays import array_module, gpu_missing, gpu_usable

_PATTERN = re.compile(r"^(xpu|cpu|gpu)(x|\d+)(?::(\d+))?$")


@functools.lru_cache(maxsize=1)
def is_cuda_available() -> bool:
    """True when CuPy is installed and sees at least one CUDA device."""
    return gpu_usable()


class Device:
    """A logical device name (what reprs show) and the physical device it runs on."""

    __slots__ = ("name", "kind", "index", "xp")

    def __init__(self, name: str) -> None:
        m = _PATTERN.match(name)
        if not m:
            raise DeviceError(f"unknown device {name!r}: expected xpux, cpux, gpux, cpuN or gpuN")
        family, num, stream = m.groups()
        self.name = f"{family}{num}:{stream or 0}"
        self.kind = "gpu" if family == "gpu" or (family == "xpu" and is_cuda_available()) else "cpu"
        if self.kind == "gpu" and not is_cuda_available():
            raise DeviceError(f"device {name!r} needs a CUDA GPU with CuPy, and none is available: {gpu_missing()}")
        self.index = 0 if num == "x" else int(num)
        self.xp = array_module(self.kind)

    @property
    def physical(self) -> str:
        """The device that executes, e.g. cpu0 or gpu0."""
        return f"{self.kind}{self.index}"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):   # as MegEngine: a name that is no device compares unequal
            try:
                other = get_device(other)
            except DeviceError:
                return False
        return isinstance(other, Device) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


@functools.lru_cache(maxsize=64)
def _device(name: str) -> Device:
    return Device(name)


_default = ["xpux"]


def get_device(spec: object = None) -> Device:
    """The Device for a name, a Device, or None (the default device)."""
    if spec is None:
        return _device(_default[0])
    if isinstance(spec, Device):
        return spec
    if not isinstance(spec, str):
        raise DeviceError(f"unknown device {spec!r}")
    return _device(spec)


def get_default_device() -> str:
    """The default device's name, as MegEngine reports it."""
    return _default[0]


def set_default_device(device: str = "xpux") -> None:
    """Make `device` the default for new Tensors."""
    try:
        get_device(device)
    except DeviceError as e:
        raise DeviceError(f"set_default_device: {e} (at {user_location()})") from None
    _default[0] = device
