"""Polynomial curve fitting, the tutorial's closing discussion made concrete (Bishop, PRML, Figure 1.4):
ten noisy points from sin(2 pi x), polynomials of degree 1, 3 and 9 trained by gradient descent (Adam,
one traced step), training vs held-out loss per degree, and the figure.

Lower training loss is not a better model: degree 9 has as many coefficients as there are points, so it
drives its training loss towards zero by bending through the noise, and its held-out loss grows.

Run: python examples/polynomial_overfit.py [--steps N] [--degrees 1 3 9] [--seed S] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from progress import progress

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.device import get_device
from graphc.jit import trace


def make_data(n_train: int, n_test: int, noise: float, seed: int) -> dict[str, np.ndarray]:
    """Bishop's set-up: training x evenly spaced on [0, 1], held-out x uniform, t = sin(2 pi x) + noise."""
    rng = np.random.default_rng(seed)
    x_train = np.linspace(0.0, 1.0, n_train)
    x_test = rng.uniform(0.0, 1.0, n_test)
    d = {"x_train": x_train, "x_test": x_test}
    for part, x in (("train", x_train), ("test", x_test)):
        d[f"y_{part}"] = np.sin(2 * np.pi * x) + rng.normal(0.0, noise, x.shape)
    return {k: v.astype(np.float32) for k, v in d.items()}


def scale(x: np.ndarray) -> np.ndarray:
    """[0, 1] -> [-1, 1]: powers of x in [0, 1] are nearly collinear and shrink; in [-1, 1] they do less so."""
    return (2.0 * x - 1.0).astype(np.float32)


def powers(u: Tensor, degree: int) -> Tensor:
    """The design matrix [1, u, u^2, ..., u^degree] of shape (N, degree + 1), built with graphc ops."""
    cols = [F.ones_like(u)]
    for _ in range(degree):
        cols.append(cols[-1] * u)
    return F.stack(cols, axis=1)


def model(w: Tensor, u: Tensor) -> Tensor:
    """The polynomial with coefficients w (constant term first) at the scaled points u."""
    return F.matmul(powers(u, w.shape[0] - 1), w)


def predict(w: Tensor, u: np.ndarray) -> np.ndarray:
    """model() on host arrays."""
    return model(w, Tensor(u)).numpy()


