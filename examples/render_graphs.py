"""Pictures of the tutorial's training step: forward, gradient and update parts, and the fused plan (one box
per fused kernel, and expanded to show each kernel's ops).

Run: python examples/render_graphs.py [--out DIR] [--format svg|png|pdf|dot]
Without graphviz's `dot` only the .dot files can be written (`apt-get install graphviz` for the rest).
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import graphc
from graphc import viz
from graphc.autodiff import GradManager
from graphc.jit import trace
from graphc.optimizer import SGD


def traced_step():
    """The tutorial's y = w * x + b fitted by SGD, traced once."""
    w, b = graphc.Parameter(np.float32(0.0)), graphc.Parameter(np.float32(0.0))
    gm, opt = GradManager().attach([w, b]), SGD([w, b], lr=0.01)

    @trace(symbolic=True)
    def step(x, y):
        with gm:
            pred = w * x + b
            loss = ((pred - y) ** 2).mean()
            gm.backward(loss)
        opt.step().clear_grad()
        return loss

    x = np.linspace(0, 1, 16, dtype=np.float32)
    step(graphc.Tensor(x), graphc.Tensor(5 * x + 0.1))
    return step


def main(argv: list[str] | None = None) -> list[str]:
    """Write the pictures; returns their paths."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    ap.add_argument("--format", default="svg", choices=["svg", "png", "pdf", "dot"])
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    step = traced_step()
    jobs = [(step, f"step-{part}", {"part": part}) for part in ("forward", "gradient", "update", "all")]
    jobs += [(step.plan, "step-plan", {}), (step.plan, "step-plan-expanded", {"collapse_fused": False})]
    written = []
    for obj, name, options in jobs:
        path = os.path.join(args.out, f"{name}.{args.format}")
        try:
            viz.render(obj, path, **options)
        except viz.GraphvizNotFoundError as e:   # the message says how to install graphviz
            print(f"not rendering {path}: {e}")
            continue
        print("wrote", path)
        written.append(path)
    return written


if __name__ == "__main__":
    main()
