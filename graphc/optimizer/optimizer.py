"""Optimizer: parameter groups, state, state_dict; updates are graph ops, so traces include them."""
from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Iterable

import numpy as np

from ..device import Device
from ..ir import UPDATE
from ..ir.errors import GraphcTypeError
from ..ir.location import user_location
from ..state import State, role
from ..tensors import Parameter, Tensor


def check_hyper(opt: str, name: str, value: object, below: float | None = None) -> float:
    """A hyper-parameter as a float: a real number, finite, >= 0 (and < `below` when given); otherwise an error
    naming the optimizer, the parameter and the user's line (not NumPy's or Python's comparison text)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise GraphcTypeError(f"{opt}: {name} must be a number, got {value!r} (at {user_location()})")
    v = float(value)
    if not (0 <= v < math.inf) or (below is not None and not v < below):
        bound = f"in [0, {below:g})" if below is not None else "finite and >= 0"
        raise ValueError(f"{opt}: invalid {name} {value!r}: it must be {bound} (at {user_location()})")
    return v


class _LearningRate:
    """A group's lr as a 0-d tensor of one dtype and device, rewritten when the Python value changes.

    Traced steps read it as an input, so schedules that change `param_groups[i]["lr"]` take effect
    without retracing (as in MegEngine, whose optimizers turn lr into a tensor at every step)."""

    def __init__(self, group: dict, dtype: np.dtype, device: Device) -> None:
        self.group, self.dtype, self.device = group, dtype, device
        self.value = None
        self.tensor = Tensor._wrap(None, device)
        self.refresh()

    def refresh(self) -> None:
        """Take the group's current lr."""
        lr = self.group["lr"]
        if lr != self.value:
            self.value = lr
            self.tensor._data = self.device.xp.asarray(lr, dtype=self.dtype)


class Optimizer:
    """Base class: subclasses define `_create_state(param, group)` and `_updates(group)`."""

    def __init__(self, params: Iterable | dict | Tensor, defaults: dict) -> None:
        self._defaults = defaults
        self._state: dict[int, dict[str, Tensor]] = {}
        self._lrs: dict[tuple, _LearningRate] = {}
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
                self._state[id(p)] = self._create_state(p, group)
        self.param_groups.append(group)

    def _create_state(self, param: Parameter, group: dict) -> dict[str, Tensor]:
        return {}

    def _zeros(self, like: Tensor) -> Tensor:
        """A zero state tensor made directly, never as a traced constant: traced steps read and update it."""
        t = Tensor(np.zeros(like.shape, like.dtype), device=like.device)
        if State.tracing is not None:
            State.tracing.capture(t)
        return t

    def _updates(self, group: dict) -> None:
        raise NotImplementedError

    def _lr(self, group: dict, like: Tensor) -> Tensor:
        """The group's learning rate as a 0-d tensor of like's dtype and device (an input when traced)."""
        key = (id(group), like.dtype, like._device)
        lr = self._lrs.get(key)
        if lr is None:
            lr = self._lrs[key] = _LearningRate(group, like.dtype, like._device)
        else:
            lr.refresh()
        if State.tracing is not None:
            i = next(i for i, g in enumerate(self.param_groups) if g is group)
            State.tracing.capture(lr.tensor, name=f"lr{i or ''}")
        return lr.tensor

    def step(self) -> Optimizer:
        """Update every parameter that has a gradient; returns self."""
        with role(UPDATE):
            for group in self.param_groups:
                self._updates(group)
        if State.tracing is not None:
            State.tracing.guards[id(self)] = self._guard()
        return self

    def _guard(self) -> Callable[[], str | None]:
        """For a traced step: refreshes the learning rates before each replay, and asks for a retrace when
        another hyper-parameter or the parameter groups changed (those shape the traced graph)."""
        groups = list(self.param_groups)
        members = [list(g["params"]) for g in groups]
        saved = [dict(g) for g in groups]       # compared by value (in C): cheap while nothing changed
        lrs = [lr for lr in self._lrs.values() if any(lr.group is g for g in groups)]

        def guard() -> str | None:
            if len(self.param_groups) != len(groups) or not all(map(operator.is_, self.param_groups, groups)):
                return "the optimizer's parameter groups changed"
            for i, (g, ps, old) in enumerate(zip(groups, members, saved)):
                # Parameters by identity first: comparing Tensors with == would compare their values.
                if len(g["params"]) != len(ps) or not all(map(operator.is_, g["params"], ps)):
                    return f"the parameters of parameter group {i} changed"
                if g != old:
                    why = _what_changed(i, g, old)
                    if why:
                        return why
                    old["lr"] = g["lr"]
            for lr in lrs:
                lr.refresh()
            return None
        return guard

    def clear_grad(self) -> None:
        """Set every parameter's gradient to None."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    zero_grad = clear_grad

    def __repr__(self) -> str:
        """The parameter groups and their hyper-parameters, as PyTorch prints an optimizer."""
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            n = len(group["params"])
            size = sum(int(np.prod(p.shape, dtype=np.int64)) for p in group["params"])
            lines += [f"Parameter Group {i}", f"    params: {n} parameter{'s' if n != 1 else ''}, {size:,} "
                                              f"element{'s' if size != 1 else ''}"]
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])

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


def _what_changed(i: int, group: dict, old: dict) -> str | None:
    """Why parameter group i no longer matches its traced copy; None when only lr changed."""
    for k in group.keys() | old.keys():   # initial_lr: a scheduler's note, which the step does not read
        if k not in ("params", "lr", "initial_lr") and group.get(k) != old.get(k):
            return f"hyper-parameter {k!r} of parameter group {i} changed from {old.get(k)!r} to {group.get(k)!r}"
    return None
