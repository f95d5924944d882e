"""Line-fit training step (the tutorial's data, SGD): traced plan and eager mode vs a NumPy loop."""
from __future__ import annotations

import numpy as np
from common import best_times_interleaved, line_fit_data

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace
from graphc.runtime.compile import compile_graph


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
    r = best_times_interleaved({"numpy": np_step, "traced": traced, "eager": eager}, 200, rounds=25)
    # Kernels per step: every node of the traced graph (level 0), after the other passes (level 2),
    # and after fusion (level 3, a fused group counts as one kernel).
    r["kernels"] = {lvl: len(compile_graph(tfn.graph, lvl).graph.nodes) for lvl in (0, 2, 3)}
    print(f"line-fit step: numpy {r['numpy'] * 1e6:.2f} us, traced {r['traced'] * 1e6:.2f} us "
          f"({r['traced'] / r['numpy']:.2f}x), eager {r['eager'] * 1e6:.2f} us ({r['eager'] / r['numpy']:.2f}x); "
          f"kernels by opt level {r['kernels']}; plan {tfn.plan.stats}")
    return r


if __name__ == "__main__":
    main()
