"""GPU runtime on a CUDA device (marker `gpu`; skipped without CuPy or a device).

Tolerances (normwise relative error ||got - want|| / ||want||, METHOD.md's measure; integers and
bools exact):
- float64: 1e-12. float32 elementwise: 2e-6 (libdevice and NumPy differ by a few ulp in
  transcendental functions); float32 reductions: 1e-5 (summation order differs from NumPy's
  pairwise sum).
- float16: 4e-3. Fused kernels compute in float and round once on store, while the unfused
  reference rounds every intermediate to float16 (up to ~10 roundings of 2^-11 each).
Every check draws fresh random inputs and poisons output memory with NaN first, so an element the
kernel never wrote cannot pass.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from gpu_device import cupy_and_marks

cupy, pytestmark = cupy_and_marks()

from fused_builders import (  # noqa: E402
    F16,
    F32,
    F64,
    I32,
    chain8,
    fused_node,
    mse,
    op_cases,
    softmax_rows,
)

from graphc.ir import emit  # noqa: E402
from graphc.ir.interpret import evaluate  # noqa: E402

TOL = {F64: 1e-12, F32: 2e-6, F16: 4e-3}
TOL_REDUCE = {F64: 1e-12, F32: 1e-5, F16: 4e-3}


@pytest.fixture(autouse=True)
def _strict(monkeypatch):
    monkeypatch.setenv("GRAPHC_GPU_STRICT", "1")        # generator bugs raise instead of falling back


def _gpu():
    from graphc.runtime.gpu import kernels as gpu
    return gpu


def _inputs(node, rng, op: str = ""):
    """Random inputs valid for the op (positive for log/sqrt/pow, |x|<1 for asin/acos, ...)."""
    out = []
    for i, v in enumerate(node.inputs):
        if v.dtype == np.bool_:
            out.append(rng.random(v.shape) > 0.5)
        elif v.dtype.kind in "iu":
            a = rng.integers(-6, 7, v.shape)
            if op in ("mod", "floor_div", "pow") and i == 1:
                a = rng.integers(1, 4, v.shape) * (1 if op == "pow" else rng.choice([-1, 1], v.shape))
            out.append(a.astype(v.dtype))
        else:
            lo, hi = {"log": (0.1, 3), "sqrt": (0.1, 3), "pow": (0.2, 2), "log1p": (-0.5, 3),
                      "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "div": (0.5, 2), "mod": (0.5, 2),
                      "floor_div": (0.5, 2)}.get(op, (-2.0, 2.0))
            out.append(rng.uniform(lo, hi, v.shape).astype(v.dtype))
    return out


def _poisoned_call(fk, arrays):
    """Call with the pool's free blocks full of NaN, so unwritten outputs show up."""
    pool = _gpu().PlanMemoryPool()
    with pool:
        junk = cupy.full(1 << 22, np.nan, dtype=np.float32)
        del junk
        r = fk(*arrays)
    return r if isinstance(r, tuple) else (r,)


def _check(got, want, tol: float, label: str):
    got, want = cupy.asnumpy(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (label, got.dtype, got.shape, want.dtype)
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=label)
        return
    assert not np.isnan(got).any() or np.isnan(want).any(), f"{label}: NaN (unwritten output?)"
    w, g = want.astype(np.float64), got.astype(np.float64)
    err = np.linalg.norm(g - w) / max(np.linalg.norm(w), 1e-30)
    assert err <= tol, f"{label}: relative error {err:.3g} > {tol:g}"


def _reference(node, arrays):
    sub = node.attrs["subgraph"]
    env = evaluate(sub, dict(zip(sub.inputs, arrays, strict=True)), np)
    return [env[v] for v in sub.outputs]


def _run_and_compare(node, rng, op="", reduce=False, label=""):
    arrays = _inputs(node, rng, op)
    fk = _gpu().fused_kernel(node)
    got = _poisoned_call(fk, [cupy.asarray(a) for a in arrays])
    want = _reference(node, arrays)
    floats = [v.dtype for v in node.inputs if v.dtype.kind == "f"]
    for g, w in zip(got, want, strict=True):
        # The least precise float involved sets the tolerance (a float16 prologue of a float32 mean).
        table = TOL_REDUCE if reduce else TOL
        tol = max([table.get(np.dtype(w.dtype), 0.0)] + [table[d] for d in floats])
        _check(g, w, tol if w.dtype.kind == "f" else 0.0, label)
    return fk


