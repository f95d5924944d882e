"""Module: MegEngine's base class of layers (parameters, buffers and submodules found by attribute, state_dict,
train/eval, forward hooks). Modules are plain Python over Tensors, so they trace and dump like any code; the
tensors a module holds are named by their path (fc.weight) in printed graphs, pictures and plan files."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

import numpy as np

from ..ir.errors import ArgumentError
from ..tensors import Parameter, Tensor


def _expand(key: str, obj: object) -> list[tuple[str, object]]:
    """(dotted key, leaf) for an attribute that may be a list, tuple or dict of leaves."""
    if isinstance(obj, (list, tuple)):
        return [(f"{key}.{k2}", leaf) for i, item in enumerate(obj) for k2, leaf in _expand(str(i), item)]
    if isinstance(obj, dict):
        return [(f"{key}.{k2}", leaf) for k in sorted(obj, key=str) for k2, leaf in _expand(str(k), obj[k])]
    return [(key, obj)]


def _is_parameter(obj: object) -> bool:
    return isinstance(obj, Parameter)


def _is_buffer(obj: object) -> bool:
    return isinstance(obj, Tensor) and not isinstance(obj, Parameter)


def _is_module(obj: object) -> bool:
    return isinstance(obj, Module)


class HookHandler:
    """Returned by register_forward_(pre_)hook: remove() unregisters the hook."""

    _next = 0

    def __init__(self, hooks: OrderedDict, hook: Callable) -> None:
        self.hooks, self.id = hooks, HookHandler._next
        HookHandler._next += 1
        hooks[self.id] = hook

    def remove(self) -> None:
        """Unregister the hook."""
        self.hooks.pop(self.id, None)


class Module:
    """Base class of layers: subclasses set Parameters, buffers (other Tensors) and submodules as attributes in
    __init__ and compute in forward(); calling the module runs the hooks and forward."""

    def __init__(self, name: str | None = None) -> None:
        if name is not None and not (isinstance(name, str) and name.strip()):
            raise ArgumentError(f"Module's name must be a non-empty string, got {name!r}")
        object.__setattr__(self, "_modules", [])
        self.name = name
        self.training = True
        self._forward_pre_hooks: OrderedDict = OrderedDict()
        self._forward_hooks: OrderedDict = OrderedDict()
        self._prefix = ""

    def forward(self, *inputs, **kwargs):
        """The module's computation (subclasses define it)."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *inputs, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            modified = hook(self, inputs)
            if modified is not None:
                inputs = modified if isinstance(modified, tuple) else (modified,)
        outputs = self.forward(*inputs, **kwargs)
        for hook in list(self._forward_hooks.values()):
            modified = hook(self, inputs, outputs)
            if modified is not None:
                outputs = modified
        return outputs

    def register_forward_pre_hook(self, hook: Callable) -> HookHandler:
        """hook(module, inputs) runs before forward and may return new inputs."""
        return HookHandler(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook: Callable) -> HookHandler:
        """hook(module, inputs, outputs) runs after forward and may return new outputs."""
        return HookHandler(self._forward_hooks, hook)

    # ---- attributes and names ------------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        modules = self.__dict__.get("_modules")
        module_like = _is_module(value) or isinstance(value, (list, tuple, dict))
        if modules is None:
            if module_like or isinstance(value, Tensor):
                raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called")
            object.__setattr__(self, name, value)
            return
        if module_like and name not in modules:
            modules.append(name)
        elif not module_like and name in modules:
            modules.remove(name)
        object.__setattr__(self, name, value)
        if not name.startswith("_"):
            self._name_leaves(name, value)

    def __delattr__(self, name: str) -> None:
        if name in self._modules:
            self._modules.remove(name)
        object.__delattr__(self, name)

    def _name_leaves(self, key: str, value) -> None:
        """Give the tensors under attribute `key` their path as the name graphs show (unless the user named
        them); submodules take the path as their prefix."""
        for k, leaf in _expand(key, value):
            if isinstance(leaf, Tensor):
                leaf._qualname = self._prefix + k
            elif isinstance(leaf, Module):
                leaf._rename(self._prefix + k + ".")

    def _rename(self, prefix: str) -> None:
        object.__setattr__(self, "_prefix", prefix)
        for key in list(vars(self)):
            if not key.startswith("_"):
                self._name_leaves(key, vars(self)[key])

    # ---- traversal -------------------------------------------------------------------------------------
    def _flatten(self, *, recursive: bool = True, with_key: bool = False, with_parent: bool = False,
                 prefix: str | None = None, predicate: Callable = lambda _: True, seen: set | None = None) -> Iterator:
        """The tensors and modules found in attributes (sorted by name, each once), filtered by predicate."""
        seen = {id(self)} if seen is None else seen
        pre = "" if prefix is None else prefix + "."
        attrs = vars(self)
        for key in sorted(attrs):
            for k, leaf in _expand(key, attrs[key]):
                if id(leaf) in seen or not isinstance(leaf, (Tensor, Module)):
                    continue
                seen.add(id(leaf))
                if predicate(leaf):
                    item = (pre + k, leaf) if with_key else (leaf,)
                    yield (*item, self) if with_parent else (item if with_key else leaf)
                if recursive and isinstance(leaf, Module):
                    yield from leaf._flatten(recursive=True, with_key=with_key, with_parent=with_parent,
                                             prefix=pre + k if with_key else None, predicate=predicate, seen=seen)

    def parameters(self, recursive: bool = True, **kwargs) -> Iterator[Parameter]:
        """The Parameters of this module (and its submodules when recursive)."""
        yield from self._flatten(recursive=recursive, predicate=_is_parameter, **kwargs)

    def named_parameters(self, prefix: str | None = None, recursive: bool = True,
                         **kwargs) -> Iterator[tuple[str, Parameter]]:
        """(dotted path, Parameter) pairs."""
        yield from self._flatten(with_key=True, prefix=prefix, recursive=recursive, predicate=_is_parameter,
                                 **kwargs)

    def buffers(self, recursive: bool = True, **kwargs) -> Iterator[Tensor]:
        """The Tensors that are not Parameters (running statistics and the like)."""
        yield from self._flatten(recursive=recursive, predicate=_is_buffer, **kwargs)

    def named_buffers(self, prefix: str | None = None, recursive: bool = True,
                      **kwargs) -> Iterator[tuple[str, Tensor]]:
        """(dotted path, buffer) pairs."""
        yield from self._flatten(with_key=True, prefix=prefix, recursive=recursive, predicate=_is_buffer, **kwargs)

    def tensors(self, recursive: bool = True, **kwargs) -> Iterator[Tensor]:
        """Parameters and buffers."""
        yield from self._flatten(recursive=recursive, predicate=lambda t: isinstance(t, Tensor), **kwargs)

    def named_tensors(self, prefix: str | None = None, recursive: bool = True,
                      **kwargs) -> Iterator[tuple[str, Tensor]]:
        """(dotted path, tensor) pairs of parameters and buffers."""
        yield from self._flatten(with_key=True, prefix=prefix, recursive=recursive,
                                 predicate=lambda t: isinstance(t, Tensor), **kwargs)

    def children(self, **kwargs) -> Iterator[Module]:
        """The direct submodules."""
        yield from self._flatten(recursive=False, predicate=_is_module, **kwargs)

    def named_children(self, **kwargs) -> Iterator[tuple[str, Module]]:
        """(attribute, submodule) pairs of the direct submodules."""
        yield from self._flatten(with_key=True, recursive=False, predicate=_is_module, **kwargs)

    def modules(self, **kwargs) -> Iterator[Module]:
        """This module and every submodule."""
        yield self
        yield from self._flatten(predicate=_is_module, **kwargs)

    def named_modules(self, prefix: str | None = None, **kwargs) -> Iterator[tuple[str, Module]]:
        """(dotted path, module) pairs, this module ("") first."""
        yield ("" if prefix is None else prefix), self
        yield from self._flatten(with_key=True, prefix=prefix, predicate=_is_module, **kwargs)

    def apply(self, fn: Callable[[Module], object]) -> None:
        """Call fn on this module and every submodule."""
        for m in self.modules():
            fn(m)

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero (MegEngine deprecates this for the optimizer's clear_grad)."""
        for p in self.parameters():
            if p.grad is not None:
                p.grad = Tensor(np.zeros(p.grad.shape, p.grad.dtype), device=p.grad.device)

    def train(self, mode: bool = True, recursive: bool = True) -> None:
        """Set the training flag (Dropout and the like behave differently when not training)."""
        if not recursive:
            self.training = mode
            return
        self.apply(lambda m: m.train(mode, recursive=False))

    def eval(self) -> None:
        """Set every module to evaluation mode (train(False))."""
        self.train(False)

    # ---- state -------------------------------------------------------------------------------------------
    def state_dict(self, rst: dict | None = None, prefix: str = "", keep_var: bool = False) -> OrderedDict:
        """Parameters and buffers by dotted path, as NumPy arrays (keep_var=True: the Tensors)."""
        out = OrderedDict() if rst is None else rst
        for k, t in self._flatten(recursive=False, with_key=True, predicate=lambda x: isinstance(x, Tensor)):
            if prefix + k in out:
                raise ArgumentError(f"state_dict: duplicated state {prefix + k!r}")
            out[prefix + k] = t if keep_var else t.numpy()
        for k, m in self._flatten(recursive=False, with_key=True, predicate=_is_module):
            m.state_dict(out, prefix + k + ".", keep_var)
        return out

    def load_state_dict(self, state_dict: dict | Callable[[str, Tensor], np.ndarray | None],
                        strict: bool = True) -> None:
        """Load what state_dict() returned (arrays by dotted path), or what a closure(key, tensor) returns for
        each state (None skips it). With strict, unused and missing keys are a KeyError."""
        if isinstance(state_dict, dict):
            given = state_dict

            def closure(k, _):
                return given.get(k)
            unused = set(given)
        elif callable(state_dict):
            closure, unused = state_dict, set()
        else:
            raise ValueError(f"load_state_dict: needs a dict or a callable, got {type(state_dict).__name__}")
        missing = []
        for k, t in self.state_dict(keep_var=True).items():
            value = closure(k, t)
            if value is None:
                missing.append(k)
                continue
            unused.discard(k)
            arr = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
            if arr.shape != t.shape:
                raise ValueError(f"load_state_dict: {k!r} has shape {t.shape}, got {arr.shape}")
            t._assign(Tensor(arr.astype(t.dtype), device=t.device))
        if strict and unused:
            raise KeyError(f"Unused params violate `strict=True`, unused={sorted(unused)}")
        if strict and missing:
            raise KeyError(f"Missing params violate `strict=True`, missing={sorted(missing)}")

    # ---- printing --------------------------------------------------------------------------------------
    def _module_info_string(self) -> str:
        """The line of settings shown in the repr (subclasses say what matters)."""
        return ""

    def __repr__(self) -> str:
        extra = self._module_info_string()
        children = []
        for name in self._modules:
            for k, leaf in _expand(name, vars(self)[name]):
                if isinstance(leaf, Module):
                    children.append(f"({k}): " + repr(leaf).replace("\n", "\n  "))
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = ([extra] if extra else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
