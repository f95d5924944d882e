"""graphc: a static computation-graph compiler with MegEngine's API."""
# The IR layer comes first: passes and runtime, which the front end imports, build on it.
from . import ir  # noqa: I001
from . import autodiff, functional, jit, optimizer, viz
from .device import get_default_device, is_cuda_available, set_default_device
from .ir.errors import (AxisError, DeviceError, DTypeError, GradError, GraphcError, GraphcIndexError,
                        GraphcTypeError, PlanFormatError, ShapeError, TraceError)
from .saved_plan import LoadedPlan, load
from .tensor import Parameter, Tensor

__version__ = "0.1.0"
__all__ = ["Tensor", "Parameter", "functional", "autodiff", "optimizer", "jit", "viz", "ir", "load", "LoadedPlan",
           "get_default_device", "set_default_device", "is_cuda_available", "GraphcError", "ShapeError",
           "DTypeError", "AxisError", "GraphcIndexError", "DeviceError", "GraphcTypeError", "GradError",
           "TraceError", "PlanFormatError"]
