"""Lowering: an optimized Graph becomes one generated Python function (no per-step interpretation)."""
from __future__ import annotations

import functools

import numpy as np

from graphc.ir import Graph, Value

from .plan import Plan


def _xp(device: str):
    if device == "gpu":
        import cupy
        return cupy
    return np


def lower(g: Graph, device: str = "cpu") -> Plan:
    """Generate and compile the plan function for `g`."""
    xp = _xp(device)
    names: dict[Value, str] = {}
    env: dict[str, object] = {}
    args = []
    for i, v in enumerate(g.inputs):
        names[v] = f"a{i}"
        args.append(names[v])
    for i, v in enumerate(g.consts):
        names[v] = f"c{i}"
        env[names[v]] = xp.asarray(v.data)
    body = []
    kernels = 0
    for i, n in enumerate(g.nodes):
        outs = [f"v{i}_{j}" for j in range(len(n.outputs))]
        for v, s in zip(n.outputs, outs):
            names[v] = s
        ins = ", ".join(names[v] for v in n.inputs)
        if n.op.ufunc is not None:
            fn = f"u_{n.op.ufunc}"
            env[fn] = getattr(xp, n.op.ufunc)
        else:
            fn = f"k{i}"
            env[fn] = functools.partial(n.op.kernel, xp, **n.attrs)
        target = outs[0] if len(outs) == 1 else ", ".join(outs)
        body.append(f"    {target} = {fn}({ins})")
        kernels += 1
    rets = [names[v] for v in g.outputs] + [names[v] for _, v in g.updates]
    body.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})")
    src = f"def plan({', '.join(args)}):\n" + "\n".join(body) + "\n"
    code = compile(src, "<graphc plan>", "exec")
    exec(code, env)
    return Plan(g, src, env["plan"], device, {"kernels": kernels})
