"""CuPy side of the GPU runtime: generated fused kernels, a per-plan memory pool, CUDA-graph replay.

The lowering calls `fused_kernel(node)` once per fused node and then calls the result with CuPy
arrays: `fused_kernel(node)(*arrays) -> array` (or a tuple when the node has several outputs).
Kernels are compiled with NVRTC through `cupy.RawKernel`; CuPy targets the current device's
architecture (sm_90 on H100/H200) and keeps compiled binaries in its on-disk cache across processes,
and `_KERNELS` keeps them per process keyed by the generated source.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable

import cupy
import numpy as np

from graphc.config import config
from graphc.ir import OpNode, Value
from graphc.ir.errors import ShapeError
from graphc.ir.specialize import bind, specialized
from graphc.ir.symbols import is_static

from .codegen import KernelSource, Layout, Options, kernel_name, leaf_layout, stage_source
from .cuda_graph import CaptureError, CudaGraphPlan, PlanMemoryPool
from .expr import Unsupported
from .schedule import Stage, schedule

__all__ = ["CaptureError", "CudaGraphPlan", "FusedKernel", "PlanMemoryPool", "compile_kernel",
           "fused_kernel", "kernel_cache_size"]

# No -arch here: CuPy adds the one of the current device (sm_90 on Hopper) itself; the sources need
# no header and no language-standard flag (NVRTC's default suffices), so nothing can clash with
# the options CuPy adds.
NVRTC_OPTIONS: tuple[str, ...] = ()

_KERNELS: dict[tuple[str, str], cupy.RawKernel] = {}
_SM_COUNT: dict[int, int] = {}


def compile_kernel(code: str, name: str) -> cupy.RawKernel:
    """The compiled kernel `name` of `code`, compiled once per process per source."""
    key = (code, name)
    k = _KERNELS.get(key)
    if k is None:
        k = cupy.RawKernel(code, name, options=NVRTC_OPTIONS)
        if hasattr(k, "compile"):
            k.compile()         # surface compile errors here, not at the first launch
        _KERNELS[key] = k
    return k


def kernel_cache_size() -> int:
    """Number of kernels compiled by this process."""
    return len(_KERNELS)


def _max_blocks(block: int) -> int:
    dev = cupy.cuda.Device().id
    if dev not in _SM_COUNT:
        _SM_COUNT[dev] = cupy.cuda.runtime.getDeviceProperties(dev)["multiProcessorCount"]
    # A persistent grid: as many blocks as fit at once (2048 threads per SM on Hopper).
    return _SM_COUNT[dev] * max(1, 2048 // block)


def _layout(a: cupy.ndarray, domain: tuple[int, ...]) -> Layout:
    if a.size == 1:
        return Layout("scalar")
    strides = tuple(s // a.itemsize for s in a.strides)
    return leaf_layout(a.shape, domain, strides, a.data.ptr % 16 == 0)


class _Launch:
    """One compiled stage variant: kernel, grid and block, and persistent workspace."""

    def __init__(self, src: KernelSource) -> None:
        self.src = src
        self.kernel = compile_kernel(src.code, src.name)
        cap = _max_blocks(src.block)
        self.grid = max(1, min(-(-src.items // src.per_block), cap))
        # Full reductions: one partial per block and a ticket the last block resets to 0, so the
        # buffers can live as long as the kernel (and be baked into a CUDA graph).
        self.workspace = [cupy.empty(self.grid, dtype=d) for d in src.partials]
        if src.partials:
            self.workspace.append(cupy.zeros(1, dtype=np.uint32))

    def __call__(self, leaves: list, outs: list) -> None:
        if self.src.kind == "elementwise" and self.src.stage is not None and self.src.stage.size == 0:
            return
        self.kernel((self.grid,), (self.src.block,), tuple(leaves) + tuple(outs) + tuple(self.workspace))


class FusedKernel:
    """A fused node's generated kernels; call with one CuPy array per node input."""

    def __init__(self, node: OpNode, opts: Options | None = None) -> None:
        self.node = node
        self.sub = node.attrs["subgraph"]
        self.name = str(node.attrs.get("name", "fused"))
        self.opts = opts or Options()
        self.fallback: str | None = None      # why the node runs op by op, if it does
        self.stages: list[Stage] = []
        try:
            self.stages = schedule(self.sub)
        except Unsupported as e:
            self._fall_back(f"cannot generate a kernel: {e}")
        self._consts: dict[Value, cupy.ndarray] = {}
        self._variants: dict[tuple, list[_Launch]] = {}

    def _fall_back(self, why: str) -> None:
        if config.gpu_strict:
            raise Unsupported(f"fused node {self.name!r}: {why}")
        self.fallback = why
        warnings.warn(f"graphc: fused node {self.name!r} runs op by op on the GPU: {why}", stacklevel=3)

    @property
    def sources(self) -> list[str]:
        """Generated sources of every compiled variant (for dumps and debugging)."""
        return [la.src.code for v in self._variants.values() for la in v]

    def _value(self, v: Value, env: dict) -> cupy.ndarray:
        if v in env:
            return env[v]
        if v not in self._consts:
            self._consts[v] = cupy.asarray(v.data)
        return self._consts[v]

    def _build(self, i: int, stage: Stage, leaves: list) -> _Launch | None:
        src = stage_source(stage, [_layout(a, stage.domain) for a in leaves], kernel_name(self.name, i),
                           self.opts)
        try:
            return _Launch(src)
        except Exception as e:              # a compile error is a generator bug: report it fully
            if config.gpu_strict:
                raise
            self._fall_back(f"compiling {src.name} failed ({type(e).__name__}: {e})")
            return None

    def __call__(self, *arrays):
        if len(arrays) != len(self.sub.inputs):
            raise TypeError(f"fused node {self.name!r} takes {len(self.sub.inputs)} arrays, got {len(arrays)}")
        if self.fallback is not None:
            return self.node.op.kernel(cupy, *arrays, **self.node.attrs)
        env: dict[Value, cupy.ndarray] = {}
        for v, a in zip(self.sub.inputs, arrays, strict=True):
            a = a if isinstance(a, cupy.ndarray) else cupy.asarray(a, dtype=v.dtype)
            if a.size != v.size or a.dtype != v.dtype:   # the kernels index every buffer by the subgraph's shapes
                raise ShapeError(f"fused node {self.name!r}: an input is {a.dtype}{list(a.shape)}, the kernel "
                                 f"reads {v.dtype}{list(v.shape)}")
            env[v] = a if a.shape == v.shape else a.reshape(v.shape)
        # The inputs' layouts decide every stage's variant (later stages read fresh contiguous buffers).
        key = tuple((a.shape, a.strides, a.data.ptr % 16 == 0) for a in env.values())
        launches = self._variants.get(key)
        built: list[_Launch] | None = [] if launches is None else None
        for i, stage in enumerate(self.stages):
            leaves = [self._value(v, env) for v in stage.leaves]
            if built is not None:
                la = self._build(i, stage, leaves)
                if la is None:
                    return self.node.op.kernel(cupy, *arrays, **self.node.attrs)
                built.append(la)
            launch = built[i] if built is not None else launches[i]
            outs = [cupy.empty(v.shape, v.dtype) for v in stage.outputs]
            if all(o.size for o in outs):
                launch(leaves, outs)
            env.update(zip(stage.outputs, outs, strict=True))
        if built is not None:
            self._variants[key] = built
        res = [self._value(v, env) for v in self.sub.outputs]
        return res[0] if len(res) == 1 else tuple(res)


