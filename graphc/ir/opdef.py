"""OpDef: everything about one op in one place, and the registry that names them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import GraphcError

# infer(in_types, attrs) -> out_types, where a type is (shape, dtype).
Infer = Callable[[list, dict], list]
# kernel(xp, *arrays, **attrs) -> array, or a tuple of arrays for several outputs.
Kernel = Callable[..., object]
# vjp(inputs, outputs, douts, attrs) -> one gradient Value (or None) per input, built with emit().
Vjp = Callable[[list, list, list, dict], list]


@dataclass(frozen=True)
class OpDef:
    """An op: name, family, shape/dtype inference, kernel, gradient rule and fusion pieces."""

    name: str
    family: str                  # elementwise | reduce | shape | index | linalg | nn | random | cast
    infer: Infer
    kernel: Kernel
    vjp: Vjp | None = None       # None: not differentiable
    ufunc: str | None = None     # numpy/cupy function name for fused CPU loops (elementwise only)
    cuda: str | None = None      # CUDA C expression template over {0}, {1}, ... (elementwise only)
    random: bool = False         # never merged by CSE, never constant-folded
    view: bool = False           # the output may alias the first input's memory

    @property
    def elementwise(self) -> bool:
        """True when the op maps elements one to one (fusable)."""
        return self.family == "elementwise"


REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    """Add an op to the registry; names are unique."""
    if op.name in REGISTRY:
        raise ValueError(f"op {op.name!r} registered twice")
    REGISTRY[op.name] = op
    return op


def get_op(name: str) -> OpDef:
    """Look an op up by name."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise GraphcError(f"unknown op {name!r}") from None
