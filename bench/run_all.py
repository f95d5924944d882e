"""Run every CPU benchmark and print the figures as a Markdown table for bench/RESULTS.md."""
from __future__ import annotations

import datetime

import bench_chain
import bench_compile
import bench_linefit
import bench_mlp
import bench_shapes
import bench_threads
from common import machine


def main() -> None:
    """Run the benchmarks in one process and print the ratios."""
    lf = bench_linefit.main()
    ch = bench_chain.main()
    mlp = bench_mlp.main()
    comp = bench_compile.main()
    shapes = bench_shapes.main()
    th = bench_threads.main()
    threads = max(int(k.split("_")[1][:-1]) for k in ch if k.startswith("fused_"))
    print(f"\n## {datetime.date.today()} — {machine()}\n")
    print("| benchmark | baseline | graphc | ratio (graphc / baseline time) | target |")
    print("|---|---|---|---|---|")
    print(f"| line-fit step, traced | NumPy {lf['numpy'] * 1e6:.1f} us | {lf['traced'] * 1e6:.1f} us | "
          f"{lf['traced'] / lf['numpy']:.2f}x | <= 1.0x |")
    print(f"| line-fit step, eager | NumPy {lf['numpy'] * 1e6:.1f} us | {lf['eager'] * 1e6:.1f} us | "
          f"{lf['eager'] / lf['numpy']:.2f}x | <= 10x |")
    k = lf["kernels"]
    print(f"| line-fit kernels per step | unoptimized {k[0]} | fused {k[3]} | {k[2]} before fusion | |")
    print(f"| chain 2^24, 1 thread | NumPy {ch['numpy'] * 1e3:.1f} ms | {ch['fused_1t'] * 1e3:.1f} ms | "
          f"{ch['fused_1t'] / ch['numpy']:.2f}x ({ch['numpy'] / ch['fused_1t']:.2f}x faster) | >= 2.5x faster |")
    key = f"fused_{threads}t"
    print(f"| chain 2^24, {threads} threads | NumPy {ch['numpy'] * 1e3:.1f} ms | {ch[key] * 1e3:.1f} ms | "
          f"{ch[key] / ch['numpy']:.2f}x ({ch['numpy'] / ch[key]:.2f}x faster) | >= 4x faster |")
    print(f"| MLP 784-512-512-10 step | NumPy {mlp['numpy'] * 1e3:.2f} ms | {mlp['traced'] * 1e3:.2f} ms | "
          f"{mlp['traced'] / mlp['numpy']:.2f}x | <= 1.0x |")
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
