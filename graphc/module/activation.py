"""Activation layers: ReLU, Sigmoid, SiLU, GELU, LeakyReLU, PReLU, Softmax (MegEngine's modules)."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensors import Parameter, Tensor
from .module import Module


class Softmax(Module):
    """Softmax along axis (MegEngine's default axis when None)."""

    def __init__(self, axis: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def forward(self, inputs: Tensor) -> Tensor:
        return F.nn.softmax(inputs, self.axis)

    def _module_info_string(self) -> str:
        return f"axis={self.axis}"


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, inputs: Tensor) -> Tensor:
        return F.sigmoid(inputs)


class SiLU(Module):
    """x * sigmoid(x)."""

    def forward(self, inputs: Tensor) -> Tensor:
        return F.silu(inputs)


class GELU(Module):
    """x * Phi(x), Phi the standard normal CDF."""

    def forward(self, inputs: Tensor) -> Tensor:
        return F.gelu(inputs)


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """x for x > 0, else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, **kwargs) -> None:
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def forward(self, inputs: Tensor) -> Tensor:
        return F.leaky_relu(inputs, self.negative_slope)


class PReLU(Module):
    """max(x, 0) + weight * min(x, 0) with a learned weight (one, or one per channel)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_parameters = num_parameters
        shape = (1,) if num_parameters == 1 else (1, num_parameters, 1, 1)
        self.weight = Parameter(np.full(shape, init, np.float32))

    def forward(self, inputs: Tensor) -> Tensor:
        return F.nn.prelu(inputs, self.weight)
