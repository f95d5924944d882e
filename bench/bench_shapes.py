"""Shape-generic plans: per-call time of a step traced with a free batch dimension against the same step
specialized to the batch's size, timed in alternating rounds (line fit: the tutorial's 100 points; MLP:
784-512-512-10 at batch 256)."""
from __future__ import annotations

import bench_mlp
from common import best_times_interleaved, line_fit_data

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace


def line_fit_steps() -> dict:
    """The tutorial's traced step, specialized and shape-generic."""
    x, y = (Tensor(a) for a in line_fit_data())
    out = {}
    for generic in (False, True):
        w, b = Parameter(0.0), Parameter(0.0)
        gm = GradManager().attach([w, b])
        opt = optim.SGD([w, b], lr=0.01)

        def step(x, y, w=w, b=b, gm=gm, opt=opt):
            with gm:
                loss = F.nn.square_loss(w * x + b, y)
                gm.backward(loss)
                opt.step().clear_grad()
            return loss
        fn = trace(step, symbolic_shape=generic)
        out["generic" if generic else "specialized"] = lambda fn=fn: fn(x, y)
    return out


def mlp_steps() -> dict:
    """The MLP's traced step, specialized and shape-generic."""
    out = {}
    for generic in (False, True):
        ws, bs, x, y = bench_mlp.init()
        params = [Parameter(a) for a in ws + bs]
        gm = GradManager().attach(params)
        opt = optim.SGD(params, lr=bench_mlp.LR)

        def step(x, y, params=params, gm=gm, opt=opt):
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
        fn = trace(step, symbolic_shape=generic)
        X, Y = Tensor(x), Tensor(y)
        out["generic" if generic else "specialized"] = lambda fn=fn, X=X, Y=Y: fn(X, Y)
    return out


def main() -> dict:
    """Time both workloads; returns seconds per step by workload and form."""
    r = {"line_fit": best_times_interleaved(line_fit_steps(), 200, rounds=25),
         "mlp": best_times_interleaved(mlp_steps(), 5, rounds=12)}
    for name, t in r.items():
        print(f"{name}: specialized {t['specialized'] * 1e6:.1f} us, shape-generic {t['generic'] * 1e6:.1f} us "
              f"({t['generic'] / t['specialized']:.3f}x)")
    return r


if __name__ == "__main__":
    main()
