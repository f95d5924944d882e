"""MLP 784-512-512-10, batch 256, ReLU, softmax cross-entropy, SGD: traced step vs hand-written NumPy."""
from __future__ import annotations

import numpy as np
from common import best_times_interleaved

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace

SIZES = (784, 512, 512, 10)
BATCH = 256
LR = 0.01


def init(seed: int = 0):
    """Weights (out, in) and biases, float32, plus one batch of data."""
    rng = np.random.default_rng(seed)
    ws = [(rng.standard_normal((o, i)) * np.sqrt(2.0 / i)).astype(np.float32) for i, o in zip(SIZES, SIZES[1:])]
    bs = [np.zeros(o, np.float32) for o in SIZES[1:]]
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH).astype(np.int32)
    return ws, bs, x, y


def numpy_step_factory():
    """A hand-written NumPy training step with derived gradients."""
    ws, bs, x, y = init()
    rows = np.arange(BATCH)

    def step():
        h1 = x @ ws[0].T + bs[0]
        a1 = np.maximum(h1, 0)
        h2 = a1 @ ws[1].T + bs[1]
        a2 = np.maximum(h2, 0)
        z = a2 @ ws[2].T + bs[2]
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(s[:, 0]) - z[rows, y])
        dz = e / s
        dz[rows, y] -= 1
        dz /= BATCH
        gw2, gb2 = dz.T @ a2, dz.sum(0)
        d2 = (dz @ ws[2]) * (h2 > 0)
        gw1, gb1 = d2.T @ a1, d2.sum(0)
        d1 = (d2 @ ws[1]) * (h1 > 0)
        gw0, gb0 = d1.T @ x, d1.sum(0)
        for p, g in zip(ws + bs, (gw0, gw1, gw2, gb0, gb1, gb2)):
            p -= LR * g
        return loss
    return step


def graphc_step_factory(symbolic_shape: bool = False):
    """The same step written with graphc's API and traced (with a free batch dimension if symbolic_shape)."""
    ws, bs, x, y = init()
    params = [Parameter(a) for a in ws + bs]
    gm = GradManager().attach(params)
    opt = optim.SGD(params, lr=LR)
    X, Y = Tensor(x), Tensor(y)

    @trace(symbolic_shape=symbolic_shape)
    def step(x, y):
        with gm:
            h = x
            for i in range(3):
                h = F.linear(h, params[i], params[3 + i])
                if i < 2:
                    h = F.relu(h)
            loss = F.nn.cross_entropy(h, y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    return lambda: step(X, Y), step


def main() -> dict:
    """Run the MLP benchmark; returns seconds per step."""
    np_step = numpy_step_factory()
    g_step, fn = graphc_step_factory()
    r = best_times_interleaved({"numpy": np_step, "traced": g_step}, 5)
    print(f"MLP step: numpy {r['numpy'] * 1e3:.2f} ms, traced {r['traced'] * 1e3:.2f} ms "
          f"({r['traced'] / r['numpy']:.2f}x); plan {fn.plan.stats}")
    return r


if __name__ == "__main__":
    main()
