"""Inline NumPy expressions for common ops in generated CPU plans (static shapes and attributes are
known, so the generic kernels' Python-level argument handling is skipped)."""
from __future__ import annotations

import numpy as np

from graphc.ir import OpNode

from ..sizes import source


def expression(n: OpNode, args: list[str], env: dict, out: str | None) -> str | None:
    """A Python expression computing n's single output (written into `out` when given), or None."""
    name, a = n.op.name, n.attrs
    o = f", out={out}" if out else ""
    if n.op.ufunc is not None:
        env[f"u_{n.op.ufunc}"] = getattr(np, n.op.ufunc)
        return f"u_{n.op.ufunc}({', '.join(args)}{o})"
    x = n.inputs[0] if n.inputs else None
    red = n.op.reduction
    if red is not None and not red.mean and x.size and out is None:
        env[f"r_{red.ufunc}"] = getattr(np, red.ufunc)
        env["np"] = np
        return (f"r_{red.ufunc}.reduce({args[0]}, axis={a['axis']}, keepdims={a['keepdims']}, "
                f"dtype=np.{n.outputs[0].dtype})")
    if name == "count":     # a product of the operand's dimensions, as a scalar of the wanted dtype
        env["np"] = np
        dims = " * ".join(f"{args[0]}.shape[{i}]" for i in a["axis"]) or "1"
        return f"np.{a['dtype']}({dims})"
    if name == "reshape" and out is None:
        return f"{args[0]}.reshape({source(a['shape'])})"
    if name == "transpose" and out is None:
        return f"{args[0]}.transpose({a['perm']})"
    if name == "broadcast_to" and out is None:
        env["np_broadcast_to"] = np.broadcast_to
        return f"np_broadcast_to({args[0]}, {source(a['shape'])})"
    if name == "vdot" and out is None:
        env["np_dot"] = np.dot
        return f"np_dot({args[0]}, {args[1]})"
    if name == "concat":
        env["np_concatenate"] = np.concatenate
        return f"np_concatenate(({', '.join(args)},), axis={a['axis']}{o})"
    if name == "matmul":
        env["np_matmul"] = np.matmul
        l, r = args
        if a["transpose_a"]:
            l = f"{l}.swapaxes(-1, -2)"
        if a["transpose_b"]:
            r = f"{r}.swapaxes(-1, -2)"
        return f"np_matmul({l}, {r}{o})"
    return None