def test_every_templated_op_matches_numpy():
    rng = np.random.default_rng(1)
    failures = []
    for op, label, node in op_cases(shape=(1001,)):
        try:
            _run_and_compare(node, rng, op, label=label)
        except Exception as e:      # collect, so one run names every broken op
            failures.append(f"{label}: {type(e).__name__}: {str(e)[:300]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name,build,specs,reduce", [
    ("chain8-f32", chain8, [((1 << 20,), F32)], False),
    ("chain8-f16", chain8, [((1 << 20,), F16)], False),
    ("chain8-f64", chain8, [((4099,), F64)], False),
    ("bias-relu", lambda x, b: emit("relu", [x + b]), [((256, 512), F32), ((512,), F32)], False),
    ("scalar-0d", lambda x, s: x * s + 1.0, [((1000,), F32), ((), F32)], False),
    ("col-bcast-f16", lambda x, c: x - c, [((256, 510), F16), ((256, 1), F16)], False),
    ("outer", lambda a, b: a * b, [((300, 1), F32), ((1, 201), F32)], False),
    ("cmp-where", lambda a, b: [emit("greater", [a, b]), emit("where", [emit("greater", [a, b]), a, b])],
     [((1000,), F32), ((1000,), F32)], False),
    ("cast-chain", lambda x: emit("astype", [emit("astype", [x * 2.0], dtype="float16")], dtype="float32"),
     [((1000,), F32)], False),
    ("passthrough", lambda a, b: [a, a + b], [((100,), F32), ((100,), F32)], False),
    ("mse-f32", mse, [((1 << 22,), F32), ((1 << 22,), F32)], True),
    ("mse-f16", mse, [((4096, 3), F16), ((4096, 3), F16)], True),
    ("mse-odd-f64", mse, [((1001,), F64), ((1001,), F64)], True),
    ("softmax", softmax_rows, [((256, 10), F32)], True),
    ("rowsum-long", lambda x: emit("sum", [x * x], axis=(1,), keepdims=False), [((64, 4096), F32)], True),
    ("colsum", lambda x, b: emit("sum", [x + b], axis=(0,), keepdims=True), [((256, 512), F32), ((512,), F32)],
     True),
    ("middle-max", lambda x: emit("max", [x], axis=(1,), keepdims=False), [((4, 50, 6), F32)], True),
    ("min-prod", lambda x: [emit("min", [x], axis=(0, 2), keepdims=True), emit("prod", [x], axis=(0, 2),
                                                                               keepdims=True)],
     [((4, 5, 6), F64)], True),
    ("sum-sumsq-f16", lambda x: [emit("sum", [x], axis=(1,), keepdims=False),
                                 emit("mean", [x * x], axis=(1,), keepdims=False)], [((32, 100), F16)], True),
    ("bool-sum", lambda a: emit("sum", [emit("greater", [a, a * 0.5])], axis=(0,), keepdims=False),
     [((1000,), F32)], True),
    ("int-sum", lambda a: emit("sum", [a * a], axis=(0,), keepdims=False), [((1000,), I32)], True),
])
def test_fused_groups_match_numpy(name, build, specs, reduce):
    _run_and_compare(fused_node(build, specs, name.replace("-", "_")), np.random.default_rng(2), label=name,
                     reduce=reduce)


def test_fused_matches_unfused_on_gpu():
    node = fused_node(chain8, [((1 << 20,), F32)], "chain")
    x = cupy.random.standard_normal(1 << 20, dtype=np.float32)
    got = _gpu().fused_kernel(node)(x)
    want = node.op.kernel(cupy, x, **node.attrs)          # the subgraph op by op, with CuPy
    _check(got, cupy.asnumpy(want), TOL[F32], "fused vs unfused")


def test_non_contiguous_and_misaligned_inputs():
    node = fused_node(lambda a, b: emit("tanh", [a]) * b + 1.0, [((128, 64), F32), ((128, 64), F32)], "views")
    fk = _gpu().fused_kernel(node)
    rng = np.random.default_rng(3)
    base = cupy.asarray(rng.standard_normal((64, 128), dtype=np.float32))
    b = cupy.asarray(rng.standard_normal((128, 64), dtype=np.float32))
    flat = cupy.asarray(rng.standard_normal(128 * 64 + 1, dtype=np.float32))
    for a in (base.T, flat[1:].reshape(128, 64), cupy.asarray(rng.standard_normal((128, 128)),
                                                             dtype=np.float32)[:, ::2]):
        got = fk(a, b)
        want = np.tanh(cupy.asnumpy(a)) * cupy.asnumpy(b) + 1.0
        _check(got, want.astype(np.float32), TOL[F32], f"view strides={a.strides}")
    assert len(fk._variants) == 3


def test_full_reduction_is_deterministic_and_reusable():
    node = fused_node(mse, [((1 << 22,), F32), ((1 << 22,), F32)], "mse_det")
    fk = _gpu().fused_kernel(node)
    a = cupy.random.standard_normal(1 << 22, dtype=np.float32)
    b = cupy.random.standard_normal(1 << 22, dtype=np.float32)
    first = float(fk(a, b))
    for _ in range(5):                      # the ticket resets itself: repeated launches agree bitwise
        assert float(fk(a, b)) == first


