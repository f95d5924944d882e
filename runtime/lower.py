"""Lowering: an optimized Graph becomes one generated Python function (no per-step interpretation).

Every node becomes one line calling a ufunc or a bound kernel. Small fused groups are inlined as their
ufunc calls (per-call overhead decides small steps: config.inline_max); large ones call a cache-blocked
kernel (CPU) or a generated CUDA kernel (GPU).
"""
from __future__ import annotations

import functools
import logging

import numpy as np

from graphc.config import config
from graphc.ir import Graph, OpNode, Value
from graphc.ir.errors import ResourceError
from graphc.ir.ops.fused import group_problem
from graphc.passes.memory import MemoryPlan, peak_bytes, plan_memory

from .arrays import array_module
from .cpu import inline
from .cpu.c_kernel import CFusedKernel, Unsupported
from .cpu.chunked import FusedCPUKernel
from .group import FusedGroup
from .plan import Plan, Result, Signature

log = logging.getLogger("graphc.runtime")


class _Emitter:
    """Generated source lines plus the globals they refer to."""

    def __init__(self, xp, memory: MemoryPlan) -> None:
        self.xp = xp
        self.env: dict[str, object] = {"_errstate": np.errstate, "np": np}
        self.lines: list[str] = []
        self.names: dict[Value, str] = {}
        self.origins: dict[str, tuple[str, str | None]] = {}   # line prefix (v3, v3f0) -> (op, source line)
        self.calls = 0
        self.memory = memory
        # The slots' buffers: one set per call in flight, taken from a pool, so that calls from several
        # threads never share a buffer; the first set is made now, others when calls overlap.
        slots = memory.slots

        def alloc() -> tuple:
            return tuple(xp.empty(shape, dtype) for shape, dtype in slots)
        self.env.update(_alloc=alloc, _pool=[alloc()] if slots else [])

    def arg(self, v: Value) -> str:
        """The expression naming a value (constants become globals)."""
        name = self.names.get(v)
        if name is None:
            if v.kind != "const":
                raise KeyError(v)
            name = self.names[v] = f"c{len(self.env)}"
            self.env[name] = self.xp.asarray(v.data)
        return name

    def line(self, outs: list[Value], prefix: str, expr: str, n: OpNode) -> None:
        self.origins[prefix] = (n.attrs["name"] if n.op.family == "fused" else n.op.name, n.loc)
        names = [f"{prefix}_{j}" for j in range(len(outs))]
        self.lines.append(f"{', '.join(names)}{',' if len(names) > 1 else ''} = {expr}")
        self.names.update(zip(outs, names))
        self.calls += 1

    def target(self, v: Value) -> str | None:
        """Where v is written: a persistent slot, or (in place) the buffer of the state it updates."""
        slot = self.memory.slot_of.get(v)
        if slot is not None:
            return f"m{slot}"
        state = self.memory.inplace.get(v)
        if state is not None:
            self.env["_own"] = _own
            return f"_own({self.arg(state)})"
        return None

    def node(self, n: OpNode, prefix: str) -> None:
        args = [self.arg(v) for v in n.inputs]
        expr = None
        if self.xp is np:
            expr = inline.expression(n, args, self.env, self.target(n.outputs[0]))
        elif n.op.ufunc is not None:
            self.env[f"u_{n.op.ufunc}"] = getattr(self.xp, n.op.ufunc)
            expr = f"u_{n.op.ufunc}({', '.join(args)})"
        elif n.op.name == "vdot":  # a reduction kernel rather than cuBLAS, so CUDA graphs can capture it
            expr = f"({args[0]} * {args[1]}).sum()"
        elif n.op.name == "matmul" and _gemm_ok(n):
            from .gpu.blas import matmul  # CuPy
            self.env["gemm"] = matmul
            expr = f"gemm({args[0]}, {args[1]}, {n.attrs['transpose_a']}, {n.attrs['transpose_b']})"
        if expr is None:
            fn = f"k{prefix}"
            self.env[fn] = functools.partial(n.op.kernel, self.xp, **n.attrs)
            expr = f"{fn}({', '.join(args)})"
        self.line(n.outputs, prefix, expr, n)

    def release(self, values: list[Value]) -> None:
        """Drop the local names of dead values so their memory returns before the call ends."""
        dead = [self.names[v] for v in values if v in self.names and not self.names[v].startswith(("a", "c"))]
        if dead:
            self.lines.append(f"del {', '.join(dead)}")


def _gemm_ok(n: OpNode) -> bool:
    """A 2-D product graphc's capturable cuBLAS call handles (others go through cupy.matmul)."""
    from .gpu.blas import SUPPORTED, available  # CuPy
    a, b = n.inputs
    return a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and a.dtype in SUPPORTED and available()


def _cpu_kernel(n: OpNode):
    """The compiled C loop for a large fused group when possible, else the NumPy chunked loop; a group
    the fusion pass would not build (one made by hand) runs op by op."""
    why = group_problem(n.attrs["subgraph"])
    if why:
        log.debug("fused group %s runs op by op: %s", n.attrs["name"], why)
        return _OpByOp(n)
    try:
        return CFusedKernel(n)
    except Unsupported as e:
        log.debug("fused group %s runs on NumPy: %s", n.attrs["name"], e)
        return FusedCPUKernel(n)


