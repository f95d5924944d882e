"""Shape-generic plans: per-call time of a step traced with a free batch dimension against the same step
specialized to the batch's size, timed in alternating rounds (line fit: the tutorial's 100 points; MLP:
784-512-512-10 at batch 256)."""
from __future__ import annotations

import bench_linefit
import bench_mlp
from common import best_times_interleaved


def line_fit_steps() -> dict:
    """The tutorial's traced step, specialized and shape-generic."""
    return {"generic" if g else "specialized": bench_linefit.graphc_step_factory(True, symbolic_shape=g)[0]
            for g in (False, True)}


def mlp_steps() -> dict:
    """The MLP's traced step, specialized and shape-generic."""
    return {"generic" if g else "specialized": bench_mlp.graphc_step_factory(symbolic_shape=g)[0]
            for g in (False, True)}


def main() -> dict:
    """Time both workloads; returns seconds per step by workload and form."""
    r = {"line_fit": best_times_interleaved(line_fit_steps(), 200, rounds=25),
         "mlp": best_times_interleaved(mlp_steps(), 5, rounds=12)}
    for name, t in r.items():
        print(f"{name}: specialized {t['specialized'] * 1e6:.1f} us, shape-generic {t['generic'] * 1e6:.1f} us "
              f"({t['generic'] / t['specialized']:.3f}x)")
    return r


if __name__ == "__main__":
    main()
