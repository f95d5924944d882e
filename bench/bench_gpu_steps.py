"""Traced training steps on the GPU (the default device xpux is the GPU when CuPy sees one):
the tutorial's line fit and the 784-512-512-10 MLP, microseconds per step after warm-up."""
from __future__ import annotations

import json
import sys
import time

import bench_linefit
import bench_mlp


def per_step(fn, n: int) -> float:
    """Mean seconds per call over n calls, synchronized with the device."""
    import cupy
    fn()
    cupy.cuda.Device().synchronize()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        cupy.cuda.Device().synchronize()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def main() -> dict:
    """Time both traced steps and print them."""
    lf, lf_fn = bench_linefit.graphc_step_factory(True)
    mlp, mlp_fn = bench_mlp.graphc_step_factory()
    r = {"linefit_traced_us": per_step(lf, 500) * 1e6, "mlp_traced_us": per_step(mlp, 200) * 1e6}
    r.update(device=lf_fn.plan.device, linefit_plan=lf_fn.plan.stats, mlp_plan=mlp_fn.plan.stats)
    r.update(linefit_cuda_graph=bool(lf_fn._last.plan._step) or lf_fn._last.plan.replay_refused,
             mlp_cuda_graph=bool(mlp_fn._last.plan._step) or mlp_fn._last.plan.replay_refused)
    print(json.dumps(r, indent=1, default=str))
    return r


if __name__ == "__main__":
    out = main()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump(out, f, indent=1, default=str)
