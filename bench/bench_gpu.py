"""GPU benchmarks of the generated kernels, as fractions of copy bandwidth measured in the same run.

Run on a machine with a CUDA device: `python bench/bench_gpu.py --out DIR`. Every section catches
its own failure, prints it and goes on; results are rewritten to DIR/bench_gpu.json and
DIR/bench_gpu.md after each section, so a crash loses nothing already measured.

Sections:
- copy: device-to-device memcpy and CuPy's copy kernel on 2^26 float32 (bytes read + written).
- chain8: the 8-op chain the design notes measured, `tanh(1.5x+0.5)*s + x*x - |x|*s` with s = sigmoid(x), on
  2^26 float32 (and float16) as a generated kernel (default options and an unroll/vector sweep),
  against cupy.ElementwiseKernel and CuPy eager ufuncs; bytes = one read + one write.
- mse: mean((pred - y)^2) over 2^26 float32 (a full reduction with fused prologue; bytes = reads).
- linefit: the tutorial's line-fit SGD step on its 100 points, written with generated kernels
  (one fused reduction computing loss and both gradients, one fused update), eager and replayed
  as a CUDA graph.
- mlp: a hand-written CuPy MLP 784-512-512-10 step (batch 256), eager and as a CUDA graph (this
  records whether CuPy lets cuBLAS be captured).
The same line-fit and MLP steps through graphc.jit.trace are timed by bench_gpu_steps.py
(targets: line-fit <= 30 us, MLP <= 125 us per step).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import cupy  # noqa: E402

from graphc.ir import emit  # noqa: E402
from graphc.runtime.gpu import kernels as gpu  # noqa: E402
from graphc.runtime.gpu.codegen import Options  # noqa: E402

RESULTS: dict = {"sections": {}, "errors": {}}


def gpu_time(fn, reps: int = 20, batches: int = 5, warm: int = 3) -> float:
    """Median over batches of the mean device time per call, in seconds (CUDA events)."""
    for _ in range(warm):
        fn()
    cupy.cuda.get_current_stream().synchronize()
    times = []
    for _ in range(batches):
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end) / 1e3 / reps)
    return float(np.median(times))


def wall_time(fn, reps: int = 200, batches: int = 5) -> float:
    """Median over batches of wall seconds per call, synchronizing at the end of each batch."""
    fn()
    cupy.cuda.get_current_stream().synchronize()
    times = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        cupy.cuda.get_current_stream().synchronize()
        times.append((time.perf_counter() - t0) / reps)
    return float(np.median(times))


def section(name: str):
    """Run a benchmark section: record its result or its error, then save everything so far."""
    def wrap(fn):
        def run(*a, **k):
            t0 = time.perf_counter()
            print(f"== {name}", flush=True)
            try:
                RESULTS["sections"][name] = fn(*a, **k)
            except Exception as e:
                RESULTS["errors"][name] = f"{type(e).__name__}: {e}"
                print(f"!! {name} FAILED: {type(e).__name__}: {e}", flush=True)
                traceback.print_exc()
            print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
            save()
        return run
    return wrap


OUT = "."


def save() -> None:
    """Write the JSON and a markdown summary of everything measured so far."""
    with open(os.path.join(OUT, "bench_gpu.json"), "w") as f:
        json.dump(RESULTS, f, indent=2, default=str)
    with open(os.path.join(OUT, "bench_gpu.md"), "w") as f:
        f.write(markdown())


def markdown() -> str:
    """The results as a small markdown report."""
    lines = [f"# GPU benchmarks ({RESULTS.get('device', '?')})", ""]
    for name, r in RESULTS["sections"].items():
        lines.append(f"## {name}")
        for k, v in (r or {}).items():
            if isinstance(v, float):
                v = f"{v * 1e6:.1f} us" if k.endswith("_s") else f"{v:.3g}"
            lines.append(f"- {k}: {v}")
        lines.append("")
    for name, e in RESULTS["errors"].items():
        lines.append(f"- FAILED {name}: {e}")
    return "\n".join(lines) + "\n"


# ---- sections -------------------------------------------------------------------------------------

@section("copy")
def bench_copy(n: int) -> dict:
    a = cupy.random.standard_normal(n, dtype=np.float32)
    b = cupy.empty_like(a)
    rt = cupy.cuda.runtime

    def memcpy():
        rt.memcpyAsync(b.data.ptr, a.data.ptr, a.nbytes, rt.memcpyDeviceToDevice,
                       cupy.cuda.get_current_stream().ptr)
    t_mem = gpu_time(memcpy)
    t_kernel = gpu_time(lambda: cupy.copyto(b, a))
    bw = 2 * a.nbytes / t_mem
    RESULTS["copy_bw"] = max(bw, 2 * a.nbytes / t_kernel)
    return {"memcpy_s": t_mem, "memcpy_TBps": bw / 1e12, "copy_kernel_s": t_kernel,
            "copy_kernel_TBps": 2 * a.nbytes / t_kernel / 1e12, "reference_TBps": RESULTS["copy_bw"] / 1e12}


def _chain_node(n: int, dt, name: str):
    from fused_builders import chain8, fused_node
    return fused_node(chain8, [((n,), np.dtype(dt))], name)


def _chain_baselines(x, nbytes: int, bw: float | None) -> dict:
    """The chain through cupy.ElementwiseKernel and through CuPy eager ufuncs."""
    r = {}
    ek = cupy.ElementwiseKernel(
        "float32 x", "float32 y",
        "float s = 1.f / (1.f + expf(-x)); y = tanhf(1.5f * x + 0.5f) * s + x * x - fabsf(x) * s;",
        "chain8_ek")
    t = gpu_time(lambda: ek(x))
    r["float32_cupy_elementwisekernel_s"] = t
    r["float32_cupy_elementwisekernel_pct_copy"] = 100 * nbytes / t / bw if bw else float("nan")

    def eager():
        s = 1 / (1 + cupy.exp(-x))
        return cupy.tanh(x * 1.5 + 0.5) * s + x * x - cupy.abs(x) * s
    t = gpu_time(eager, reps=5)
    r["float32_cupy_eager_s"] = t
    r["float32_cupy_eager_pct_copy"] = 100 * nbytes / t / bw if bw else float("nan")
    return r


@section("chain8")
def bench_chain(n: int, sweep: bool) -> dict:
    bw = RESULTS.get("copy_bw")
    r: dict = {}
    for dt in (np.float32, np.float16):
        x = cupy.random.standard_normal(n, dtype=np.float32).astype(dt)
        nbytes = 2 * x.nbytes
        opts = {"default": Options()}
        if sweep and dt == np.float32:
            opts.update({f"unroll{u}": Options(unroll=u) for u in (1, 2, 8)})
            opts["scalar"] = Options(vectorize=False)
        for label, o in opts.items():
            fk = gpu.fused_kernel(_chain_node(n, dt, f"chain8_{np.dtype(dt).name}_{label}"), o)
            with gpu.PlanMemoryPool():
                t = gpu_time(lambda fk=fk, x=x: fk(x))
            key = f"{np.dtype(dt).name}_{label}"
            r[key + "_s"] = t
            r[key + "_pct_copy"] = 100 * nbytes / t / bw if bw else float("nan")
            print(f"   {key}: {t * 1e6:.1f} us, {r[key + '_pct_copy']:.1f}% of copy bandwidth", flush=True)
        if dt == np.float32:
            r.update(_chain_baselines(x, nbytes, bw))
    return r


@section("mse")
def bench_mse(n: int) -> dict:
    from fused_builders import F32, fused_node, mse
    fk = gpu.fused_kernel(fused_node(mse, [((n,), F32), ((n,), F32)], "mse_bench"))
    a = cupy.random.standard_normal(n, dtype=np.float32)
    b = cupy.random.standard_normal(n, dtype=np.float32)
    with gpu.PlanMemoryPool():
        t = gpu_time(lambda: fk(a, b))
    got, want = float(fk(a, b)), float(cupy.mean((a.astype(np.float64) - b) ** 2))
    bw = RESULTS.get("copy_bw")
    t_cupy = gpu_time(lambda: cupy.mean((a - b) ** 2), reps=5)
    return {"generated_s": t, "pct_copy": 100 * 2 * a.nbytes / t / bw if bw else float("nan"),
            "cupy_eager_s": t_cupy, "rel_err_vs_f64": abs(got - want) / abs(want)}


def _linefit_data():
    try:
        from common import line_fit_data
        return line_fit_data()
    except Exception:
        rng = np.random.default_rng(20200325)
        x = rng.uniform(-10, 10, 100)
        return x.astype(np.float32), (5 * x + 2 + rng.uniform(-5, 5, 100)).astype(np.float32)


def linefit_kernels(n: int):
    """The line-fit step as two generated kernels: (loss, dw, db) in one pass, then the update."""
    from fused_builders import F32, fused_node

    def grads(x, y, w, b):
        d = w * x + b - y
        ax = (0,)
        return [emit("mean", [d * d], axis=ax, keepdims=False),
                emit("mean", [d * x * 2.0], axis=ax, keepdims=False),
                emit("mean", [d * 2.0], axis=ax, keepdims=False)]

    def update(w, b, gw, gb):
        return [w - gw * 0.01, b - gb * 0.01]
    k1 = gpu.fused_kernel(fused_node(grads, [((n,), F32), ((n,), F32), ((), F32), ((), F32)], "linefit_grads"))
    k2 = gpu.fused_kernel(fused_node(update, [((), F32)] * 4, "linefit_update"))

    def step(x, y, w, b):
        loss, gw, gb = k1(x, y, w, b)
        w2, b2 = k2(w, b, gw, gb)
        return loss, w2, b2
    return step


@section("linefit")
def bench_linefit() -> dict:
    x, y = (cupy.asarray(a) for a in _linefit_data())
    w, b = cupy.zeros((), np.float32), cupy.zeros((), np.float32)
    step = linefit_kernels(x.size)
    eager = wall_time(lambda: step(x, y, w, b), reps=500)
    plan = gpu.CudaGraphPlan(step, [x, y, w, b])
    replay = wall_time(lambda: plan(x, y, w, b), reps=2000)
    # Sanity: 200 replayed steps from w = b = 0 fit the line (the tutorial's w ~ 5, b ~ 2 direction).
    ws, bs = cupy.zeros((), np.float32), cupy.zeros((), np.float32)
    for _ in range(200):
        loss, ws, bs = (o.copy() for o in plan(x, y, ws, bs))
    return {"generated_eager_s": eager, "generated_cuda_graph_s": replay, "captured": plan.captured,
            "capture_fallback_reason": plan.reason, "w_after_200": float(ws), "b_after_200": float(bs),
            "loss_after_200": float(loss), "target_s": 30e-6}


@section("mlp_cupy_reference")
def bench_mlp_cupy() -> dict:
    rng = np.random.default_rng(0)
    sizes, batch = (784, 512, 512, 10), 256
    ws = [cupy.asarray((rng.standard_normal((i, o)) * np.sqrt(2 / i)).astype(np.float32))
          for i, o in zip(sizes, sizes[1:], strict=False)]
    bs = [cupy.zeros(o, np.float32) for o in sizes[1:]]
    x = cupy.asarray(rng.standard_normal((batch, 784)).astype(np.float32))
    onehot = cupy.asarray(np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)])

    def step(x, onehot, *params):
        w = list(params[:3])
        b = list(params[3:])
        h1 = cupy.maximum(x @ w[0] + b[0], 0)
        h2 = cupy.maximum(h1 @ w[1] + b[1], 0)
        z = h2 @ w[2] + b[2]
        e = cupy.exp(z - z.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        loss = -(onehot * cupy.log(p + 1e-9)).sum() / batch
        dz = (p - onehot) / batch
        dh2 = (dz @ w[2].T) * (h2 > 0)
        dh1 = (dh2 @ w[1].T) * (h1 > 0)
        grads = [x.T @ dh1, h1.T @ dh2, h2.T @ dz, dh1.sum(0), dh2.sum(0), dz.sum(0)]
        return (loss,) + tuple(p_ - 0.01 * g for p_, g in zip(list(w) + list(b), grads, strict=True))
    args = [x, onehot] + ws + bs
    eager = wall_time(lambda: step(*args), reps=100)
    plan = gpu.CudaGraphPlan(step, args)
    replay = wall_time(lambda: plan(*args), reps=300)
    return {"cupy_eager_s": eager, "cuda_graph_s": replay, "captured": plan.captured,
            "capture_fallback_reason": plan.reason, "target_graphc_s": 125e-6}


def figure() -> None:
    """Bar chart of the chain8 variants as % of copy bandwidth (skipped without matplotlib)."""
    r = RESULTS["sections"].get("chain8")
    if not r:
        return
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("   (matplotlib missing: no figure)")
        return
    items = [(k[:-len("_pct_copy")], v) for k, v in r.items() if k.endswith("_pct_copy")]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.axvline(85, color="r", ls="--", label="target 85%")
    ax.set_xlabel("% of measured copy bandwidth")
    ax.set_title(f"8-op chain, 2^26 elements, {RESULTS.get('device', '')}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "chain8_bandwidth.png"), dpi=120)
    print(f"   wrote {os.path.join(OUT, 'chain8_bandwidth.png')}")


def main() -> int:
    """Run every section; exit status 1 if any failed."""
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--log2n", type=int, default=26)
    ap.add_argument("--no-sweep", action="store_true")
    args = ap.parse_args()
    OUT = args.out
    os.makedirs(OUT, exist_ok=True)
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    RESULTS["device"] = f"{name}, {props['multiProcessorCount']} SMs, CuPy {cupy.__version__}"
    RESULTS["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    print(RESULTS["device"], flush=True)
    n = 1 << args.log2n
    bench_copy(n)
    bench_chain(n, not args.no_sweep)
    bench_mse(n)
    bench_linefit()
    bench_mlp_cupy()
    try:
        figure()
    except Exception as e:
        print(f"!! figure FAILED: {e}")
    save()
    print(markdown())
    return 1 if RESULTS["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
