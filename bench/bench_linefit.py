"""Line-fit training step (the tutorial's data, SGD): traced plan and eager mode vs a NumPy loop."""
from __future__ import annotations

import numpy as np

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace

from common import best_time, line_fit_data


def numpy_step_factory():
    """The tutorial's NumPy loop body with hand-derived gradients, float32 like the others."""
    x, y = line_fit_data()
    state = {"w": np.float32(0.0), "b": np.float32(0.0)}
    lr = np.float32(0.01)

    def step():
        w, b = state["w"], state["b"]
        pred = w * x + b
        loss = ((pred - y) ** 2).mean()
        w_grad = (2 * (pred - y) * x).mean()
        b_grad = (2 * (pred - y)).mean()
        state["w"] = w - lr * w_grad
        state["b"] = b - lr * b_grad
        return loss
    return step


def graphc_step_factory(traced: bool):
    """The tutorial's graphc loop body, eager or traced."""
    x, y = line_fit_data()
    X, Y = Tensor(x), Tensor(y)
    w, b = Parameter(0.0), Parameter(0.0)
    gm = GradManager().attach([w, b])
    opt = optim.SGD([w, b], lr=0.01)

    def step(x, y):
        with gm:
            loss = F.nn.square_loss(w * x + b, y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    fn = trace(step) if traced else step
    return lambda: fn(X, Y), fn


def main() -> dict:
    """Run the line-fit benchmarks; returns seconds per step."""
    np_step = numpy_step_factory()
    traced, tfn = graphc_step_factory(True)
    eager, _ = graphc_step_factory(False)
    n = 2000
    r = {"numpy": best_time(np_step, n), "traced": best_time(traced, n), "eager": best_time(eager, n // 4)}
    stats = tfn.plan.stats
    print(f"line-fit step: numpy {r['numpy'] * 1e6:.2f} us, traced {r['traced'] * 1e6:.2f} us "
          f"({r['traced'] / r['numpy']:.2f}x), eager {r['eager'] * 1e6:.2f} us ({r['eager'] / r['numpy']:.2f}x); "
          f"plan {stats}")
    return r


if __name__ == "__main__":
    main()
