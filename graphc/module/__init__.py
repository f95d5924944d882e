"""graphc.module: MegEngine's layers (Module, Linear, Sequential, activations, Dropout) and init."""
from . import init
from .activation import GELU, LeakyReLU, PReLU, ReLU, Sigmoid, SiLU, Softmax
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .sequential import Sequential

__all__ = ["Dropout", "GELU", "LeakyReLU", "Linear", "Module", "PReLU", "ReLU", "Sequential", "SiLU", "Sigmoid",
           "Softmax", "init"]
