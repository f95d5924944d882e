"""Linear: y = x @ W.T + b, initialized as MegEngine's (W ~ N(0, 1/in_features), b = 0)."""
from __future__ import annotations

import numpy as np

from ..functional.linalg import linear
from ..tensors import Parameter, Tensor
from . import init
from .module import Module


class Linear(Module):
    """A fully connected layer: weight of shape (out_features, in_features), optional bias."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, compute_mode: str = "default",
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.zeros((out_features, in_features), np.float32))
        self.bias = Parameter(np.zeros((out_features,), np.float32)) if bias else None
        self.compute_mode = compute_mode
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the weight from N(0, 1/in_features) and zero the bias."""
        init.normal_(self.weight, 0.0, float(np.sqrt(1 / self.in_features)))
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)

    def _module_info_string(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
