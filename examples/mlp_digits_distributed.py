"""The digits MLP of mlp_digits.py trained data-parallel on several processes.

Every rank builds the same model and walks the same sequence of global batches; each takes its share of every
batch (shares differ by a row when the batch does not split evenly), scales its summed loss by the global
batch size, and a GradManager callback all-reduces the gradients (packed into flat buckets) before every rank
applies the same update. The parameters then follow those of one process training on the whole batches, which
rank 0 checks at the end by training that single-process reference itself.

Run:  mpiexec -n 2 python examples/mlp_digits_distributed.py [--epochs N] [--eager] [--optimizer sgd]
      python examples/mlp_digits_distributed.py --launch 2        (the same, started by graphc.distributed.launcher)
      mpiexec -n 3 python examples/mlp_digits_distributed.py --compare-all --steps 15 --json out.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from mlp_digits import forward, init_params, load_data

import graphc.distributed as dist
import graphc.functional as F
import graphc.optimizer as optim
from graphc import Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace

MODES = [(traced, opt) for traced in (True, False) for opt in ("adam", "sgd")]


def batches(n_rows: int, batch_size: int, epochs: int, seed: int, steps: int | None):
    """The global batches (row indices), the same sequence on every rank: `epochs` shuffled passes of full
    batches, cut to `steps` batches when given."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for _ in range(epochs):
        order = rng.permutation(n_rows)
        out += [order[b * batch_size:(b + 1) * batch_size] for b in range(n_rows // batch_size)]
    return out[:steps] if steps else out


def train(data: dict, cfg: dict, traced: bool, optimizer: str, distributed: bool,
          reorder: bool = False) -> list[np.ndarray]:
    """Train from the seed's initial parameters; distributed: this rank's shares with all-reduced gradients,
    else one process on the whole batches (reorder: each batch's rows in another order, which changes only
    the float32 rounding of the sums over them). Returns the final parameters."""
    rank, n = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    params = init_params([data["x_train"].shape[1], *cfg["hidden"], 10], np.random.default_rng(cfg["seed"]))
    gm = GradManager()
    if distributed:
        dist.bcast_list_(params)    # every rank starts from rank 0's parameters
        gm.attach(params, callbacks=[dist.make_allreduce_cb("sum", bucket_size=cfg["bucket_bytes"])])
    else:
        gm.attach(params)
    opt = optim.Adam(params, lr=cfg["lr"]) if optimizer == "adam" else optim.SGD(params, lr=cfg["lr"], momentum=0.9)
    global_batch = cfg["batch_size"]

    def step(x, y):
        with gm:
            # This rank's rows' share of the global batch's mean loss; the summed gradients are the mean's.
            loss = F.nn.cross_entropy(forward(params, x), y, reduction="sum") / global_batch
            gm.backward(loss)
            opt.step().clear_grad()
        return loss

    run = trace(step) if traced else step
    x_tr, y_tr = data["x_train"], data["y_train"]
    for rows in batches(len(x_tr), global_batch, cfg["epochs"], cfg["seed"], cfg["steps"]):
        mine = np.array_split(rows[::-1] if reorder else rows, n)[rank]
        run(Tensor(x_tr[mine]), Tensor(y_tr[mine]))
    return [p.numpy() for p in params]


def _largest_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def accuracy(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    """Held-out accuracy of the parameters."""
    logits = forward([Tensor(p) for p in params], Tensor(x))
    return float(np.mean(F.argmax(logits, axis=1).numpy() == y))


def run_rank(cfg: dict) -> dict | None:
    """One rank's part: train data-parallel in each mode; rank 0 also trains the single-process reference and
    returns the comparison (the other ranks return None)."""
    if not dist.is_distributed():
        dist.init_process_group(timeout=cfg["timeout"])
    rank, n = dist.get_rank(), dist.get_world_size()
    data = load_data(0.25, cfg["seed"])
    report = {"world_size": n, "modes": {}}
    modes = MODES if cfg["compare_all"] else [(not cfg["eager"], cfg["optimizer"])]
    for traced, opt in modes:
        start = time.perf_counter()
        got = train(data, cfg, traced, opt, distributed=True)
        seconds = time.perf_counter() - start
        if rank == 0:
            want = train(data, cfg, traced, opt, distributed=False)
            # What merely summing the same rows in another order changes: the scale of float32 differences.
            reordered = train(data, cfg, traced, opt, distributed=False, reorder=True)
            report["modes"][f"{'traced' if traced else 'eager'}-{opt}"] = {
                "max_abs_diff": _largest_difference(got, want), "reorder_diff": _largest_difference(reordered, want),
                "max_abs_param": max(float(np.max(np.abs(a))) for a in want),
                "test_accuracy": accuracy(got, data["x_test"], data["y_test"]), "train_seconds": seconds}
    dist.group_barrier()
    return report if rank == 0 else None


def main(argv: list[str] | None = None) -> dict | None:
    """Parse the options, run this rank (or launch the ranks), print and return rank 0's report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many global batches (0: all)")
    ap.add_argument("--hidden", type=int, nargs="+", default=[64])
    ap.add_argument("--batch-size", type=int, default=64, help="the global batch, split over the ranks")
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    ap.add_argument("--eager", action="store_true", help="run the step eagerly instead of tracing it")
    ap.add_argument("--compare-all", action="store_true", help="traced and eager, Adam and SGD")
    ap.add_argument("--bucket-bytes", type=int, default=None, help="gradient bytes per all-reduce")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds a collective waits for the other ranks")
    ap.add_argument("--launch", type=int, default=0, help="start this many ranks with graphc.distributed.launcher")
    ap.add_argument("--json", help="rank 0 writes its report here")
    args = ap.parse_args(argv)
    cfg = {"epochs": args.epochs, "steps": args.steps, "hidden": args.hidden, "batch_size": args.batch_size,
           "lr": args.lr, "optimizer": args.optimizer, "eager": args.eager, "compare_all": args.compare_all,
           "bucket_bytes": args.bucket_bytes, "seed": args.seed, "timeout": args.timeout}
    if args.launch:
        report = dist.launcher(run_rank, n_gpus=args.launch, device_type="cpu", timeout=args.timeout)(cfg)[0]
    else:
        report = run_rank(cfg)
    if report is None:
        return None
    for mode, r in report["modes"].items():
        print(f"{mode}: {report['world_size']} processes vs one process on the whole batches: largest parameter "
              f"difference {r['max_abs_diff']:.3g} (one process summing the rows in another order: "
              f"{r['reorder_diff']:.3g}; parameters up to {r['max_abs_param']:.3g}); held-out accuracy "
              f"{r['test_accuracy']:.4f}; {r['train_seconds']:.2f} s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
