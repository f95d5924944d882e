"""Traced training steps the tests share: on both devices (GPU tests, code generators), and on the ranks of a
process group (distributed tests, jobs run under mpiexec)."""
from __future__ import annotations

import numpy as np

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace


def mlp_run(device: str, steps: int = 3, sizes=(64, 32, 32, 10), batch: int = 16):
    """A traced MLP training step (bias, ReLU, cross-entropy, SGD) on `device`; losses and final weights."""
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((o, i)).astype(np.float32) / np.sqrt(i) for i, o in zip(sizes, sizes[1:])]
    params = [Parameter(w, device=device) for w in ws] + [Parameter(np.zeros(o, np.float32), device=device)
                                                          for o in sizes[1:]]
    gm = GradManager().attach(params)
    opt = optim.SGD(params, lr=0.1)

    @trace
    def step(x, y):
        with gm:
            h = x
            for i in range(3):
                h = F.linear(h, params[i], params[3 + i])
                h = F.relu(h) if i < 2 else h
            loss = F.nn.cross_entropy(h, y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    losses = []
    for _ in range(steps):
        x = Tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32), device=device)
        y = Tensor(rng.integers(0, sizes[-1], batch).astype(np.int32), device=device)
        losses.append(step(x, y))
    return step, losses, params


def line_fit_run(device: str, steps: int = 4):
    """The tutorial's traced line fit on `device`: the step, its loss tensors, (w, b) and (x, y)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-10, 10, 100).astype(np.float32)
    X, Y = Tensor(x, device=device), Tensor((5 * x + 2).astype(np.float32), device=device)
    w, b = Parameter(0.0, device=device), Parameter(0.0, device=device)
    gm = GradManager().attach([w, b])
    opt = optim.SGD([w, b], lr=0.01)

    @trace
    def step(x, y):
        with gm:
            loss = F.nn.square_loss(w * x + b, y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    return step, [step(X, Y) for _ in range(steps)], (w, b), (X, Y)


def averaged_step(w0: np.ndarray, lr: float, device: str | None = None):
    """A traced step of loss sum((x @ w)^2), its gradient averaged over the process group's ranks by the
    all-reduce callback, then w -= lr * grad; returns (step, w)."""
    import graphc.distributed as dist
    w = Parameter(w0, device=device)
    gm = GradManager().attach([w], callbacks=[dist.make_allreduce_cb("mean")])

    @trace
    def step(x):
        with gm:
            loss = F.sum(F.matmul(x, w) ** 2)
            gm.backward(loss)
            w._assign(w - lr * w.grad)
            w.grad = None
        return loss
    return step, w
