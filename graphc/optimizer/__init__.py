"""graphc.optimizer: Optimizer, SGD, Adam, AdamW, and the schedulers LRScheduler and MultiStepLR."""
from . import lr_scheduler
from .adam import Adam, AdamW
from .lr_scheduler import LRScheduler, MultiStepLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "LRScheduler", "MultiStepLR", "lr_scheduler"]
