"""Optimizer: parameter groups, state, state_dict; updates are graph ops, so traces include them."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..dispatch import role
from ..ir import UPDATE
from ..ir.errors import GraphcTypeError
from ..ir.location import user_location
from ..tensor import Parameter, Tensor


class Optimizer:
    """Base class: subclasses define `_create_state(param)` and `_updates(group)`."""

    def __init__(self, params: Iterable | dict | Tensor, defaults: dict) -> None:
        self._defaults = defaults
        self._state: dict[int, dict[str, Tensor]] = {}
        self.param_groups: list[dict] = []
        if isinstance(params, (Tensor, dict)):
            params = [params]
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters."""
        ps = param_group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in ps:
            if not isinstance(p, Parameter):
                raise GraphcTypeError(f"optimizer can only optimize Parameters, but one of the params is "
                                      f"{type(p)} (at {user_location()})")
        group = {"params": ps}
        group.update({k: v for k, v in self._defaults.items()})
        group.update({k: v for k, v in param_group.items() if k != "params"})
        for p in ps:
            if id(p) not in self._state:
                self._state[id(p)] = self._create_state(p)
        self.param_groups.append(group)

    def _create_state(self, param: Parameter) -> dict[str, Tensor]:
        return {}

    def _updates(self, group: dict) -> None:
        raise NotImplementedError

    def step(self) -> Optimizer:
        """Update every parameter that has a gradient; returns self."""
        with role(UPDATE):
            for group in self.param_groups:
                self._updates(group)
        return self

    def clear_grad(self) -> None:
        """Set every parameter's gradient to None."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    zero_grad = clear_grad

    def _params(self) -> list[Parameter]:
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict:
        """Hyper-parameters by group (params as indices) and per-parameter state as NumPy arrays."""
        index = {id(p): i for i, p in enumerate(self._params())}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        state = {index[pid]: {k: t.numpy() for k, t in st.items()}
                 for pid, st in self._state.items() if st and pid in index}
        return {"param_groups": groups, "state": state}

    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict() returned (for the same parameters in the same order)."""
        params = self._params()
        if len(state["param_groups"]) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, sg in zip(self.param_groups, state["param_groups"], strict=False):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError("loaded state dict has a group of a different size")
            g.update({k: v for k, v in sg.items() if k != "params"})
        for i, st in state["state"].items():
            own = self._state[id(params[int(i)])]
            for k, v in st.items():
                old = own[k]
                arr = np.asarray(v, dtype=old.dtype)
                if arr.shape != old.shape:
                    raise ValueError(f"state {k!r} of parameter {i} has shape {arr.shape}, "
                                     f"expected {old.shape}")
                own[k]._assign(Tensor(arr, device=old.device))