class _OpByOp:
    """A fused node run by its reference kernel (the kernels' calling convention; `out` is not used)."""

    def __init__(self, n: OpNode) -> None:
        self.run = functools.partial(n.op.kernel, np, **n.attrs)

    def __call__(self, *arrays, out: dict | None = None):
        return self.run(*arrays)


def _own(a):
    """`a` when the plan may write into it (a writable NumPy array), else None (a new array)."""
    return a if type(a) is np.ndarray and a.flags.writeable and a.flags.c_contiguous else None


def lower(g: Graph, device: str = "cpu", signature: Signature | None = None, replay: bool = False,
          max_memory: int | None = None) -> Plan:
    """Generate and compile the plan function for `g` on `device` ("cpu" or "gpu").

    A plan whose calls would hold more than `max_memory` bytes at once (an estimate from the memory plan)
    is refused with a ResourceError before anything is allocated."""
    memory = plan_memory(g) if device == "cpu" else MemoryPlan()
    if max_memory is not None:
        need = peak_bytes(g, memory, config.inline_max if device == "cpu" else 0)
        if need > max_memory:
            raise ResourceError(f"the plan needs about {_gib(need)} while it runs, over the limit of "
                                f"{_gib(max_memory)}")
    em = _Emitter(array_module(device), memory)
    args = []
    for i, v in enumerate(g.inputs):
        em.names[v] = f"a{i}"
        args.append(em.names[v])
    fused = 0
    for i, n in enumerate(g.nodes):
        if n.op.family != "fused":
            em.node(n, f"v{i}")
            em.release(em.memory.release_after.get(i, []))
            continue
        fused += 1
        sub: Graph = n.attrs["subgraph"]
        if device == "gpu":
            from .gpu.kernels import fused_kernel  # CuPy
            em.env[f"f{i}"] = fused_kernel(n)
            em.line(n.outputs, f"v{i}", f"f{i}({', '.join(em.arg(v) for v in n.inputs)})", n)
        elif FusedGroup.of(n).size <= config.inline_max:
            for v, outer in zip(sub.inputs, n.inputs):
                em.names[v] = em.arg(outer)
            for j, m in enumerate(sub.nodes):
                em.node(m, f"v{i}f{j}")
            for v, inner in zip(n.outputs, sub.outputs):
                em.names[v] = em.arg(inner)
        else:
            em.env[f"f{i}"] = _cpu_kernel(n)
            outs = {j: em.target(v) for j, v in enumerate(n.outputs) if em.target(v)}
            extra = f", out={{{', '.join(f'{j}: {t}' for j, t in outs.items())}}}" if outs else ""
            em.line(n.outputs, f"v{i}", f"f{i}({', '.join(em.arg(v) for v in n.inputs)}{extra})", n)
        em.release(em.memory.release_after.get(i, []))
    rets = [em.arg(v) for v in g.outputs + [v for _, v in g.updates]]
    body = ["with _errstate(all='ignore'):"] + ["    " + ln for ln in em.lines]
    body.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})")
    if memory.slots:
        bufs = ", ".join(f"m{k}" for k in range(len(memory.slots))) + ","
        body = (["try:", f"    {bufs} = _pool.pop()", "except IndexError:   # every set is in use by another call",
                 f"    {bufs} = _alloc()", "try:"] + ["    " + ln for ln in body]
                + ["finally:", f"    _pool.append(({bufs}))"])
    src = f"def plan({', '.join(args)}):\n" + "\n".join("    " + ln for ln in body) + "\n"
    sig = signature or Signature.of(g)
    src += _runner(args, sig)
    em.env.update(_Result=Result, _new=tuple.__new__)
    exec(compile(src, "<graphc plan>", "exec"), em.env)
    stats = {"nodes": len(g.nodes), "fused_groups": fused, "calls": em.calls,
             "buffers": len(em.memory.slots), "buffer_bytes": em.memory.bytes}
    return Plan(g, src, em.env["plan"], device, stats, sig, replay, em.env["run"], em.origins)


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB"


def _runner(args: list[str], sig: Signature) -> str:
    """`run(args, states) -> Result`: the plan's calling convention as generated code (no loops per call):
    arguments and states unpacked, the results split into outputs, gradients and every state's new value."""
    n_out, n_ret = sig.n_outputs, sig.n_outputs + sig.n_grads
    states = args[sig.n_args:]
    new = list(states)
    for j, k in enumerate(sig.updates):
        new[k] = f"r[{n_ret + j}]"

    def tup(items: list[str]) -> str:
        return f"({', '.join(items)}{',' if len(items) == 1 else ''})"
    lines = ["def run(args, states):",
             f"    {', '.join(args[:sig.n_args]) + ',' if sig.n_args else '_'} = args" if sig.n_args else "",
             f"    {', '.join(states)}, = states" if states else "",
             f"    r = plan({', '.join(args)})",
             f"    return _new(_Result, ({tup([f'r[{i}]' for i in range(n_out)])}, "
             f"{tup([f'r[{i}]' for i in range(n_out, n_ret)])}, {tup(new)}))"]
    return "\n" + "\n".join(ln for ln in lines if ln) + "\n"
