"""Parameter initialization in place (MegEngine's megengine.module.init), drawing from graphc.random."""
from __future__ import annotations

import math

import numpy as np

from ..random import normal, uniform
from ..tensors import Tensor

__all__ = ["calculate_correct_fan", "calculate_fan_in_and_fan_out", "calculate_gain", "fill_", "msra_normal_",
           "msra_uniform_", "normal_", "ones_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_"]


def _reset(tensor: Tensor, value: Tensor) -> None:
    tensor._assign(value.astype(tensor.dtype))


def fill_(tensor: Tensor, val: float) -> None:
    """Fill the tensor with val."""
    _reset(tensor, Tensor(np.full(tensor.shape, val, tensor.dtype), device=tensor.device))


def zeros_(tensor: Tensor) -> None:
    """Fill the tensor with zeros."""
    fill_(tensor, 0)


def ones_(tensor: Tensor) -> None:
    """Fill the tensor with ones."""
    fill_(tensor, 1)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> None:
    """Fill the tensor with samples of the uniform distribution on [a, b)."""
    _reset(tensor, uniform(low=a, high=b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> None:
    """Fill the tensor with samples of the normal distribution N(mean, std**2)."""
    _reset(tensor, normal(mean=mean, std=std, size=tensor.shape))


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity: 1 (linear, conv, sigmoid), 5/3 (tanh), sqrt(2) (relu),
    sqrt(2 / (1 + slope**2)) (leaky_relu)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[float, float]:
    """fan_in and fan_out of a weight: (in, out) of a (out, in) matrix, times the receptive field for more axes
    (a grouped weight's leading groups axis ignored, as MegEngine)."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError("fan_in and fan_out can not be computed for tensor with fewer than 2 dimensions")
    if len(shape) == 2:
        return shape[1], shape[0]
    if len(shape) >= 5:
        shape = shape[1:]
    field = int(np.prod(shape[2:]))
    return shape[1] * field, shape[0] * field


def calculate_correct_fan(tensor: Tensor, mode: str) -> float:
    """fan_in or fan_out, by mode."""
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> None:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    uniform_(tensor, -a, a)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> None:
    """Glorot normal: N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def msra_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> None:
    """He (MSRA) uniform: U(-bound, bound) with bound = sqrt(3) * gain / sqrt(fan)."""
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(calculate_correct_fan(tensor, mode))
    uniform_(tensor, -bound, bound)


def msra_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> None:
    """He (MSRA) normal: N(0, std**2) with std = gain / sqrt(fan)."""
    normal_(tensor, 0, calculate_gain(nonlinearity, a) / math.sqrt(calculate_correct_fan(tensor, mode)))