def mse(w: Tensor, u: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of the polynomial on (u, y), as the training loss measures it."""
    return F.nn.square_loss(model(w, Tensor(u)), Tensor(y)).item()


def least_squares(degree: int, u: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The closed-form least-squares coefficients (float64): what gradient descent converges towards."""
    return np.linalg.lstsq(np.vander(u.astype(np.float64), degree + 1, increasing=True), y, rcond=None)[0]


def fit(degree: int, data: dict, steps: int, lr: float, checkpoints: int = 10) -> tuple[Parameter, list]:
    """Train one polynomial with a traced Adam step; returns its coefficients and (step, train, held-out)."""
    w = Parameter(np.zeros(degree + 1, np.float32))
    gm = GradManager().attach([w])
    opt = optim.Adam([w], lr=lr)

    @trace
    def train_step(u, y):
        with gm:
            loss = F.nn.square_loss(model(w, u), y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss

    u, y = Tensor(scale(data["x_train"])), Tensor(data["y_train"])
    history, done = [], 0
    bar = progress(steps, f"degree {degree}")
    for k in range(1, checkpoints + 1):
        chunk = steps * k // checkpoints - done
        for _ in range(chunk):
            train_step(u, y)
        done += chunk
        bar.update(chunk)
        if chunk:   # reading values only here keeps the steps free of host round trips
            history.append((done, *(mse(w, scale(data[f"x_{p}"]), data[f"y_{p}"]) for p in ("train", "test"))))
            bar.set_postfix_str(f"train {history[-1][1]:.4f} held-out {history[-1][2]:.4f}")
    bar.close()
    if train_step.traces != 1:     # one input signature, so one compile serves every step
        print(f"degree {degree}: the training step compiled {train_step.traces} times:\n{train_step.explain()}")
    return w, history


def save_figure(data: dict, fits: dict[int, tuple[Parameter, np.ndarray]], path: str) -> str | None:
    """Bishop's Figure 1.4: a panel per degree with the points, sin(2 pi x), the fit and the least-squares
    fit (needs matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the figure (pip install matplotlib)")
        return None
    xs = np.linspace(0.0, 1.0, 400, dtype=np.float32)
    fig, axes = plt.subplots(1, len(fits), figsize=(3.4 * len(fits), 3.0), sharey=True, squeeze=False)
    for ax, (degree, (w, ls)) in zip(axes[0], fits.items()):
        ax.plot(xs, np.sin(2 * np.pi * xs), color="tab:green", label="sin(2πx)")
        ax.plot(xs, np.polyval(ls[::-1], scale(xs)), color="0.5", lw=1, ls=":", label="least squares")
        ax.plot(xs, predict(w, scale(xs)), color="tab:red", label="Adam fit")
        ax.scatter(data["x_train"], data["y_train"], facecolors="none", edgecolors="tab:blue", s=40,
                   label="training points", zorder=3)
        ax.set_ylim(-1.6, 1.6)
        ax.set_title(f"M = {degree}")
        ax.set_xlabel("x")
    axes[0][0].set_ylabel("t")
    axes[0][0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    """Fit each degree, print the loss table, save the figure; returns the numbers per degree."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--degrees", type=int, nargs="+", default=[1, 3, 9])
    ap.add_argument("--steps", type=int, default=50000, help="Adam steps per degree (full batch)")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--train-points", type=int, default=10)
    ap.add_argument("--test-points", type=int, default=100)
    ap.add_argument("--noise", type=float, default=0.3, help="standard deviation of the Gaussian noise")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    data = make_data(args.train_points, args.test_points, args.noise, args.seed)
    u_train, u_test = scale(data["x_train"]), scale(data["x_test"])
    print(f"{args.train_points} training and {args.test_points} held-out points, noise {args.noise}; "
          f"running on {get_device(None).physical}")
    fits, result = {}, {"degrees": {}}
    for degree in args.degrees:
        w, history = fit(degree, data, args.steps, args.lr)
        ls = least_squares(degree, u_train, data["y_train"])
        fits[degree] = (w, ls)
        result["degrees"][degree] = {
            "train": mse(w, u_train, data["y_train"]), "heldout": mse(w, u_test, data["y_test"]),
            "ls_train": float(np.mean((np.polyval(ls[::-1], u_train) - data["y_train"]) ** 2)),
            "ls_heldout": float(np.mean((np.polyval(ls[::-1], u_test) - data["y_test"]) ** 2)),
            "coef": w.numpy().tolist(), "history": history}
    print_report(result["degrees"], args.steps, args.noise)
    path = save_figure(data, fits, os.path.join(args.out, "polynomial-fits.png"))
    result["files"] = [path] if path else []
    for f in result["files"]:
        print("wrote", f)
    result["seconds"] = time.perf_counter() - start
    print(f"done in {result['seconds']:.1f} s")
    return result


def print_report(rows: dict[int, dict], steps: int, noise: float) -> None:
    """The loss table, and how the highest degree's held-out loss moved while its training loss fell."""
    print(f"\nmean squared error after {steps} Adam steps (LS: the closed-form least-squares optimum; "
          f"the noise alone costs {noise ** 2:.3g} on held-out points)")
    print(f"{'degree':>6} {'train':>10} {'held-out':>10} {'LS train':>10} {'LS held-out':>12}")
    for d, r in rows.items():
        print(f"{d:>6} {r['train']:>10.4f} {r['heldout']:>10.4f} {r['ls_train']:>10.2e} {r['ls_heldout']:>12.4f}")
    top = max(rows)
    print(f"\ndegree {top} while training (step: train / held-out):")
    print("  " + ", ".join(f"{s}: {a:.4f} / {b:.4f}" for s, a, b in rows[top]["history"]))


if __name__ == "__main__":
    main()
