"""Line-fit training step (the tutorial's data, SGD): traced plan and eager mode vs a NumPy loop, in the forms
users write it: scalar parameters (the tutorial's Parameter(0.0)) or shape-(1,) ones (Parameter([0.0])), and
the optimizer step inside the `with gm:` block (the tutorial) or after it."""
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


def graphc_step_factory(traced: bool, shape: tuple = (), step_inside: bool = True, symbolic_shape: bool = False):
    """The tutorial's graphc loop body, eager or traced (with a free batch dimension if symbolic_shape);
    parameters of `shape`, the optimizer step inside the `with gm:` block or after it."""
    x, y = line_fit_data()
    X, Y = Tensor(x), Tensor(y)
    w, b = Parameter(np.zeros(shape, np.float32)), Parameter(np.zeros(shape, np.float32))
    gm = GradManager().attach([w, b])
    opt = optim.SGD([w, b], lr=0.01)

    def step(x, y):
        with gm:
            loss = F.nn.square_loss(w * x + b, y)
            gm.backward(loss)
            if step_inside:
                opt.step().clear_grad()
        if not step_inside:
            opt.step().clear_grad()
        return loss
    fn = trace(step, symbolic_shape=symbolic_shape) if traced else step
    return lambda: fn(X, Y), fn


FORMS = {"scalar, step inside": ((), True), "scalar, step after": ((), False), "(1,), step inside": ((1,), True),
         "(1,), step after": ((1,), False)}


def main() -> dict:
    """Run the line-fit benchmarks; returns seconds per step."""
    np_step = numpy_step_factory()
    traced, tfn = graphc_step_factory(True)
    eager, _ = graphc_step_factory(False)
    forms = {f"traced {k}": graphc_step_factory(True, *v)[0] for k, v in FORMS.items()}
    forms.update({f"eager {k}": graphc_step_factory(False, *v)[0] for k, v in FORMS.items()})
    r = best_times_interleaved({"numpy": np_step, "traced": traced, "eager": eager, **forms}, 200, rounds=25)
    # Kernels per step: every node of the traced graph (level 0), after the other passes (level 2),
    # and after fusion (level 3, a fused group counts as one kernel).
    r["kernels"] = {lvl: len(compile_graph(tfn.graph, lvl).graph.nodes) for lvl in (0, 2, 3)}
    print(f"line-fit step: numpy {r['numpy'] * 1e6:.2f} us, traced {r['traced'] * 1e6:.2f} us "
          f"({r['traced'] / r['numpy']:.2f}x), eager {r['eager'] * 1e6:.2f} us ({r['eager'] / r['numpy']:.2f}x); "
          f"kernels by opt level {r['kernels']}; plan {tfn.plan.stats}, {tfn.plan.tier}")
    for k in forms:
        print(f"  {k}: {r[k] * 1e6:.2f} us ({r[k] / r['numpy']:.2f}x NumPy)")
    return r


if __name__ == "__main__":
    main()
