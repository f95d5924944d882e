"""Learning-rate schedulers (MegEngine's LRScheduler and MultiStepLR): they set param_groups[i]["lr"], which a
traced step reads as an input on every call, so a schedule takes effect without retracing."""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from ..ir.errors import GraphcTypeError
from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses compute get_lr() from base_lrs and current_epoch; step() applies it."""

    def __init__(self, optimizer: Optimizer, current_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise GraphcTypeError("optimizer argument given to the lr_scheduler should be Optimizer")
        self.optimizer = optimizer
        self.current_epoch = current_epoch
        if current_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                                   "an optimizer")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each parameter group at current_epoch."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """The scheduler's state (not the optimizer's)."""
        raise NotImplementedError

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what state_dict() returned."""
        raise NotImplementedError

    def step(self, epoch: int | None = None) -> None:
        """Advance to the next epoch (or to `epoch`) and set the groups' learning rates."""
        self.current_epoch = self.current_epoch + 1 if epoch is None else epoch
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by gamma at each milestone epoch."""

    _STATE = ("milestones", "gamma", "current_epoch")

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 current_epoch: int = -1) -> None:
        milestones = list(milestones)
        if milestones != sorted(milestones):
            raise ValueError(f"Milestones should be a list of increasing integers. Got {milestones}")
        self.milestones = milestones
        self.gamma = gamma
        super().__init__(optimizer, current_epoch)

    def get_lr(self) -> list[float]:
        return [base * self.gamma ** bisect_right(self.milestones, self.current_epoch) for base in self.base_lrs]

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in self._STATE}

    def load_state_dict(self, state_dict: dict) -> None:
        missing = [k for k in self._STATE if k not in state_dict]
        if missing:
            raise KeyError(f"key {missing[0]!r} is not specified in state_dict when loading state dict")
        for k in self._STATE:
            setattr(self, k, state_dict[k])
