"""OpDef: everything about one op in one place, and the registry that names them.

Passes and backends read these fields and keep no tables of op names of their own: adding an op is one
`register(OpDef(...))` in its family's file (and a `functional` wrapper); the registry-driven tests pick it up.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .attrs import Attr
from .errors import GraphcError

# infer(in_types, attrs) -> out_types, where a type is (shape, dtype).
Infer = Callable[[list, dict], list]
# kernel(xp, *arrays, **attrs) -> array, or a tuple of arrays for several outputs.
Kernel = Callable[..., object]
# vjp(inputs, outputs, douts, attrs) -> one gradient Value (or None) per input, built with emit().
Vjp = Callable[[list, list, list, dict], list]
# A C expression template over {0}, {1}, ... (operands) and {attr} (attribute values as C literals);
# `T` names the operands' C type and `T_OUT` the result's. A callable builds the template from the attrs.
Template = str | Callable[[dict], str]


@dataclass(frozen=True)
class CExpr:
    """An elementwise op as a C expression, shared by the generated C (CPU) and CUDA kernels.

    `real` is the form for floating-point operands; `integer` the form for integer and bool operands
    where C's integer arithmetic differs (floor division, modulo, powers). Helpers every C backend
    provides: `g_floordiv` (NumPy's float floor division) and, where it takes integers, `g_ipow`.
    """

    real: Template
    integer: Template | None = None

    def template(self, integral: bool, attrs: dict) -> str:
        """The template for integer (or bool) operands or floating ones, built for these attrs."""
        t = self.integer if integral and self.integer is not None else self.real
        return t(attrs) if callable(t) else t


@dataclass(frozen=True)
class Reduction:
    """How a reduction combines elements: a NumPy ufunc's reduce, from an identity, optionally averaged."""

    ufunc: str                  # add | multiply | maximum | minimum
    identity: str               # zero | one | lowest | highest (of the accumulator's dtype)
    mean: bool = False          # divide by the number of reduced elements

    def accumulator(self, dtype: np.dtype) -> np.dtype:
        """The dtype the reduction accumulates (and returns) in for operands of `dtype`."""
        if self.mean:
            return dtype if dtype == np.float64 else np.dtype(np.float32)
        if dtype.kind == "b" and self.ufunc in ("add", "multiply"):
            return np.dtype(np.int32)
        return dtype

    def identity_value(self, dtype: np.dtype) -> object:
        """The identity as a scalar of `dtype`."""
        if self.identity in ("zero", "one"):
            return dtype.type(self.identity == "one")
        low = self.identity == "lowest"
        if dtype.kind == "f":
            return dtype.type(-np.inf if low else np.inf)
        if dtype.kind == "b":
            return not low
        info = np.iinfo(dtype)
        return dtype.type(info.min if low else info.max)


@dataclass(frozen=True, eq=False)   # ops compare (and hash) by identity: the registry holds one of each
class OpDef:
    """An op: name, family, shape/dtype inference, kernel, gradient rule, schema and fusion pieces."""

    name: str
    family: str                  # elementwise | reduce | scan | sort | shape | index | linalg | nn | random | fused
                                 # | collective
    infer: Infer
    kernel: Kernel
    vjp: Vjp | None = None       # None: not differentiable
    arity: int | None = 1        # number of operands; None: any number (infer checks them)
    attrs: Mapping[str, Attr] = field(default_factory=dict)   # every attribute, all required
    ufunc: str | None = None     # elementwise: the NumPy/CuPy function of the same semantics
    c_expr: CExpr | None = None  # elementwise: the expression generated C and CUDA kernels use
    reduction: Reduction | None = None
    commutative: bool = False    # operands may be swapped (CSE sorts them)
    fusable: bool = False        # may join a fused group (reductions as the group's terminal outputs)
    random: bool = False         # never merged by CSE, never constant-folded
    view: bool = False           # the output may alias the first input's memory
    # Communicates with the other processes of its group: collective(comm, x, **attrs) starts the exchange
    # and returns a Pending whose wait() gives the result. Never folded or merged, a barrier to fusion; the
    # runtime starts it where its operand exists and waits where its result is first read.
    collective: Callable | None = None

    @property
    def elementwise(self) -> bool:
        """True when the op maps elements one to one."""
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