def test_kernels_are_cached_by_source():
    gpu = _gpu()
    n1 = fused_node(chain8, [((4096,), F32)], "same")
    n2 = fused_node(chain8, [((4096,), F32)], "same")
    x = cupy.ones(4096, dtype=np.float32)
    gpu.fused_kernel(n1)(x)
    before = gpu.kernel_cache_size()
    gpu.fused_kernel(n2)(x)
    assert gpu.kernel_cache_size() == before


def test_plan_memory_pool_serves_allocations():
    pool = _gpu().PlanMemoryPool()
    node = fused_node(chain8, [((1 << 16,), F32)], "pooled")
    fk = _gpu().fused_kernel(node)
    x = cupy.ones(1 << 16, dtype=np.float32)
    with pool:
        y = fk(x)
    assert pool.used_bytes() >= y.nbytes
    del y
    pool.free_all()


def _step_fns():
    rng = np.random.default_rng(4)
    n1 = fused_node(lambda x, w, b: x * w + b, [((4096,), F32), ((), F32), ((), F32)], "pred")
    n2 = fused_node(mse, [((4096,), F32), ((4096,), F32)], "loss")
    f1, f2 = _gpu().fused_kernel(n1), _gpu().fused_kernel(n2)

    def step(x, y, w, b):
        p = f1(x, w, b)
        loss = f2(p, y)
        gw = cupy.mean(2 * (p - y) * x)
        return loss, w - 0.01 * gw

    arrays = [cupy.asarray(rng.standard_normal(4096, dtype=np.float32)) for _ in range(2)]
    arrays += [cupy.asarray(np.float32(0.5)), cupy.asarray(np.float32(0.1))]
    return step, arrays


def test_cuda_graph_replay_matches_eager():
    gpu = _gpu()
    step, arrays = _step_fns()
    plan = gpu.CudaGraphPlan(step, arrays, fallback=False)
    assert plan.captured
    rng = np.random.default_rng(5)
    for _ in range(3):                      # new inputs each replay, copied into the static buffers
        new = [cupy.asarray(rng.standard_normal(a.shape).astype(np.float32)) for a in arrays]
        got = plan(*new)
        want = step(*new)
        for g, w in zip(got, want, strict=True):
            _check(g, cupy.asnumpy(w), TOL_REDUCE[F32], "graph replay")


def test_cuda_graph_with_matmul_replays_or_says_why():
    """cuBLAS under capture depends on the CuPy version (cupy issue 6290): record which."""
    gpu = _gpu()
    a = cupy.random.standard_normal((256, 784), dtype=np.float32)
    w = cupy.random.standard_normal((784, 512), dtype=np.float32)

    def f(a, w):
        return (cupy.maximum(a @ w, 0),)
    plan = gpu.CudaGraphPlan(f, [a, w], fallback=True)
    print(f"\nmatmul under CUDA-graph capture: captured={plan.captured} reason={plan.reason}")
    got = plan(a, w)[0]
    _check(got, cupy.asnumpy(f(a, w)[0]), 1e-5, "matmul plan")


def test_capture_failure_falls_back_with_reason():
    gpu = _gpu()

    def syncs(x):
        return (x * float(x.sum()),)        # a host synchronization: not capturable
    x = cupy.ones(16, dtype=np.float32)
    plan = gpu.CudaGraphPlan(syncs, [x], fallback=True)
    assert not plan.captured and plan.reason
    assert float(plan(x)[0][0]) == 16.0
    with pytest.raises(gpu.CaptureError):
        gpu.CudaGraphPlan(syncs, [x], fallback=False)


def test_unsupported_subgraph_falls_back_when_not_strict(monkeypatch):
    monkeypatch.setenv("GRAPHC_GPU_STRICT", "0")
    node = fused_node(lambda a, b: emit("matmul", [a, b], transpose_a=False, transpose_b=False) + 1.0,
                      [((4, 4), F32), ((4, 4), F32)], "mm")
    with pytest.warns(UserWarning, match="op by op"):
        fk = _gpu().fused_kernel(node)
    a = cupy.eye(4, dtype=np.float32)
    np.testing.assert_allclose(cupy.asnumpy(fk(a, a)), np.eye(4) + 1.0)
    assert fk.fallback


if os.environ.get("GRAPHC_GPU_DUMP"):
    # Optional: write the generated sources of the representative groups for inspection.
    def test_dump_sources(tmp_path_factory):
        from graphc.runtime.gpu.codegen import generate
        out = os.environ["GRAPHC_GPU_DUMP"]
        os.makedirs(out, exist_ok=True)
        for k in generate(fused_node(chain8, [((1 << 26,), F32)], "chain8")):
            with open(os.path.join(out, k.name + ".cu"), "w") as f:
                f.write(k.code)