class SizedFusedKernel:
    """A fused node with symbolic sizes: generated CUDA bakes sizes into its index arithmetic, so each size
    a call brings gets its own FusedKernel (generated and compiled once per size, then cached)."""

    def __init__(self, node: OpNode, opts: Options | None = None) -> None:
        self.node, self.opts = node, opts
        self.sub = node.attrs["subgraph"]
        self._by_size: dict[tuple, FusedKernel] = {}

    def __call__(self, *arrays):
        key = tuple(a.shape for a in arrays)
        k = self._by_size.get(key)
        if k is None:
            env = bind(self.sub.inputs, key)
            node = OpNode(self.node.op, {**self.node.attrs, "subgraph": specialized(self.sub, env)},
                          self.node.inputs, self.node.outputs, self.node.loc, self.node.role)
            k = self._by_size[key] = FusedKernel(node, self.opts)
        return k(*arrays)


def fused_kernel(node: OpNode, opts: Options | None = None) -> Callable[..., object]:
    """The callable running a fused node on the GPU: `(*cupy_arrays) -> array or tuple of arrays`."""
    static = all(is_static(v.shape) for n in node.attrs["subgraph"].nodes for v in n.inputs + n.outputs)
    return FusedKernel(node, opts) if static else SizedFusedKernel(node, opts)
