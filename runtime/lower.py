"""Lowering: an optimized Graph becomes one generated Python function (no per-step interpretation).

Every node becomes one line calling a ufunc or a bound kernel. Small fused groups are inlined as their
ufunc calls (per-call overhead decides small steps); large ones call a cache-blocked kernel (CPU) or a
generated CUDA kernel (GPU).
"""
from __future__ import annotations

import functools

import numpy as np

from graphc.ir import Graph, OpNode, Value

from .cpu_fused import FusedCPUKernel, iteration_shape
from .plan import Plan

INLINE_MAX = 1 << 15   # fused groups up to this many elements run as plain ufunc calls


def _xp(device: str):
    if device == "gpu":
        import cupy
        return cupy
    return np


class _Emitter:
    """Generated source lines plus the globals they refer to."""

    def __init__(self, xp) -> None:
        self.xp = xp
        self.env: dict[str, object] = {"_errstate": np.errstate}
        self.lines: list[str] = []
        self.names: dict[Value, str] = {}
        self.kernels = 0

    def const(self, v: Value) -> str:
        name = self.names.get(v)
        if name is None:
            name = self.names[v] = f"c{len(self.env)}"
            self.env[name] = self.xp.asarray(v.data)
        return name

    def call(self, node: OpNode, out_names: list[str], fn: str) -> None:
        args = ", ".join(self.names[v] if v.kind != "const" else self.const(v) for v in node.inputs)
        self.lines.append(f"{', '.join(out_names)}{',' if len(out_names) > 1 else ''} = {fn}({args})")
        for v, s in zip(node.outputs, out_names):
            self.names[v] = s
        self.kernels += 1

    def node(self, n: OpNode, prefix: str) -> None:
        outs = [f"{prefix}_{j}" for j in range(len(n.outputs))]
        if n.op.ufunc is not None:
            fn = f"u_{n.op.ufunc}"
            self.env[fn] = getattr(self.xp, n.op.ufunc)
        else:
            fn = f"k{prefix}"
            self.env[fn] = functools.partial(n.op.kernel, self.xp, **n.attrs)
        self.call(n, outs, fn)


def lower(g: Graph, device: str = "cpu") -> Plan:
    """Generate and compile the plan function for `g` on `device` ("cpu" or "gpu")."""
    em = _Emitter(_xp(device))
    args = []
    for i, v in enumerate(g.inputs):
        em.names[v] = f"a{i}"
        args.append(em.names[v])
    fused = 0
    for i, n in enumerate(g.nodes):
        if n.op.name != "fused":
            em.node(n, f"v{i}")
            continue
        fused += 1
        sub: Graph = n.attrs["subgraph"]
        if device == "gpu":
            from .gpu import fused_kernel
            fn = f"f{i}"
            em.env[fn] = fused_kernel(n)
            em.call(n, [f"v{i}_{j}" for j in range(len(n.outputs))], fn)
        elif int(np.prod(iteration_shape(sub), dtype=np.int64)) <= INLINE_MAX:
            for v, outer in zip(sub.inputs, n.inputs):
                em.names[v] = em.names[outer] if outer.kind != "const" else em.const(outer)
            for j, m in enumerate(sub.nodes):
                em.node(m, f"v{i}f{j}")
            for v, inner in zip(n.outputs, sub.outputs):
                em.names[v] = em.names[inner] if inner.kind != "const" else em.const(inner)
        else:
            fn = f"f{i}"
            em.env[fn] = FusedCPUKernel(n)
            em.call(n, [f"v{i}_{j}" for j in range(len(n.outputs))], fn)
    rets = [em.names[v] if v.kind != "const" else em.const(v) for v in g.outputs + [v for _, v in g.updates]]
    body = ["with _errstate(all='ignore'):"] + ["    " + ln for ln in em.lines]
    body.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})")
    src = f"def plan({', '.join(args)}):\n" + "\n".join("    " + ln for ln in body) + "\n"
    exec(compile(src, "<graphc plan>", "exec"), em.env)
    stats = {"nodes": len(g.nodes), "fused_groups": fused, "kernels": em.kernels}
    return Plan(g, src, em.env["plan"], device, stats)
