"""Dropout: zeroes elements with probability drop_prob while training; the identity in eval()."""
from __future__ import annotations

from ..functional.nn import dropout
from ..tensors import Tensor
from .module import Module


class Dropout(Module):
    """F.nn.dropout while self.training, else the input unchanged."""

    def __init__(self, drop_prob: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.drop_prob = drop_prob

    def forward(self, inputs: Tensor) -> Tensor:
        return dropout(inputs, self.drop_prob, training=self.training)

    def _module_info_string(self) -> str:
        return f"drop_prob={self.drop_prob}"
