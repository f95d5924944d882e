"""Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay (MegEngine's SGD)."""
from __future__ import annotations

from ..tensors import Parameter, Tensor
from .optimizer import Optimizer, check_hyper


class SGD(Optimizer):
    """p -= lr * (g + wd * p), with an optional momentum buffer v = momentum * v + g."""

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        lr, momentum, weight_decay = (check_hyper("SGD", k, v) for k, v in
                                      (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)))
        if nesterov and momentum == 0:
            raise ValueError("nesterov momentum needs a momentum > 0")
        self.nesterov = nesterov
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    def _create_state(self, param: Parameter, group: dict) -> dict[str, Tensor]:
        return {"momentum_buffer": self._zeros(param)} if group["momentum"] else {}

    def _updates(self, group: dict) -> None:
        mom, wd = group["momentum"], group["weight_decay"]
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad
            if wd:
                g = g + p * wd
            if mom:
                st = self._state[id(p)]
                if "momentum_buffer" not in st:     # momentum turned on after the group was added
                    st["momentum_buffer"] = self._zeros(p)
                buf = st["momentum_buffer"]
                v = buf * mom + g
                buf._assign(v)
                g = g + v * mom if self.nesterov else v
            p._assign(p - g * self._lr(group, p))
