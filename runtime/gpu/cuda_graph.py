"""A per-plan CuPy memory pool, and replay of a whole plan as one CUDA graph.

Pitfalls of CuPy stream capture that `CudaGraphPlan` handles (or reports):
- A graph bakes raw device pointers. Every buffer the captured work touches (inputs, outputs,
  temporaries, reduction workspaces) must stay allocated and unshared while the graph lives. CuPy's
  pool hands freed blocks to the next allocation, so capture runs under a private pool that only
  this plan allocates from, kept alive with the graph: temporaries freed during capture are reused
  within the capture exactly as recorded, and nothing outside can ever receive those blocks.
- CuPy captures in relaxed mode, so its pool may still cudaMalloc during capture; that memory is
  not owned by the graph (no memory nodes), which is what the private pool relies on.
- Anything that synchronizes with the host inside the plan (`.item()`, `.get()`, `bool(array)`,
  `cupy.nonzero`, a synchronous copy from host memory) invalidates the capture; so do cuRAND and,
  in the CuPy versions tracked by cupy issue 6290, CuPy's cuBLAS/cuSOLVER calls (it raises
  NotImplementedError; plans call gpu_blas for products instead). Capture failure raises CaptureError,
  or with fallback=True the plan keeps running eagerly and `reason` says why.
- Kernels must be compiled and modules loaded before capture, and library handles created and bound
  to the capture stream (gpu_blas binds its cuBLAS handle, and installs its workspace, when the stream
  changes): the function runs `warmup` times eagerly first, on the capture stream.
- Python scalars passed to kernels are baked into the graph at capture: whatever changes per step
  (learning rates, step counters, random seeds) must live in device arrays among the inputs.
- Capture needs a non-default, non-blocking stream (the legacy stream implicitly synchronizes with
  blocking streams: cudaErrorStreamCaptureImplicit). Replays go on the caller's current stream.
- Outputs are the same static buffers on every replay: each call overwrites the previous results
  (copy_outputs=True returns fresh copies instead).
- Per call, only the host-side work of a replay remains: inputs that are not already the static
  buffers are copied in with one memcpy each (cupy.copyto costs several times more), the graph is
  launched, and outputs are copied out the same way. `step_graph` removes the copies of states.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import cupy

from graphc.ir.errors import GraphcError

from .static_step import Backend, StepGraph

_D2D = cupy.cuda.runtime.memcpyDeviceToDevice


class CaptureError(GraphcError, RuntimeError):
    """The plan could not be captured as a CUDA graph (the message says which operation refused)."""


class PlanMemoryPool:
    """A private CuPy memory pool for one plan: buffers are reused across calls and freed together.

    Use as a context manager around plan calls: allocations inside (outputs, temporaries) come from
    this pool rather than CuPy's process-wide default pool.
    """

    def __init__(self) -> None:
        self.pool = cupy.cuda.MemoryPool()
        self._ctx: list = []

    def __enter__(self) -> PlanMemoryPool:
        ctx = cupy.cuda.using_allocator(self.pool.malloc)
        ctx.__enter__()
        self._ctx.append(ctx)
        return self

    def __exit__(self, *exc) -> None:
        self._ctx.pop().__exit__(*exc)

    def used_bytes(self) -> int:
        """Bytes held by live arrays."""
        return self.pool.used_bytes()

    def total_bytes(self) -> int:
        """Bytes reserved from the device (live and cached)."""
        return self.pool.total_bytes()

    def free_all(self) -> None:
        """Return cached (unused) blocks to the device."""
        self.pool.free_all_blocks()


def _as_tuple(r) -> tuple:
    return tuple(r) if isinstance(r, (tuple, list)) else (r,)


def _memcpy(dst: cupy.ndarray, src: cupy.ndarray) -> None:
    """dst[...] = src on the current stream: one memcpy when both are contiguous alike, else a kernel."""
    if src.flags.c_contiguous and dst.flags.c_contiguous and src.dtype == dst.dtype:
        if src.nbytes:
            cupy.cuda.runtime.memcpyAsync(dst.data.ptr, src.data.ptr, src.nbytes, _D2D,
                                          cupy.cuda.get_current_stream().ptr)
    else:
        cupy.copyto(dst, src)


def fresh_copy(a: cupy.ndarray) -> cupy.ndarray:
    """A new C-contiguous copy of `a` (from the default pool, not a plan's)."""
    out = cupy.empty(a.shape, a.dtype)
    _memcpy(out, a)
    return out


class CudaGraphPlan:
    """`fn(*cupy_arrays) -> tuple of cupy arrays` captured once as a CUDA graph and replayed.

    Inputs are copied into static buffers owned by the plan, then the graph is launched on the
    current stream; the returned arrays are the plan's static output buffers.
    """

    def __init__(self, fn: Callable[..., object], example_inputs: Sequence[cupy.ndarray], *,
                 warmup: int = 2, copy_outputs: bool = False, fallback: bool = True) -> None:
        self.fn = fn
        self.copy_outputs = copy_outputs
        self.pool = PlanMemoryPool()
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.graph = None
        self.reason: str | None = None       # why replays run eagerly, when they do
        with self.pool:
            self.static_inputs = [cupy.array(a, copy=True) for a in example_inputs]
            cupy.cuda.get_current_stream().synchronize()
            outs = None
            with self.stream:
                for _ in range(max(1, warmup)):
                    outs = fn(*self.static_inputs)
                self.stream.synchronize()
            try:
                self.static_outputs = self._capture()
            except Exception as e:
                self.graph = None
                if not fallback:
                    raise CaptureError(f"CUDA-graph capture failed: {type(e).__name__}: {e}") from e
                self.reason = f"{type(e).__name__}: {e}"
                self.static_outputs = _as_tuple(outs)

    def _capture(self) -> tuple:
        s = self.stream
        with s:
            s.begin_capture()
            try:
                outs = self.fn(*self.static_inputs)
            except BaseException:
                try:
                    s.end_capture()     # leave capture mode; the graph is invalid anyway
                except Exception:
                    pass
                raise
            self.graph = s.end_capture()
            upload = getattr(self.graph, "upload", None)
            if upload is not None:      # instantiate now, so that failures fall back here, not at a call
                upload(s)
            s.synchronize()
        return _as_tuple(outs)

    @property
    def captured(self) -> bool:
        """True when calls replay a CUDA graph (False: eager fallback, see `reason`)."""
        return self.graph is not None

    def __call__(self, *inputs: cupy.ndarray) -> tuple:
        if len(inputs) != len(self.static_inputs):
            raise TypeError(f"plan takes {len(self.static_inputs)} arrays, got {len(inputs)}")
        for s, a in zip(self.static_inputs, inputs, strict=True):
            if a is not s:
                if a.shape != s.shape or a.dtype != s.dtype:
                    raise ValueError(f"CUDA-graph plan was captured for {s.dtype}{s.shape}, "
                                     f"got {a.dtype}{a.shape}")
                _memcpy(s, a)
        if self.graph is not None:
            self.graph.launch(cupy.cuda.get_current_stream())
            outs = self.static_outputs
        else:
            with self.pool:
                outs = _as_tuple(self.fn(*self.static_inputs))
        return tuple(fresh_copy(o) for o in outs) if self.copy_outputs else outs


CUPY = Backend(capture=lambda body, arrays: CudaGraphPlan(body, arrays, fallback=True),
               copy=cupy.copyto, clone=cupy.copy, fresh_copy=fresh_copy)


def step_graph(fn: Callable[..., tuple], arrays: Sequence[cupy.ndarray], n_ret: int, update_pos: Sequence[int],
               n_args: int) -> StepGraph:
    """A traced step replayed as one CUDA graph (see static_step.StepGraph)."""
    return StepGraph(fn, arrays, n_ret, update_pos, n_args, CUPY)
