"""graphc: a static computation-graph compiler with MegEngine's API."""
from . import (  # noqa: E402
                        autodiff,
                        functional,  # noqa: E402,I001
                        ir,  # noqa: F401  (the IR layer first: passes and runtime build on it)
                        optimizer,
)
from .device import get_default_device, is_cuda_available, set_default_device
from .ir.errors import (
                        AxisError,
                        DeviceError,
                        DTypeError,
                        GradError,
                        GraphcError,
                        GraphcIndexError,
                        GraphcTypeError,
                        PlanFormatError,
                        ShapeError,
                        TraceError,
)
from .tensor import Parameter, Tensor

__version__ = "0.1.0"
__all__ = ["Tensor", "Parameter", "functional", "autodiff", "optimizer", "get_default_device",
           "set_default_device", "is_cuda_available", "GraphcError", "ShapeError", "DTypeError", "AxisError",
           "GraphcIndexError", "DeviceError", "GraphcTypeError", "GradError", "TraceError", "PlanFormatError"]
