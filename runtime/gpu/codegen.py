"""Generated CUDA C++ for fused groups: a subgraph becomes kernel sources plus launch metadata.

Pure Python (no CuPy import): `runtime/gpu/kernels.py` compiles and launches what this returns, and the CPU
tests compile it with nvcc. Shapes are static in a plan, so sizes, strides and the index arithmetic
are compile-time constants in the source; the source is therefore specialized to the operands'
layouts (contiguous, broadcast, strided; 16-byte aligned or not), and kernels are cached by source.

Elementwise kernels: a grid-stride loop over chunks of UNROLL*BLOCK vectors of VEC elements; the
loads of a chunk are issued before any use (16-byte vector loads where every full-size operand is
contiguous and aligned), then computed and stored; a scalar tail handles size % VEC.
Reductions: the elementwise prologue is evaluated in registers and accumulated; warp shuffles and a
shared-memory step reduce each block; a full reduction writes per-block partials and the last
block to finish (an atomic ticket) reduces them, so it stays one launch and deterministic.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from graphc.ir import OpNode, Value

from . import expr as cx
from .schedule import Stage, is_inline_const, schedule

BLOCK = 256
WARP = 32
COL_SLICES = BLOCK // WARP      # reduction over leading axes: 32 outputs x 8 slices per block
ROW_BLOCK_MIN = 1024            # a row at least this long gets a whole block, else one warp


@dataclass(frozen=True)
class Layout:
    """How a kernel reads one leaf: kind is "scalar", "full" (contiguous, domain-shaped) or "strided"."""

    kind: str
    strides: tuple[int, ...] = ()   # element strides over the domain's dims (0 where broadcast)
    aligned: bool = True            # the data pointer is 16-byte aligned


def leaf_layout(shape: tuple[int, ...], domain: tuple[int, ...], strides: tuple[int, ...] | None = None,
                aligned: bool = True) -> Layout:
    """The Layout of an array of `shape` (element `strides`, C order if None) broadcast to `domain`."""
    size = int(np.prod(shape, dtype=np.int64))
    if size == 1:
        return Layout("scalar")
    if strides is None:
        strides = contiguous_strides(shape)
    if tuple(shape) == tuple(domain) and tuple(strides) == contiguous_strides(shape):
        return Layout("full", tuple(strides), aligned)
    pad = len(domain) - len(shape)
    full = [0] * pad + [0 if d == 1 else s for d, s in zip(shape, strides)]
    return Layout("strided", tuple(full), aligned)


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Element strides of a C-contiguous array."""
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= max(d, 1)
    return tuple(reversed(out))


@dataclass
class KernelSource:
    """One generated kernel and how to launch it."""

    name: str
    code: str
    kind: str                       # "elementwise" | "full" | "row_block" | "row_warp" | "col"
    items: int                      # units of work; grid = ceil(items / per_block), capped by the device
    per_block: int                  # units one block takes per loop iteration
    block: int = BLOCK
    partials: list[np.dtype] = field(default_factory=list)   # full reductions: accumulator dtypes
    vec: int = 1
    stage: Stage | None = None


@dataclass(frozen=True)
class Options:
    """Tuning knobs of the generator (defaults are what the plans use)."""

    unroll: int = 0                 # vectors in flight per thread; 0 picks by operand count
    vectorize: bool = True
    max_vec_bytes: int = 16


# ---- index arithmetic ----------------------------------------------------------------------------

