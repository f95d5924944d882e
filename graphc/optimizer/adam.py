"""Adam and AdamW (MegEngine's formulas: bias-corrected moments, eps outside the square root)."""
from __future__ import annotations

import numpy as np

from ..functional.creation import zeros, zeros_like
from ..tensors import Parameter, Tensor
from .optimizer import Optimizer, check_hyper


class Adam(Optimizer):
    """Adam; weight_decay is L2 added to the gradient."""

    decoupled = False

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        name = type(self).__name__
        lr, eps, weight_decay = (check_hyper(name, k, v) for k, v in
                                 (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)))
        betas = tuple(check_hyper(name, f"betas[{i}]", b, below=1.0) for i, b in enumerate(betas))
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "betas": betas, "eps": eps})

    def _create_state(self, param: Parameter, group: dict) -> dict[str, Tensor]:
        # The step count is a tensor, so a traced step reads and advances it on every replay.
        return {"exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param),
                "step": zeros((), dtype=param.dtype, device=param.device)}

    def _updates(self, group: dict) -> None:
        (b1, b2), eps, wd = group["betas"], group["eps"], group["weight_decay"]
        # As MegEngine, 1 - beta is computed in float32 (the bias corrections below are float32 too,
        # and the two roundings cancel in the first steps).
        c1, c2 = (float(np.float32(1.0) - np.float32(b)) for b in (b1, b2))
        for p in group["params"]:
            if p.grad is None:
                continue
            st = self._state[id(p)]
            g = p.grad
            if wd and not self.decoupled:
                g = g + p * wd
            step = st["step"] + 1.0
            m = st["exp_avg"] * b1 + g * c1
            v = st["exp_avg_sq"] * b2 + g * g * c2
            delta = (m / (1.0 - b1 ** step)) / ((v / (1.0 - b2 ** step)) ** 0.5 + eps)
            if wd and self.decoupled:
                delta = delta + p * wd
            st["step"]._assign(step)
            st["exp_avg"]._assign(m)
            st["exp_avg_sq"]._assign(v)
            p._assign(p - delta * self._lr(group, p))


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01)."""

    decoupled = True

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
