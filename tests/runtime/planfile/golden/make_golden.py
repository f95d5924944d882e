"""Write the golden plan files of the current format version, with expected results computed by NumPy.

Run from the repository root: `python tests/runtime/planfile/golden/make_golden.py`. Committed files are never
regenerated for an old version: every later graphc must keep loading them (test_planfile_golden.py); a new
format version adds its own plan_v<N>_* files next to them. From version 2 the plans have a free batch
dimension, and the expected results include a call at another batch size.
"""
from __future__ import annotations

import os
import sys

import numpy as np

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace
from graphc.runtime.planfile import FORMAT_VERSION
from graphc.saved_plan import dump_trace

HERE = os.path.dirname(os.path.abspath(__file__))
LR, MOMENTUM, STEPS = 0.01, 0.9, 3
SYMBOLIC = FORMAT_VERSION >= 2      # a free leading (batch) dimension
SMALL = 2                           # the other batch size the expected results cover (version 2 on)


def _path(kind: str, ext: str) -> str:
    return os.path.join(HERE, f"plan_v{FORMAT_VERSION}_{kind}.{ext}")


def inference() -> None:
    """relu(x @ w + b) and mean(exp(-h^2), axis 0): matmul, broadcasting add, a reduction, two outputs."""
    w0 = (np.arange(8, dtype=np.float32).reshape(4, 2) - 3.5) / 4
    b0 = np.array([0.25, -0.5], np.float32)
    w, b = Parameter(w0), Parameter(b0)

    @trace(symbolic_shape=SYMBOLIC)
    def predict(x):
        h = F.matmul(x, w) + b
        return F.relu(h), F.mean(F.exp(-(h * h)), axis=0)

    x = (np.arange(12, dtype=np.float32).reshape(3, 4) - 6) / 8
    predict(Tensor(x))
    dump_trace(predict, _path("inference", "gcplan"), arg_names=["x"], output_names=["y", "m"],
               user_info={"golden": f"v{FORMAT_VERSION} inference"})
    def expected(x: np.ndarray) -> dict:
        h = x.astype(np.float64) @ w0.astype(np.float64) + b0
        return {"y": np.maximum(h, 0).astype(np.float32), "m": np.exp(-h * h).mean(axis=0).astype(np.float32)}
    small = {f"{k}_small": v for k, v in expected(x[:SMALL]).items()} if SYMBOLIC else {}
    np.savez(_path("inference", "npz"), x=x, **expected(x), **small)


def training() -> None:
    """The tutorial's line fit with SGD and momentum: a whole training step with optimizer state."""
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0], np.float32)
    y = np.array([-8.0, -3.0, -0.5, 2.0, 4.5, 7.0, 12.0, 17.5], np.float32)
    w, b = Parameter(0.0), Parameter(0.0)
    gm = GradManager().attach([w, b])
    opt = optim.SGD([w, b], lr=LR, momentum=MOMENTUM)

    @trace(symbolic_shape=SYMBOLIC)
    def step(x, y):
        with gm:
            loss = F.nn.square_loss(w * x + b, y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss

    step(Tensor(x), Tensor(y))          # traces and takes step 1; the file holds the state after it
    dump_trace(step, _path("training", "gcplan"), arg_names=["x", "y"], output_names=["loss"],
               optimize_for_inference=False, user_info={"golden": f"v{FORMAT_VERSION} training"})
    # NumPy reference, float64: states are [w, b, w's momentum, b's momentum] in the plan's order.
    xs, ys = x.astype(np.float64), y.astype(np.float64)
    s = np.zeros(4)
    states, losses = [], []
    batches = [(xs, ys)] * (1 + STEPS) + ([(xs[:SMALL], ys[:SMALL])] if SYMBOLIC else [])
    for bx, by in batches:
        d = s[0] * bx + s[1] - by
        losses.append(np.mean(d * d))
        g = np.array([np.mean(2 * d * bx), np.mean(2 * d)])
        s[2:] = MOMENTUM * s[2:] + g
        s[:2] -= LR * s[2:]
        states.append(s.copy())
    if not SYMBOLIC:   # version 1: the plan's states are [w, b, w's momentum, b's momentum]
        np.savez(_path("training", "npz"), x=x, y=y, loss=np.float32(losses[1:1 + STEPS]),
                 **{f"initial_state{i}": np.float32(v) for i, v in enumerate(states[0])},
                 **{f"final_state{i}": np.float32(v) for i, v in enumerate(states[STEPS])})
        return
    # From version 2 the learning rate is a state too, and states are named: expected values by name.
    names = ["w", "b", "w.momentum_buffer", "b.momentum_buffer"]
    by_name = {f"{when}.{n}": np.float32(states[k][i]) for when, k in (("initial", 0), ("final", STEPS), ("small", -1))
               for i, n in enumerate(names)}
    np.savez(_path("training", "npz"), x=x, y=y, loss=np.float32(losses[1:1 + STEPS]),
             loss_small=np.float32(losses[-1]), **by_name)
    assert np.isclose(w.item(), states[0][0], rtol=1e-5) and np.isclose(b.item(), states[0][1], rtol=1e-5)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
    inference()
    training()
    print(f"wrote the format-version-{FORMAT_VERSION} golden plans to {HERE}")