def _collapse(sizes: list[int], strides: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 dims and merge neighbours whose strides chain for every leaf (fewer div/mod)."""
    dims = [(s, [st[k] for st in strides]) for k, s in enumerate(sizes) if s != 1]
    out: list[tuple[int, list[int]]] = []
    for s, st in dims:
        if out and all(po == pi * s for po, pi in zip(out[-1][1], st)):
            out[-1] = (out[-1][0] * s, st)
        else:
            out.append((s, st))
    return [d[0] for d in out], [[d[1][j] for d in out] for j in range(len(strides))]


def _offset_fn(fname: str, idx_t: str, sizes: list[int], strides: list[int]) -> str:
    """A device function mapping a linear index over `sizes` (row-major) to an element offset."""
    lines = [f"__device__ __forceinline__ {idx_t} {fname}({idx_t} i) {{"]
    terms = []
    if sizes:
        lines.append(f"  {idx_t} q = i;")
        for k in range(len(sizes) - 1, -1, -1):
            if k == 0:
                lines.append(f"  const {idx_t} c0 = q;")
            else:
                lines.append(f"  const {idx_t} c{k} = q % {sizes[k]}; q /= {sizes[k]};")
            if strides[k]:
                terms.append(f"c{k}" if strides[k] == 1 else f"c{k} * ({idx_t})({strides[k]})")
    lines.append(f"  return {' + '.join(terms) if terms else '0'};")
    lines.append("}")
    return "\n".join(lines)


def _idx_type(*extents: int) -> str:
    return "long long" if max(extents, default=0) >= 2 ** 30 else "int"


def _extent(shape: tuple[int, ...], lay: Layout) -> int:
    return 1 + sum((d - 1) * abs(s) for d, s in zip(shape, lay.strides)) if lay.strides else 1


def _ident(name: str) -> str:
    s = re.sub(r"\W", "_", name)[:40]
    return s if s and not s[0].isdigit() else "k_" + s


# ---- per-element computation ---------------------------------------------------------------------

def _body(nodes: list[OpNode], names: dict[Value, str], indent: str) -> list[str]:
    """Statements computing every node's output from `names` (leaves, literals); extends `names`."""
    lines = []
    for j, n in enumerate(nodes):
        args = [names[v] for v in n.inputs]
        var = f"t{j}"
        lines.append(f"{indent}const {cx.compute(n.outputs[0].dtype)} {var} = {cx.op_expr(n, args)};")
        names[n.outputs[0]] = var
    return lines


def _inline_consts(stage: Stage) -> dict[Value, str]:
    names = {}
    for n in stage.nodes:
        for v in n.inputs:
            if is_inline_const(v):
                names[v] = cx.literal(np.asarray(v.data).reshape(()).item(), v.dtype)
    for v in stage.outputs:
        if is_inline_const(v):
            names[v] = cx.literal(np.asarray(v.data).reshape(()).item(), v.dtype)
    return names


def _params(stage: Stage, extra: list[str]) -> str:
    ps = [f"const {cx.storage(v.dtype)}* __restrict__ p{j}" for j, v in enumerate(stage.leaves)]
    ps += [f"{cx.storage(v.dtype)}* __restrict__ q{j}" for j, v in enumerate(stage.outputs)]
    return ", ".join(ps + extra)


def _scalar_loads(stage: Stage, layouts: list[Layout], names: dict[Value, str]) -> list[str]:
    lines = []
    for j, (v, lay) in enumerate(zip(stage.leaves, layouts)):
        if lay.kind == "scalar":
            lines.append(f"  const {cx.compute(v.dtype)} s{j} = {cx.load(v.dtype, f'p{j}[0]')};")
            names[v] = f"s{j}"
    return lines


def _pick_vec(stage: Stage, layouts: list[Layout], opts: Options, outputs: bool = True) -> int:
    full = [v for v, lay in zip(stage.leaves, layouts) if lay.kind == "full"]
    full += list(stage.outputs) if outputs else []
    if not opts.vectorize or not full or any(lay.kind == "full" and not lay.aligned for lay in layouts):
        return 1
    vec = max(1, min(8, opts.max_vec_bytes // max(v.dtype.itemsize for v in full)))
    while vec > 1 and stage.size < vec:
        vec //= 2
    return vec


# ---- the vectorized loop shared by elementwise kernels and full reductions -------------------------

def _vector_loop(leaves: list[Value], layouts: list[Layout], vec: int, unroll: int, nv: int, idx_t: str,
                 names: dict[Value, str], element: Callable[[str, dict], list[str]],
                 strided_load: Callable[[int], list[str]] | None = None,
                 before: list[str] = (), after: list[str] = ()) -> list[str]:
    """A grid-stride loop over chunks of unroll*BLOCK vectors of `vec` elements.

    The loads of a chunk are issued before any use (a 16-byte vector load per full leaf, `strided_load(j)`
    per strided one), then each lane is computed by `element(indent, names)` with x<j> naming the loaded
    leaves; `before` and `after` run around the lanes of each vector (the elementwise kernel's stores).
    """
    chunk = unroll * BLOCK
    vector = [j for j, lay in enumerate(layouts) if lay.kind in ("full", "strided")]
    lines = [f"  for ({idx_t} base = ({idx_t})blockIdx.x * {chunk}; base < {nv}; "
             f"base += ({idx_t})gridDim.x * {chunk}) {{"]
    for j in vector:
        st = cx.storage(leaves[j].dtype)
        lines.append(f"    g_vec<{st}, {vec}> r{j}[{unroll}];" if layouts[j].kind == "full"
                     else f"    {st} r{j}[{unroll}][{vec}];")
    head = ["    #pragma unroll", f"    for (int u = 0; u < {unroll}; ++u) {{",
            f"      const {idx_t} v = base + u * {BLOCK} + ({idx_t})threadIdx.x;", f"      if (v < {nv}) {{"]
    lines += head
    for j in vector:
        if layouts[j].kind == "full":
            st = cx.storage(leaves[j].dtype)
            lines.append(f"        r{j}[u] = reinterpret_cast<const g_vec<{st}, {vec}>*>(p{j})[v];")
        else:
            lines += strided_load(j)
    lines += ["      }", "    }"] + head + list(before)
    lines += ["        #pragma unroll", f"        for (int k = 0; k < {vec}; ++k) {{"]
    lanes = dict(names)
    for j in vector:
        v = leaves[j]
        reg = f"r{j}[u].v[k]" if layouts[j].kind == "full" else f"r{j}[u][k]"
        lines.append(f"          const {cx.compute(v.dtype)} x{j} = {cx.load(v.dtype, reg)};")
        lanes[v] = f"x{j}"
    lines += element("          ", lanes)
    lines.append("        }")
    lines += list(after) + ["      }", "    }", "  }"]
    return lines


# ---- elementwise kernels -------------------------------------------------------------------------

def elementwise_source(stage: Stage, layouts: list[Layout], name: str, opts: Options = Options()) -> KernelSource:
    """The kernel of an elementwise stage for leaves read as `layouts` (outputs are contiguous)."""
    n = stage.size
    vec = _pick_vec(stage, layouts, opts)
    strided = [j for j, lay in enumerate(layouts) if lay.kind == "strided"]
    idx_t = _idx_type(n + 2 ** 22, *(_extent(stage.leaves[j].shape, layouts[j]) for j in strided))
    sizes, strides = _collapse(list(stage.domain), [list(layouts[j].strides) for j in strided])
    # Measured on an H200 (bench_gpu.py sweep, 8-op chain on 2^26 float32): one vector in flight per
    # thread reached 89% of copy bandwidth, two 82%, four 77%; the grid already hides the latency.
    unroll = opts.unroll or 1
    nv = n // vec
    head = [cx.PREAMBLE]
    for k, j in enumerate(strided):
        head.append(_offset_fn(f"g_off{j}", idx_t, sizes, strides[k]))
    names = _inline_consts(stage)
    lines = [f'extern "C" __global__ void __launch_bounds__({BLOCK}) {name}({_params(stage, [])}) {{']
    lines += _scalar_loads(stage, layouts, names)
    # Lanes of one vector share every outer coordinate when the innermost dim is a multiple of VEC.
    inner_ok = vec > 1 and bool(sizes) and sizes[-1] % vec == 0

    def strided_load(j: int) -> list[str]:
        k = strided.index(j)
        if not inner_ok:
            return ["        #pragma unroll",
                    f"        for (int k = 0; k < {vec}; ++k) r{j}[u][k] = p{j}[g_off{j}(v * {vec} + k)];"]
        inner = strides[k][-1] if strides[k] else 0
        step = "" if inner == 0 else f" + k * {inner}"
        return [f"        {{ const {idx_t} o = g_off{j}(v * {vec});", "          #pragma unroll",
                f"          for (int k = 0; k < {vec}; ++k) r{j}[u][k] = p{j}[o{step}]; }}"]

    def element(indent: str, lanes: dict) -> list[str]:
        out = _body(stage.nodes, lanes, indent)
        return out + [f"{indent}w{j}.v[k] = {cx.store(v.dtype, lanes[v])};" for j, v in enumerate(stage.outputs)]

    before = [f"        g_vec<{cx.storage(v.dtype)}, {vec}> w{j};" for j, v in enumerate(stage.outputs)]
    after = [f"        reinterpret_cast<g_vec<{cx.storage(v.dtype)}, {vec}>*>(q{j})[v] = w{j};"
             for j, v in enumerate(stage.outputs)]
    lines += _vector_loop(stage.leaves, layouts, vec, unroll, nv, idx_t, names, element, strided_load, before, after)
    if n % vec:
        lines.append(f"  for ({idx_t} i = {nv * vec} + ({idx_t})blockIdx.x * {BLOCK} + ({idx_t})threadIdx.x; "
                     f"i < {n}; i += ({idx_t})gridDim.x * {BLOCK}) {{")
        tnames = dict(names)
        for j, (v, lay) in enumerate(zip(stage.leaves, layouts)):
            if lay.kind in ("full", "strided"):
                tnames[v] = f"x{j}"
                at = f"p{j}[i]" if lay.kind == "full" else f"p{j}[g_off{j}(i)]"
                lines.append(f"    const {cx.compute(v.dtype)} x{j} = {cx.load(v.dtype, at)};")
        lines += _body(stage.nodes, tnames, "    ")
        for j, v in enumerate(stage.outputs):
            lines.append(f"    q{j}[i] = {cx.store(v.dtype, tnames[v])};")
        lines.append("  }")
    lines.append("}")
    code = "\n".join(head) + "\n" + "\n".join(lines) + "\n"
    return KernelSource(name, code, "elementwise", items=nv, per_block=unroll * BLOCK, vec=vec, stage=stage)


# ---- reductions ----------------------------------------------------------------------------------

def _acc_dtype(r: OpNode) -> np.dtype:
    d, red = r.inputs[0].dtype, r.op.reduction
    if d.kind == "f":
        return cx.F64 if d == cx.F64 else cx.F32
    if d.kind == "b" or red.ufunc in ("add", "multiply"):
        return np.dtype(np.int32) if d.itemsize <= 4 else np.dtype(np.int64)
    return d


_COMBINE = {"add": "a + b", "multiply": "a * b", "maximum": ">", "minimum": "<"}


def _combine(r: OpNode, acc: np.dtype) -> tuple[str, str]:
    """(identity, combine expression over a and b) of one reduction."""
    red, flt = r.op.reduction, acc.kind == "f"
    if red.identity in ("zero", "one"):
        ident = cx.literal(int(red.identity == "one"), acc)
    else:
        ident = cx.extreme(acc, red.identity == "lowest")
    c = _COMBINE[red.ufunc]
    if c in (">", "<"):   # max and min propagate NaN, as NumPy does
        c = f"(a {c} b || a != a) ? a : b" if flt else f"a {c} b ? a : b"
    return ident, c


def _reduce_helpers(stage: Stage) -> list[str]:
    out = []
    for j, r in enumerate(stage.reductions):
        acc = _acc_dtype(r)
        ct = cx.storage(acc)
        ident, comb = _combine(r, acc)
        out.append(f"__device__ __forceinline__ {ct} g_comb{j}({ct} a, {ct} b) {{ return {comb}; }}")
        out.append(f"__device__ __forceinline__ {ct} g_warp{j}({ct} v) {{\n  #pragma unroll\n"
                   f"  for (int o = 16; o > 0; o >>= 1) v = g_comb{j}(v, __shfl_down_sync(0xffffffffu, v, o));\n"
                   f"  return v; }}")
        out.append(f"__device__ __forceinline__ {ct} g_block{j}({ct} v, {ct}* sm) {{\n"
                   f"  v = g_warp{j}(v);\n  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;\n"
                   f"  if (lane == 0) sm[wid] = v;\n  __syncthreads();\n"
                   f"  v = ((int)threadIdx.x < (int)(blockDim.x >> 5)) ? sm[lane] : {ident};\n"
                   f"  if (wid == 0) v = g_warp{j}(v);\n  __syncthreads();\n  return v; }}")
    return out


def _strategy(stage: Stage) -> tuple[str, int, int]:
    """(kind, outputs M, reduced length K) for a reduce stage."""
    dom, axes = stage.domain, set(stage.axes)
    m = int(np.prod([d for i, d in enumerate(dom) if i not in axes], dtype=np.int64))
    k = int(np.prod([d for i, d in enumerate(dom) if i in axes], dtype=np.int64))
    if m == 1:
        return "full", m, k
    inner = [i for i, d in enumerate(dom) if d != 1]
    if inner and inner[-1] in axes:
        return ("row_block" if k >= ROW_BLOCK_MIN else "row_warp"), m, k
    return "col", m, k


@dataclass
class _Reduce:
    """What every reduction strategy shares: the stage, its accumulators, and the per-element statements."""

    stage: Stage
    layouts: list[Layout]
    m: int                              # outputs
    k: int                              # reduced elements per output
    idx_t: str
    strided: list[int]                  # leaves read from memory (not scalars)
    names: dict[Value, str]
    accs: list[tuple[np.dtype, tuple[str, str]]] = field(default_factory=list)   # (dtype, (identity, combine))

    def element(self, indent: str, offs: dict[int, str] | None = None, lanes: dict | None = None) -> list[str]:
        """Load the leaves at `offs` (or take the already loaded `lanes`), evaluate, accumulate."""
        en = dict(self.names) if lanes is None else lanes
        out = []
        for j in self.strided if lanes is None else ():
            v = self.stage.leaves[j]
            out.append(f"{indent}const {cx.compute(v.dtype)} x{j} = {cx.load(v.dtype, f'p{j}[{offs[j]}]')};")
            en[v] = f"x{j}"
        out += _body(self.stage.nodes, en, indent)
        for j, r in enumerate(self.stage.reductions):
            out.append(f"{indent}acc{j} = g_comb{j}(acc{j}, ({cx.storage(self.accs[j][0])})({en[r.inputs[0]]}));")
        return out

    def init(self, indent: str) -> list[str]:
        return [f"{indent}{cx.storage(a)} acc{j} = {c[0]};" for j, (a, c) in enumerate(self.accs)]

    def write(self, indent: str, at: str) -> list[str]:
        out = []
        for j, (v, r) in enumerate(zip(self.stage.outputs, self.stage.reductions)):
            acc = f"acc{j}"
            if r.op.reduction.mean:
                acc = f"({acc} / ({cx.compute(_acc_dtype(r))})({self.k}))"
            out.append(f"{indent}q{j}[{at}] = {cx.store(v.dtype, acc)};")
        return out

    def offsets(self, o: str, r: str) -> dict[int, str]:
        return {j: f"g_oo{j}({o}) + g_or{j}({r})" for j in self.strided}


def _full_reduction(red: _Reduce, opts: Options) -> tuple[list[str], int, int, int]:
    """One output: a grid-stride loop per thread, a block reduction, then per-block partials that the last
    block to finish (an atomic ticket) combines, so the reduction is one launch and deterministic."""
    stage, layouts, k, idx_t = red.stage, red.layouts, red.k, red.idx_t
    vec = _pick_vec(stage, layouts, opts, outputs=False)
    if any(layouts[j].kind == "strided" for j in red.strided):
        vec = 1
    lines = red.init("  ")
    nv, unroll = k // vec, opts.unroll or 4
    if vec > 1:
        lines += _vector_loop(stage.leaves, layouts, vec, unroll, nv, idx_t, red.names,
                              lambda indent, lanes: red.element(indent, lanes=lanes))
    start = nv * vec if vec > 1 else 0
    if start < k:
        lines.append(f"  for ({idx_t} i = {start} + ({idx_t})blockIdx.x * {BLOCK} + ({idx_t})threadIdx.x; "
                     f"i < {k}; i += ({idx_t})gridDim.x * {BLOCK}) {{")
        lines += red.element("    ", red.offsets("0", "i"))
        lines.append("  }")
    n_acc = len(red.accs)
    lines += [f"  acc{j} = g_block{j}(acc{j}, g_sm{j});" for j in range(n_acc)]
    lines += ["  if (gridDim.x == 1) {", "    if (threadIdx.x == 0) {", *red.write("      ", "0"),
              "    }", "    return;", "  }", "  __shared__ bool g_last;", "  if (threadIdx.x == 0) {"]
    lines += [f"    part{j}[blockIdx.x] = acc{j};" for j in range(n_acc)]
    lines += ["    __threadfence();", "    g_last = atomicAdd(ticket, 1u) == gridDim.x - 1;", "  }",
              "  __syncthreads();", "  if (!g_last) return;", "  __threadfence();"]
    lines += [f"  acc{j} = {c[0]};" for j, (_, c) in enumerate(red.accs)]
    lines.append(f"  for (int b = threadIdx.x; b < (int)gridDim.x; b += {BLOCK}) {{")
    lines += [f"    acc{j} = g_comb{j}(acc{j}, ((volatile {cx.storage(a)}*)part{j})[b]);"
              for j, (a, _) in enumerate(red.accs)]
    lines.append("  }")
    lines += [f"  acc{j} = g_block{j}(acc{j}, g_sm{j});" for j in range(n_acc)]
    lines += ["  if (threadIdx.x == 0) {", *red.write("    ", "0"),
              "    *ticket = 0u;  // ready for the next launch (and CUDA-graph replays)", "  }"]
    if vec > 1:
        return lines, nv, unroll * BLOCK, vec
    return lines, k, BLOCK, vec


def _row_reduction(red: _Reduce, warp: bool) -> tuple[list[str], int, int]:
    """Each output row reduced by a block (long rows) or a warp (short ones)."""
    m, k, idx_t = red.m, red.k, red.idx_t
    wpb = BLOCK // WARP
    lines = []
    if warp:
        lines.append("  const int lane = threadIdx.x & 31;")
        lines.append(f"  for ({idx_t} o = ({idx_t})blockIdx.x * {wpb} + (threadIdx.x >> 5); o < {m}; "
                     f"o += ({idx_t})gridDim.x * {wpb}) {{")
    else:
        lines.append(f"  for ({idx_t} o = blockIdx.x; o < {m}; o += gridDim.x) {{")
    lines += red.init("    ")
    lane, stride = ("lane", 32) if warp else ("threadIdx.x", BLOCK)
    lines.append(f"    for ({idx_t} r = {lane}; r < {k}; r += {stride}) {{")
    lines += red.element("      ", red.offsets("o", "r"))
    lines.append("    }")
    for j in range(len(red.accs)):
        lines.append(f"    acc{j} = g_warp{j}(acc{j});" if warp else f"    acc{j} = g_block{j}(acc{j}, g_sm{j});")
    lines += [f"    if ({lane} == 0) {{", *red.write("      ", "o"), "    }", "  }"]
    return lines, m, (wpb if warp else 1)


def _col_reduction(red: _Reduce) -> tuple[list[str], int, int]:
    """Reduction over leading axes: a thread per output, COL_SLICES threads splitting the reduced range."""
    m, k, idx_t = red.m, red.k, red.idx_t
    lines = [f"  __shared__ {cx.storage(a)} g_cs{j}[{COL_SLICES}][33];" for j, (a, _) in enumerate(red.accs)]
    lines += ["  const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;",
              f"  for ({idx_t} ob = ({idx_t})blockIdx.x * 32; ob < {m}; ob += ({idx_t})gridDim.x * 32) {{",
              f"    const {idx_t} o = ob + tx;"]
    lines += red.init("    ")
    lines += [f"    if (o < {m}) {{", f"      for ({idx_t} r = ty; r < {k}; r += {COL_SLICES}) {{"]
    lines += red.element("        ", red.offsets("o", "r"))
    lines += ["      }", "    }"]
    lines += [f"    g_cs{j}[ty][tx] = acc{j};" for j in range(len(red.accs))]
    lines += ["    __syncthreads();", f"    if (ty == 0 && o < {m}) {{",
              f"      for (int s = 1; s < {COL_SLICES}; ++s) {{"]
    lines += [f"        acc{j} = g_comb{j}(acc{j}, g_cs{j}[s][tx]);" for j in range(len(red.accs))]
    lines += ["      }", *red.write("      ", "o"), "    }", "    __syncthreads();", "  }"]
    return lines, m, 32


def reduction_source(stage: Stage, layouts: list[Layout], name: str, opts: Options = Options()) -> KernelSource:
    """The kernel of a reduce stage (prologue + sum/mean/max/min/prod over `stage.axes`)."""
    kind, m, k = _strategy(stage)
    dom, axes = stage.domain, set(stage.axes)
    strided = [j for j, lay in enumerate(layouts) if lay.kind != "scalar"]
    idx_t = _idx_type(stage.size + 2 ** 22, *(_extent(stage.leaves[j].shape, layouts[j]) for j in strided))
    sts = [list(layouts[j].strides) for j in strided]
    o_dims = [i for i in range(len(dom)) if i not in axes]
    r_dims = [i for i in range(len(dom)) if i in axes]
    o_sizes, o_str = _collapse([dom[i] for i in o_dims], [[s[i] for i in o_dims] for s in sts])
    r_sizes, r_str = _collapse([dom[i] for i in r_dims], [[s[i] for i in r_dims] for s in sts])
    head = [cx.PREAMBLE] + _reduce_helpers(stage)
    for c, j in enumerate(strided):
        head.append(_offset_fn(f"g_oo{j}", idx_t, o_sizes, o_str[c]))
        head.append(_offset_fn(f"g_or{j}", idx_t, r_sizes, r_str[c]))
    red = _Reduce(stage, layouts, m, k, idx_t, strided, _inline_consts(stage),
                  [(_acc_dtype(r), _combine(r, _acc_dtype(r))) for r in stage.reductions])
    extra = [f"{cx.storage(a)}* __restrict__ part{j}" for j, (a, _) in enumerate(red.accs)] if kind == "full" else []
    if kind == "full":
        extra.append("unsigned int* __restrict__ ticket")
    lines = [f'extern "C" __global__ void __launch_bounds__({BLOCK}) {name}({_params(stage, extra)}) {{']
    lines += [f"  __shared__ {cx.storage(a)} g_sm{j}[32];" for j, (a, _) in enumerate(red.accs)]
    lines += _scalar_loads(stage, layouts, red.names)
    vec = 1
    if kind == "full":
        body, items, per_block, vec = _full_reduction(red, opts)
    elif kind in ("row_block", "row_warp"):
        body, items, per_block = _row_reduction(red, kind == "row_warp")
    else:
        body, items, per_block = _col_reduction(red)
    code = "\n".join(head) + "\n" + "\n".join(lines + body + ["}"]) + "\n"
    return KernelSource(name, code, kind, items=items, per_block=per_block, vec=vec,
                        partials=[a for a, _ in red.accs] if kind == "full" else [], stage=stage)


# ---- entry points --------------------------------------------------------------------------------

def stage_source(stage: Stage, layouts: list[Layout], name: str, opts: Options = Options()) -> KernelSource:
    """The kernel of one stage for its leaves' layouts."""
    if stage.kind == "reduce":
        return reduction_source(stage, layouts, name, opts)
    return elementwise_source(stage, layouts, name, opts)


def kernel_name(node_name: str, index: int) -> str:
    """A C identifier for stage `index` of a fused node."""
    return f"graphc_{_ident(node_name)}_{index}"


def default_layouts(stage: Stage) -> list[Layout]:
    """Layouts of contiguous, aligned leaves (what a plan's own buffers look like)."""
    return [leaf_layout(v.shape, stage.domain) for v in stage.leaves]


def generate(node: OpNode, opts: Options = Options()) -> list[KernelSource]:
    """Kernel sources of a fused node, assuming contiguous aligned operands."""
    sub = node.attrs["subgraph"]
    return [stage_source(s, default_layouts(s), kernel_name(node.attrs.get("name", "fused"), i), opts)
            for i, s in enumerate(schedule(sub))]
