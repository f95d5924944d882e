"""Lowering: an optimized Graph becomes one generated Python function (no per-step interpretation).

Every node becomes one line calling a ufunc or a bound kernel. Small fused groups are inlined as their
ufunc calls (per-call overhead decides small steps: config.inline_max); large ones call a cache-blocked
kernel (CPU) or a generated CUDA kernel (GPU). A collective becomes two lines: it starts where it stands and
is waited for just before its result is first read, so the nodes between overlap the exchange.
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
from graphc.passes.schedule import wait_points

from . import fp, split
from .arrays import array_module
from .collective import Collectives
from .cpu import blas, inline
from .cpu.c_kernel import CFusedKernel, Unsupported
from .cpu.chunked import FusedCPUKernel
from .cpu.native import Tiered
from .group import FusedGroup
from .plan import Plan, Result, Signature
from .sizes import SlotBuffers, binding_lines, has_dims, source

log = logging.getLogger("graphc.runtime")
POKE_ELEMENTS = 1 << 14     # a node touching this many elements lets started collectives progress after it
INLINE_HELD = 1 << 20       # an inline group's intermediates held to the end of the call at most (bytes)


class _Emitter:
    """Generated source lines plus the globals they refer to."""

    def __init__(self, xp, memory: MemoryPlan) -> None:
        self.xp = xp
        self.env: dict[str, object] = {"_quiet": fp.quiet, "_restore": fp.restore, "np": np}
        self.lines: list[str] = []
        self.names: dict[Value, str] = {}
        self.origins: dict[str, tuple[str, str | None]] = {}   # line prefix (v3, v3f0) -> (op, source line)
        self.calls = 0
        self.blas_threads: int | None = None   # the BLAS thread count set last in the generated code
        self.memory = memory
        # The slots' buffers: one set per call in flight, taken from a pool, so that calls from several
        # threads never share a buffer; the first set is made now, others when calls overlap. A slot whose
        # shape has free sizes is sized by the call (and kept in its set while the sizes stay).
        self.env.update(_alloc=functools.partial(SlotBuffers, xp, memory.slots))
        self.env["_pool"] = [self.env["_alloc"]()] if memory.slots else []
        static = [k for k, (shape, _) in enumerate(memory.slots) if not has_dims(shape)]
        self.slot_lines = [f"{''.join(f'm{k}, ' for k in static)}= _b.static"] if static else []
        for k, (shape, dtype) in enumerate(memory.slots):
            if has_dims(shape):
                self.env[f"d{k}"] = dtype
                self.slot_lines.append(f"m{k} = _b.get({k}, {source(shape)}, d{k})")

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
            static = {k: a for k, a in n.attrs.items() if not has_dims(a)}
            self.env[fn] = functools.partial(n.op.kernel, self.xp, **static)
            sized = [f"{k}={source(a)}" for k, a in n.attrs.items() if k not in static]
            expr = f"{fn}({', '.join(args + sized)})"
        self.line(n.outputs, prefix, expr, n)

    def blas(self, n: OpNode) -> None:
        """Before a matrix product on the CPU: set the BLAS threads its size calls for, if not set already
        (with free dimensions, worked out from each call's sizes)."""
        flops = blas.product_flops(n.inputs[0].shape, n.outputs[0].shape, bool(n.attrs.get("transpose_a", False)))
        if type(flops) is int:
            k = blas.threads_for(flops)
            if k is None or k == self.blas_threads:
                return
            line = f"_bt({k})"
        else:
            k, line = None, f"_bt(_blas_for({source(flops)}))"
            self.env["_blas_for"] = blas.threads_for
        self.env["_blas"] = blas.Scope
        self.lines.append(line)
        self.blas_threads = k

    def inline_group(self, n: OpNode, i: int, named: bool = False) -> None:
        """A fused group as its members' lines; `named` binds its results to the kernel call's names too."""
        sub: Graph = n.attrs["subgraph"]
        for v, outer in zip(sub.inputs, n.inputs):
            self.names[v] = self.arg(outer)
        dying, dead, held = _dying(sub), [], 0
        for j, m in enumerate(sub.nodes):
            self.node(m, f"v{i}f{j}")
            for v in dying.get(j, ()):     # released in batches: one `del` per INLINE_HELD / 4 bytes
                dead.append(v)
                held += v.size * v.dtype.itemsize
            if held >= INLINE_HELD // 4:
                self.release(dead)
                dead, held = [], 0
        self.release(dead)
        if named:
            names = [f"v{i}_{j}" for j in range(len(n.outputs))]
            self.lines.append(f"{', '.join(names)} = {', '.join(self.arg(v) for v in sub.outputs)}")
            self.names.update(zip(n.outputs, names))
        else:
            for v, inner in zip(n.outputs, sub.outputs):
                self.names[v] = self.arg(inner)

    def kernel_group(self, n: OpNode, i: int) -> None:
        """A fused group as one call of its CPU kernel (a C loop, or the chunked NumPy loop)."""
        self.env[f"f{i}"] = _cpu_kernel(n)
        outs = {j: self.target(v) for j, v in enumerate(n.outputs) if self.target(v)}
        extra = f", out={{{', '.join(f'{j}: {t}' for j, t in outs.items())}}}" if outs else ""
        self.line(n.outputs, f"v{i}", f"f{i}({', '.join(self.arg(v) for v in n.inputs)}{extra})", n)

    def start(self, n: OpNode, i: int, k: int) -> None:
        """Start the k-th collective of the plan, node i (receiving into its persistent buffer when the memory
        plan gave it one); its handle is h{i}."""
        out = self.target(n.outputs[0])
        self.lines.append(f"h{i} = _cs.start({k}, {self.arg(n.inputs[0])}{', ' + out if out else ''})")
        self.calls += 1

    def poke(self, handles: list[int]) -> None:
        """Let the started collectives progress after a node that took a while: MPI moves a large message
        only while its process calls into MPI."""
        self.lines += [f"h{i}.test()" for i in handles]

    def wait(self, n: OpNode, i: int) -> None:
        """Wait for the collective of node i; its result gets the node's name."""
        self.line(n.outputs, f"v{i}", f"h{i}.wait()", n)
        self.lines.append(f"del h{i}")

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
    """The compiled C loop for a large fused group when possible, else the NumPy chunked loop, else (sizes
    symbolic past the leading axis) the group's reference kernel, op by op; a group the fusion pass would not
    build (one made by hand) runs op by op."""
    why = group_problem(n.attrs["subgraph"])
    if why:
        log.debug("fused group %s runs op by op: %s", n.attrs["name"], why)
        return _OpByOp(n)
    try:
        return CFusedKernel(n)
    except Unsupported as e:
        log.debug("fused group %s runs on NumPy: %s", n.attrs["name"], e)
    try:
        return FusedCPUKernel(n)
    except Unsupported as e:
        log.debug("fused group %s runs op by op: %s", n.attrs["name"], e)
        return functools.partial(n.op.kernel, np, **n.attrs)


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

    A plan whose calls would hold more than `max_memory` bytes at once (an estimate from the memory plan;
    free sizes are the caller's and not counted) is refused with a ResourceError before anything is
    allocated."""
    args = [f"a{i}" for i in range(len(g.inputs))]
    bindings = binding_lines(g, args)    # symbols first: sized buffers below need them
    memory = plan_memory(g) if device == "cpu" else MemoryPlan()
    if max_memory is not None:
        need = peak_bytes(g, memory, config.inline_max if device == "cpu" else 0)
        if need > max_memory:
            raise ResourceError(f"the plan needs about {_gib(need)} while it runs, over the limit of "
                                f"{_gib(max_memory)}")
    em = _Emitter(array_module(device), memory)
    em.lines[:0] = bindings + em.slot_lines
    em.names.update(zip(g.inputs, args))
    fused = 0
    colls = [n for n in g.nodes if n.op.collective]
    cs = em.env["_cs"] = Collectives(colls) if colls else None
    waits: dict[int, list[int]] = {}          # node index -> collectives (node indices) to wait for first
    for c, j in wait_points(g).items():
        waits.setdefault(j, []).append(c)
    inflight: list[int] = []                  # collectives started and not yet waited for
    for i, n in enumerate(g.nodes):
        for c in waits.get(i, ()):
            em.wait(g.nodes[c], c)
            inflight.remove(c)
        if n.op.collective:
            em.start(n, i, colls.index(n))
            inflight.append(i)
        else:
            fused += _node(em, n, i, device)
            if inflight and _large(n):
                em.poke(inflight)
        em.release(em.memory.release_after.get(i, []))
    for c in waits.get(len(g.nodes), ()):
        em.wait(g.nodes[c], c)
    rets = [em.arg(v) for v in g.outputs + [v for _, v in g.updates]]
    ret = f"return ({', '.join(rets)}{',' if len(rets) == 1 else ''})"
    parts = split.split(em.lines) if len(em.lines) > split.MAX_LINES else []
    if parts:   # run from functions of bounded length, the values in a dict r
        bound = args + (["_b"] if memory.slots else []) + (["_bt"] if "_blas" in em.env else [])
        body = ["r = {" + ", ".join(f'"{a}": {a}' for a in bound) + "}"]
        body += [f"{name}(r)" for name, _ in parts] + [split.registers(ret)]
    else:
        body = em.lines + [ret]
    scopes = (["_blas() as _bt"] if "_blas" in em.env else []) + (["_cs.lock"] if cs else [])
    if scopes:
        body = [f"with {', '.join(scopes)}:"] + ["    " + ln for ln in body]
    # As MegEngine: inf and nan results, no floating-point warnings.
    body = ["_t = _quiet()", "try:"] + ["    " + ln for ln in body] + ["finally:", "    _restore(_t)"]
    if memory.slots:
        body = (["try:", "    _b = _pool.pop()", "except IndexError:   # every set is in use by another call",
                 "    _b = _alloc()", "try:"] + ["    " + ln for ln in body] + ["finally:", "    _pool.append(_b)"])
    src = f"def plan({', '.join(args)}):\n" + "\n".join("    " + ln for ln in body) + "\n"
    sig = signature or Signature.of(g)
    src += _runner(args, sig)
    em.env.update(_Result=Result, _new=tuple.__new__)
    head = "".join(part.lstrip("\n") for _, part in parts)   # the parts come first in the whole source
    exec(compile("\n" * head.count("\n") + src, "<graphc plan>", "exec"), em.env)
    for _, part in parts:     # each compiled alone, with its line numbers in the whole source
        exec(compile(part, "<graphc plan>", "exec"), em.env)
    src = head + src
    stats = {"nodes": len(g.nodes), "fused_groups": fused, "calls": em.calls, "collectives": len(colls),
             "buffers": len(em.memory.slots), "buffer_bytes": em.memory.bytes}
    plan = Plan(g, src, em.env, device, stats, sig, replay, cs, em.origins)
    if device == "cpu" and cs is None and config.native_after > 0:
        em.env["plan"] = Tiered(plan, g)
    return plan


def _dying(sub: Graph) -> dict[int, list[Value]]:
    """For an inline group whose intermediates add up to more than INLINE_HELD bytes: member index -> the
    intermediates last read there (released after it, as the memory plan releases large values)."""
    outs = set(sub.outputs)
    inner = [v for m in sub.nodes for v in m.outputs if v not in outs and type(v.size) is int]
    if sum(v.size * v.dtype.itemsize for v in inner) <= INLINE_HELD:
        return {}
    last: dict[Value, int] = {}
    for j, m in enumerate(sub.nodes):
        for v in m.inputs:
            last[v] = j
    out: dict[int, list[Value]] = {}
    for v in inner:
        if v in last:
            out.setdefault(last[v], []).append(v)
    return out


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB"


def _node(em: _Emitter, n: OpNode, i: int, device: str) -> int:
    """Emit node i (not a collective); 1 when it is a fused group, else 0."""
    if n.op.family != "fused":
        if n.op.family == "linalg" and device == "cpu":
            em.blas(n)
        em.node(n, f"v{i}")
        return 0
    size = FusedGroup.of(n).size
    if device == "gpu":
        from .gpu.kernels import fused_kernel  # CuPy
        em.env[f"f{i}"] = fused_kernel(n)
        em.line(n.outputs, f"v{i}", f"f{i}({', '.join(em.arg(v) for v in n.inputs)})", n)
    elif type(size) is int:
        em.inline_group(n, i) if size <= config.inline_max else em.kernel_group(n, i)
    else:   # a size known per call: small calls run the ufunc lines, large ones the kernel
        em.lines.append(f"if {source(size)} <= {config.inline_max}:")
        start = len(em.lines)
        em.inline_group(n, i, named=True)
        em.lines[start:] = ["    " + ln for ln in em.lines[start:]]
        em.lines.append("else:")
        start = len(em.lines)
        em.kernel_group(n, i)
        em.lines[start:] = ["    " + ln for ln in em.lines[start:]]
    return 1


def _large(n: OpNode) -> bool:
    """True when node n touches enough elements (or a free number of them) to let collectives progress after it."""
    sizes = [v.size for v in n.inputs + n.outputs]
    return any(type(s) is not int for s in sizes) or sum(sizes) >= POKE_ELEMENTS


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
