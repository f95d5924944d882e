"""Sequential: modules applied one after another (given in order, or as an OrderedDict of names)."""
from __future__ import annotations

from collections import OrderedDict

from ..tensors import Tensor
from .module import Module


class Sequential(Module):
    """Calls its modules in order, each on the previous one's output."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(**kwargs)
        self.layer_keys: list[str] = []
        items = args[0].items() if len(args) == 1 and isinstance(args[0], OrderedDict) else \
            ((str(i), m) for i, m in enumerate(args))
        for key, module in items:
            setattr(self, key, module)
            self.layer_keys.append(key)

    @property
    def layer_values(self) -> list[Module]:
        """The modules, in order."""
        return [getattr(self, k) for k in self.layer_keys]

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(zip(self.layer_keys[idx], self.layer_values[idx])))
        return getattr(self, self.layer_keys[idx])

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self.layer_keys[idx], module)

    def __delitem__(self, idx) -> None:
        keys = self.layer_keys[idx] if isinstance(idx, slice) else [self.layer_keys[idx]]
        for key in keys:
            delattr(self, key)
            self.layer_keys.remove(key)

    def __len__(self) -> int:
        return len(self.layer_keys)

    def __iter__(self):
        return iter(self.layer_values)

    def forward(self, inp: Tensor) -> Tensor:
        for layer in self.layer_values:
            inp = layer(inp)
        return inp
