"""Fused nodes built by hand for the code generator and GPU tests (as the fusion pass would emit them)."""
from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from graphc.ir import REGISTRY, Graph, OpNode, building, emit
from graphc.ir.errors import GraphcError

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
I32, BOOL = np.dtype(np.int32), np.dtype(np.bool_)
FLOATS = (F32, F16, F64)

# Attributes for ops whose templates need them; several settings where a case matters.
OP_ATTRS: dict[str, list[dict]] = {
    "leaky_relu": [{"slope": 0.1}],
    "clip": [{"lower": -0.5, "upper": 0.5}, {"lower": None, "upper": 2.0}, {"lower": 0.0, "upper": None}],
    "astype": [{"dtype": "float32"}, {"dtype": "float16"}, {"dtype": "float64"}, {"dtype": "int32"},
               {"dtype": "bool"}],
}


def fused_node(build: Callable, in_specs: list[tuple[tuple[int, ...], np.dtype]], name: str = "t") -> OpNode:
    """A graph with one fused node whose subgraph `build(*inputs)` returns the output Value(s)."""
    sub = Graph()
    ins = [sub.add_input(s, d) for s, d in in_specs]
    with building(sub):
        outs = build(*ins)
    sub.outputs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    g = Graph()
    gins = [g.add_input(s, d) for s, d in in_specs]
    outs = g.emit("fused", gins, {"name": name, "subgraph": sub})
    g.outputs = list(outs)
    return outs[0].producer


def arity(op) -> int:
    """Number of operands an elementwise op takes."""
    return op.arity


def cuda_ops() -> list[str]:
    """Every elementwise op in the registry that has a C expression (the CUDA generator's form)."""
    return sorted(n for n, op in REGISTRY.items() if op.elementwise and op.c_expr)


def op_cases(shape: tuple[int, ...] = (1001,)) -> list[tuple[str, str, OpNode]]:
    """(op, case label, fused node) for every op with a template and every dtype its inference accepts."""
    cases = []
    for name in cuda_ops():
        op = REGISTRY[name]
        k = arity(op)
        for dt in (F32, F16, F64, I32, BOOL):
            for attrs in OP_ATTRS.get(name, [{}]):
                specs = [(shape, BOOL)] + [(shape, dt)] * 2 if name == "where" else [(shape, dt)] * k
                try:
                    op.infer([(s, d) for s, d in specs], attrs)
                except GraphcError:
                    continue

                def build(*xs, _n=name, _a=attrs):
                    return emit(_n, list(xs), **_a)
                label = f"{name}-{dt}" + "".join(f"-{a}={v}" for a, v in attrs.items())
                cases.append((name, label, fused_node(build, specs, re.sub(r"\W", "_", label))))
    return cases


def chain8(x):
    """The 8-op chain the design notes measured: tanh(1.5x+0.5)*s + x*x - |x|*s with s = sigmoid(x)."""
    s = emit("sigmoid", [x])
    return emit("tanh", [x * 1.5 + 0.5]) * s + x * x - emit("abs", [x]) * s


def mse(pred, y):
    """mean((pred - y) ** 2) as a full reduction with a fused prologue."""
    d = pred - y
    return emit("mean", [d * d], axis=tuple(range(pred.ndim)), keepdims=False)


def softmax_rows(x):
    """Softmax over the last axis: max, exp-sum, divide (three stages)."""
    m = emit("max", [x], axis=(x.ndim - 1,), keepdims=True)
    e = emit("exp", [x - m])
    s = emit("sum", [e], axis=(x.ndim - 1,), keepdims=True)
    return e / s
