"""Run every CPU benchmark and print the figures as a Markdown table for bench/RESULTS.md.

Each benchmark runs in a fresh process: one leaves the process in a state that changes the next one's
figures (after the chain's 64 MB arrays the MLP step measured 1.6x slower in the same process).
"""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import bench_linefit
from common import machine

HERE = os.path.dirname(os.path.abspath(__file__))


def run(module: str) -> dict:
    """`module.main()` in a fresh Python process; its printed lines shown, its result returned."""
    code = f"import json, {module}; print('RESULT ' + json.dumps({module}.main()))"
    r = subprocess.run([sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True, check=True)
    lines = r.stdout.splitlines()
    print("\n".join(ln for ln in lines if not ln.startswith("RESULT ")))
    return _int_keys(json.loads(next(ln for ln in lines if ln.startswith("RESULT "))[7:]))


def _int_keys(x):
    """JSON's string keys made ints again where they were ints (sizes, thread counts, opt levels)."""
    if isinstance(x, dict):
        return {int(k) if k.isdigit() else k: _int_keys(v) for k, v in x.items()}
    return x


def main() -> None:
    """Run the benchmarks, each in its own process, and print the ratios."""
    lf, ch, mlp, comp, shapes, th = (run(m) for m in ("bench_linefit", "bench_chain", "bench_mlp", "bench_compile",
                                                      "bench_shapes", "bench_threads"))
    print(f"\n## {datetime.date.today()} — {machine()}\n")
    print("| benchmark | baseline | graphc | ratio (graphc / baseline time) | target |")
    print("|---|---|---|---|---|")
    for form in bench_linefit.FORMS:
        for mode, target in (("traced", "<= 0.35x"), ("eager", "<= 5x")):
            t = lf[f"{mode} {form}"]
            print(f"| line-fit step, {mode}, {form} | NumPy {lf['numpy'] * 1e6:.1f} us | {t * 1e6:.1f} us | "
                  f"{t / lf['numpy']:.2f}x | {target} |")
    k = lf["kernels"]
    print(f"| line-fit kernels per step | unoptimized {k[0]} | fused {k[3]} | {k[2]} before fusion | |")
    for t in sorted({int(k.split("_")[1][:-1]) for k in ch if k.startswith("fused_")}):
        g, c = ch[f"fused_{t}t"], ch.get(f"c_{t}t")
        print(f"| chain 2^24, {t} thread(s) | NumPy {ch['numpy'] * 1e3:.1f} ms | {g * 1e3:.1f} ms | "
              f"{g / ch['numpy']:.2f}x ({ch['numpy'] / g:.2f}x faster) | |")
        if c is not None:
            print(f"| chain 2^24, {t} thread(s), against the C reference | C {c * 1e3:.1f} ms | {g * 1e3:.1f} ms | "
                  f"{g / c:.2f}x | <= 1.25x |")
    print(f"| MLP 784-512-512-10 step | NumPy {mlp['numpy'] * 1e3:.2f} ms | {mlp['traced'] * 1e3:.2f} ms | "
          f"{mlp['traced'] / mlp['numpy']:.2f}x | <= 0.55x |")
    print("| compile time and peak memory, n-op chain | | " + ", ".join(
        f"n={n}: {r['seconds']:.2f} s, {r['peak_mb']} MB" for n, r in comp.items()) + " | | 100k ops <= 5 s, 500 MB |")
    for name, t in shapes.items():
        print(f"| {name.replace('_', '-')} step, free batch dimension | specialized {t['specialized'] * 1e6:.1f} us | "
              f"{t['generic'] * 1e6:.1f} us | {t['generic'] / t['specialized']:.3f}x | <= 1.05x |")
    s, lf_t = th["slots_128"], th["linefit"]
    print(f"| thread safety: 128x128 plan, slot pool | globals {s['globals'] * 1e6:.1f} us | "
          f"{s['pool'] * 1e6:.1f} us | {s['pool'] / s['globals']:.3f}x | ~1.0x |")
    print(f"| thread safety: traced call, read locks | none {s['call_unlocked'] * 1e6:.1f} us | "
          f"{s['call'] * 1e6:.1f} us | {s['call'] / s['call_unlocked']:.3f}x | ~1.0x |")
    print(f"| thread safety: line-fit step, write locks | none {lf_t['unlocked'] * 1e6:.2f} us | "
          f"{lf_t['locked'] * 1e6:.2f} us | {lf_t['locked'] / lf_t['unlocked']:.3f}x | ~1.0x |")


if __name__ == "__main__":
    main()
