"""graphc: a static computation-graph compiler with MegEngine's API.

The layers import one way: graphc.ir <- graphc.passes <- graphc.runtime <- the front end (Tensor,
functional, autodiff, optimizer, jit, viz, cli). The front end's names are loaded on first use (PEP 562),
so importing graphc, or any lower layer, loads nothing above what it needs.
"""
from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

# name -> (module, attribute); attribute None: the module itself.
_EXPORTS = {
    "Tensor": ("graphc.tensors", "Tensor"),
    "Parameter": ("graphc.tensors", "Parameter"),
    "tensor": ("graphc.tensors", "Tensor"),          # as MegEngine: graphc.tensor is graphc.Tensor
    "load": ("graphc.saved_plan", "load"),
    "LoadedPlan": ("graphc.saved_plan", "LoadedPlan"),
    "get_default_device": ("graphc.device", "get_default_device"),
    "set_default_device": ("graphc.device", "set_default_device"),
    "is_cuda_available": ("graphc.device", "is_cuda_available"),
    "set_num_threads": ("graphc.runtime.cpu.threads", "set_threads"),
    **{name: ("graphc.ir.errors", name) for name in (
        "GraphcError", "ShapeError", "DTypeError", "AxisError", "GraphcIndexError", "DeviceError", "GraphcTypeError",
        "ArgumentError", "GradError", "TraceError", "PlanFormatError", "CollectiveError", "CollectiveTimeout",
        "CollectiveMismatch", "RemoteRankError")},
    **{name: (f"graphc.{name}", None) for name in (
        "functional", "autodiff", "optimizer", "jit", "viz", "ir", "passes", "runtime", "config", "module",
        "random", "device", "distributed")},
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'graphc' has no attribute {name!r}")
    module = importlib.import_module(target[0])
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value
    return value


class _TensorModule(types.ModuleType):
    """`graphc.tensor` as a module, so `from graphc.tensor import Tensor, Parameter` works as with MegEngine's
    megengine.tensor (graphc/tensors.py, loaded on first use); the package attribute is the Tensor class."""

    def __getattr__(self, name: str) -> object:
        return getattr(importlib.import_module("graphc.tensors"), name)

    def __dir__(self) -> list[str]:
        return dir(importlib.import_module("graphc.tensors"))


sys.modules.setdefault(f"{__name__}.tensor", _TensorModule(f"{__name__}.tensor"))


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
