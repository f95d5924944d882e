"""The tutorial's exercise end to end: fit a line to 100 noisy points with NumPy, with graphc eagerly,
and with a traced (compiled) graphc step; save the plots, the graph pictures and the compiled plan.

Run: python examples/fit_line.py [--out DIR] [--epochs N]
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import graphc
import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace


def get_point_examples() -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's data: y = 5x + 2 plus uniform noise, 100 points."""
    np.random.seed(20200325)
    x, y = np.zeros(100), np.zeros(100)
    for i in range(100):
        x[i] = np.random.uniform(-10, 10)
        y[i] = 5 * x[i] + 2 + np.random.uniform(-5, 5)
    return x, y


def fit_numpy(x, y, epochs: int) -> list[str]:
    """The tutorial's NumPy loop with hand-derived gradients."""
    w = b = 0.0
    lines = []
    for epoch in range(epochs):
        pred = w * x + b
        loss = ((pred - y) ** 2).mean()
        w_grad = (2 * (pred - y) * x).mean()
        b_grad = (2 * (pred - y)).mean()
        w, b = w - 0.01 * w_grad, b - 0.01 * b_grad
        lines.append(f"Epoch = {epoch}, w = {w:.3f}, b = {b:.3f}, loss = {loss:.3f}")
    return lines


def make_model():
    """Parameters, GradManager and optimizer as the tutorial sets them up."""
    w, b = Parameter(0.0), Parameter(0.0)
    gm = GradManager().attach([w, b])
    return w, b, gm, optim.SGD([w, b], lr=0.01)


def fit_graphc(x, y, epochs: int, traced: bool):
    """The tutorial's graphc loop, eager or with the whole step traced; returns lines, params, step."""
    w, b, gm, optimizer = make_model()

    def train_step(x, y):
        with gm:
            pred = w * x + b
            loss = F.nn.square_loss(pred, y)
            gm.backward(loss)
            optimizer.step().clear_grad()
        return loss
    step = trace(train_step) if traced else train_step
    lines = []
    for epoch in range(epochs):
        loss = step(Tensor(x), Tensor(y))
        lines.append(f"Epoch = {epoch}, w = {w.item():.3f}, b = {b.item():.3f}, loss = {loss.item():.3f}")
    return lines, (w, b), step


def save_plots(x, y, w: float, b: float, out: str) -> list[str]:
    """The tutorial's two figures (the points; the fitted line), when matplotlib is installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plots (pip install matplotlib)")
        return []
    paths = []
    for name, with_line in (("point-data.png", False), ("line.png", True)):
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(x, y, s=10)
        if with_line:
            xs = np.array([x.min(), x.max()])
            ax.plot(xs, w * xs + b, color="tab:red", label=f"y = {w:.3f} x + {b:.3f}")
            ax.legend()
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        fig.tight_layout()
        path = os.path.join(out, name)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> dict:
    """Run the exercise; returns what it printed and wrote."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    x, y = get_point_examples()
    print(f"{x.shape} {y.shape}")
    result = {"numpy": fit_numpy(x, y, args.epochs)}
    result["eager"], _, _ = fit_graphc(x, y, args.epochs, traced=False)
    result["traced"], (w, b), step = fit_graphc(x, y, args.epochs, traced=True)
    for title in ("numpy", "eager", "traced"):
        print(f"--- {title}")
        print("\n".join(result[title]))
    result["compiles"] = step.traces
    print(f"the traced step compiled {step.traces} time{'s' if step.traces != 1 else ''} for {args.epochs} epochs")
    result["files"] = save_plots(x, y, w.item(), b.item(), args.out)
    result["files"] += extras(step, x, y, args.out)
    for f in result["files"]:
        print("wrote", f)
    return result


def extras(step, x, y, out: str) -> list[str]:
    """Graph pictures (forward, gradient, fused plan) and the training plan saved, loaded and run again."""
    files = []
    for name, obj, part in (("forward", step, "forward"), ("gradient", step, "gradient"),
                            ("plan", step.plan, "all")):
        path = os.path.join(out, f"graph-{name}.svg")
        try:
            graphc.viz.render(obj, path, part=part)
            files.append(path)
        except graphc.GraphcError as e:
            print(f"not rendering {path}: {e}")
    plan_path = os.path.join(out, "fit-line-step.gcplan")
    step.dump(plan_path, arg_names=["x", "y"], output_names=["loss"], optimize_for_inference=False)
    files.append(plan_path)
    loaded = graphc.load(plan_path, verify=True)
    # The file holds the step and the parameters as they were: it keeps training from there.
    losses = [loaded(Tensor(x), Tensor(y)).item() for _ in range(3)]
    print("plan file, three more steps from the saved state: losses " + ", ".join(f"{v:.3f}" for v in losses))
    return files


if __name__ == "__main__":
    main()
