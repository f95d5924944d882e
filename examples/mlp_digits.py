"""A multi-layer perceptron on scikit-learn's bundled 8x8 digits (no download), trained with a traced step;
the trained inference function is saved as a plan file, run again in a fresh process through
`graphc run`, compared with the live model, and drawn.

Both traced functions have a free batch dimension (`trace(symbolic_shape=True)`): training compiles once
although the last minibatch of each epoch is smaller, and the saved plan takes one image or a thousand.

Run: python examples/mlp_digits.py [--epochs N] [--hidden 128 64] [--batch-size B] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np
from progress import progress

import graphc
import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.device import get_device
from graphc.jit import trace


def load_data(test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """The digits as float32 pixels in [0, 1] and int32 labels, split stratified into train and held-out."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        sys.exit("this example needs scikit-learn for its data set: pip install scikit-learn")
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


def init_params(sizes: list[int], rng: np.random.Generator) -> list[Parameter]:
    """He-initialized weights of shape (out, in), as F.linear takes them, and zero biases."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params.append(Parameter(rng.normal(0.0, np.sqrt(2.0 / n_in), (n_out, n_in)).astype(np.float32)))
        params.append(Parameter(np.zeros(n_out, np.float32)))
    return params


def forward(params: list[Parameter], x: Tensor) -> Tensor:
    """Logits: linear layers with ReLU between them."""
    n = len(params) // 2
    for i in range(n):
        x = F.linear(x, params[2 * i], params[2 * i + 1])
        if i < n - 1:
            x = F.relu(x)
    return x


def train(data: dict, hidden: list[int], epochs: int, batch_size: int, lr: float, seed: int):
    """Adam on minibatches with one traced step; returns the parameters and the inference function."""
    rng = np.random.default_rng(seed)
    params = init_params([data["x_train"].shape[1], *hidden, 10], rng)
    gm = GradManager().attach(params)
    opt = optim.Adam(params, lr=lr)

    @trace(symbolic_shape=True)
    def train_step(x, y):
        with gm:
            loss = F.nn.cross_entropy(forward(params, x), y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss

    @trace(symbolic_shape=True)
    def infer(x):
        logits = forward(params, x)
        return F.softmax(logits, axis=1), F.argmax(logits, axis=1)

    x_tr, y_tr = data["x_train"], data["y_train"]
    n_batches = -(-len(x_tr) // batch_size)     # the last one smaller: the same compiled step serves it
    bar = progress(epochs, "training")
    for _ in range(epochs):
        order = rng.permutation(len(x_tr))
        losses = []
        for b in range(n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            losses.append(train_step(Tensor(x_tr[idx]), Tensor(y_tr[idx])))
        acc = accuracy(infer, data["x_test"], data["y_test"])
        bar.update(1)
        bar.set_postfix_str(f"loss {np.mean([l.item() for l in losses]):.4f} held-out accuracy {acc:.4f}")
    bar.close()
    print(f"compiles: train_step {train_step.traces}, infer {infer.traces} "
          f"({n_batches} minibatches an epoch, the last of {len(x_tr) - (n_batches - 1) * batch_size} images)")
    return params, infer, {"train_step": train_step.traces, "infer": infer.traces}


def accuracy(infer, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows of x whose predicted class is y."""
    _, label = infer(Tensor(x))
    return float(np.mean(label.numpy() == y))


def save_and_rerun(infer, batches: dict[str, np.ndarray], out: str) -> dict:
    """Dump the inference plan, run it with `graphc run` in a fresh process on each batch of images, compare
    with the live model."""
    plan = os.path.join(out, "digits-mlp.gcplan")
    # optimize_for_inference keeps only what the outputs need; the trained weights go in as fixed state.
    infer.dump(plan, arg_names=["x"], output_names=["probs", "label"], optimize_for_inference=True)
    res: dict = {"plan": plan, "files": [plan], "runs": {}}
    for name, x in batches.items():
        live_probs, live_label = (t.numpy() for t in infer(Tensor(x)))
        x_file, out_file = os.path.join(out, f"digits-{name}.npy"), os.path.join(out, f"digits-{name}-out.npz")
        np.save(x_file, x)
        cmd = [sys.executable, "-m", "graphc.cli", "run", plan, "--input", f"x={x_file}", "--output", out_file]
        print("$ graphc run", " ".join(cmd[4:]))
        done = subprocess.run(cmd, capture_output=True, text=True)
        print(done.stdout + done.stderr, end="")
        if done.returncode != 0:
            raise RuntimeError(f"`graphc run` failed with status {done.returncode}: {done.stderr.strip()}")
        with np.load(out_file, allow_pickle=False) as z:
            probs, label = z["probs"], z["label"]
        res["files"] += [x_file, out_file]
        run = {"images": len(x), "labels_equal": bool(np.array_equal(label, live_label)),
               "max_prob_diff": float(np.max(np.abs(probs - live_probs)))}
        res["runs"][name] = run
        print(f"`graphc run` on {run['images']} image{'s' if run['images'] != 1 else ''} vs the live model: labels "
              f"{'equal' if run['labels_equal'] else 'DIFFER'}, largest probability difference "
              f"{run['max_prob_diff']:.3g}")
    return res


def render(plan: str, path: str) -> str | None:
    """The saved plan's forward graph as a picture (needs graphviz's `dot`)."""
    try:
        graphc.viz.render(graphc.load(plan), path, part="forward")
    except graphc.viz.GraphvizNotFoundError as e:   # it says how to install graphviz
        print(f"not rendering {path}: {e}")
        return None
    return path


def main(argv: list[str] | None = None) -> dict:
    """Train, evaluate, save, re-run and draw; returns the accuracies and the plan comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, nargs="+", default=[128, 64], help="units per hidden layer")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--test-fraction", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    data = load_data(args.test_fraction, args.seed)
    print(f"digits: {len(data['x_train'])} training and {len(data['x_test'])} held-out images of 8x8 pixels; "
          f"running on {get_device(None).physical}")
    _, infer, compiles = train(data, args.hidden, args.epochs, args.batch_size, args.lr, args.seed)
    result = {"train_accuracy": accuracy(infer, data["x_train"], data["y_train"]),
              "test_accuracy": accuracy(infer, data["x_test"], data["y_test"])}
    result["compiles"] = {**compiles, "infer": infer.traces}
    result["train_seconds"] = time.perf_counter() - start
    print(f"accuracy: training {result['train_accuracy']:.4f}, held-out {result['test_accuracy']:.4f} "
          f"({result['train_seconds']:.1f} s)")
    images = np.concatenate([data["x_test"], data["x_train"]])
    result.update(save_and_rerun(infer, {"one": images[:1], "thousand": images[:1000]}, args.out))
    svg = render(result["plan"], os.path.join(args.out, "digits-mlp-plan.svg"))
    if svg:
        result["files"].append(svg)
    for f in result["files"]:
        print("wrote", f)
    result["seconds"] = time.perf_counter() - start
    print(f"done in {result['seconds']:.1f} s")
    return result


if __name__ == "__main__":
    main()
