"""Smoke tests of the example scripts at reduced sizes: each checks the numbers its example reports."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")


def load_example(name: str):
    """Import examples/<name>.py (the folder is not a package; its helpers import as when run there)."""
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def poly(tmp_path_factory):
    out = tmp_path_factory.mktemp("poly")
    return load_example("polynomial_overfit").main(["--steps", "3000", "--out", str(out)]), out


def test_polynomial_degree_9_overfits(poly):
    r = poly[0]["degrees"]
    assert list(r) == [1, 3, 9]
    assert r[9]["train"] < r[3]["train"] < r[1]["train"]
    # Overfitting: degree 9 fits the ten points far better than it predicts held-out ones, and worse than 3.
    assert r[9]["heldout"] > 10 * r[9]["train"]
    assert r[9]["heldout"] > r[3]["heldout"]
    assert r[3]["heldout"] < r[1]["heldout"]


def test_polynomial_low_degrees_reach_least_squares(poly):
    ex = load_example("polynomial_overfit")
    data = ex.make_data(10, 100, 0.3, 6)
    u, ut = (ex.scale(data[f"x_{p}"]).astype(np.float64) for p in ("train", "test"))
    r = poly[0]["degrees"]
    for d in (1, 3):   # well conditioned: Adam converges to the closed-form optimum within 3000 steps
        assert r[d]["train"] == pytest.approx(r[d]["ls_train"], rel=1e-3)
        # The held-out loss is off the optimum to first order in the coefficients' error delta, which the
        # training loss pins down only in its own metric A: |h(c + delta) - h(c)| <= |g|_{A^-1} |delta|_A
        # + lambda_max(A^-1 B) |delta|_A^2 (Cauchy-Schwarz), g and B the held-out loss's gradient and
        # Hessian/2 at the optimum c. The bound follows the conditioning, not one machine's rounding.
        X, Z = np.vander(u, d + 1, increasing=True), np.vander(ut, d + 1, increasing=True)
        A, B = X.T @ X / len(u), Z.T @ Z / len(ut)
        c = ex.least_squares(d, ex.scale(data["x_train"]), data["y_train"])
        delta = np.asarray(r[d]["coef"], np.float64) - c
        excess = delta @ A @ delta
        g = 2 * (B @ c - Z.T @ data["y_test"] / len(ut))
        curvature = max(np.linalg.eigvals(np.linalg.solve(A, B)).real)
        bound = np.sqrt(g @ np.linalg.solve(A, g) * excess) + curvature * excess
        float32_eval = 1e-5 * r[d]["ls_heldout"]      # the loss itself is evaluated in float32
        assert abs(r[d]["heldout"] - r[d]["ls_heldout"]) <= bound + float32_eval
    # Degree 9 interpolates the ten points in closed form; Adam only approaches that (and never beats it).
    assert r[9]["ls_train"] < 1e-12 <= r[9]["train"] < 0.05
    history = r[9]["history"]
    assert [s for s, _, _ in history] == list(range(300, 3001, 300))
    assert history[-1][1] < history[0][1]   # the training loss kept falling


def test_polynomial_coefficients_give_the_reported_loss(poly):
    ex = load_example("polynomial_overfit")
    r = poly[0]["degrees"][3]
    data = ex.make_data(10, 100, 0.3, 6)
    u = ex.scale(data["x_train"])
    pred = np.polyval(np.asarray(r["coef"], np.float64)[::-1], u)
    assert np.mean((pred - data["y_train"]) ** 2) == pytest.approx(r["train"], rel=1e-4)


@pytest.mark.skipif(not has("matplotlib"), reason="matplotlib is not installed")
def test_polynomial_figure_is_a_png(poly):
    result, out = poly
    assert result["files"] == [str(out / "polynomial-fits.png")]
    with open(result["files"][0], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_polynomial_without_tqdm_prints_progress(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)   # `from tqdm import tqdm` now raises ImportError
    r = load_example("polynomial_overfit").main(["--degrees", "1", "--steps", "20", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "degree 1: 20/20 train" in text and r["degrees"][1]["train"] > 0


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (it provides the digits)")
    out = tmp_path_factory.mktemp("mlp")
    argv = ["--epochs", "8", "--hidden", "64", "--lr", "5e-3", "--out", str(out)]
    return load_example("mlp_digits").main(argv), out


def test_mlp_digits_learns_with_one_compile_of_each_function(mlp):
    r = mlp[0]
    assert r["test_accuracy"] >= 0.94
    assert r["train_accuracy"] >= r["test_accuracy"] - 0.02
    # 1347 training images in batches of 64: the last of each epoch has 3, through the same compiled step;
    # the inference function served the held-out set, the training set, one image and a thousand.
    assert r["compiles"] == {"train_step": 1, "infer": 1}


def test_mlp_digits_plan_run_by_the_cli_matches_the_live_model(mlp):
    r, out = mlp
    assert r.get("plan") == str(out / "digits-mlp.gcplan"), "the inference plan was not saved"
    for name, n in (("one", 1), ("thousand", 1000)):
        run = r["runs"][name]
        assert run["images"] == n and run["labels_equal"] and run["max_prob_diff"] <= 1e-6
        with np.load(out / f"digits-{name}-out.npz", allow_pickle=False) as z:
            assert z["probs"].shape == (n, 10) and z["label"].dtype == np.int32
            np.testing.assert_allclose(z["probs"].sum(axis=1), 1.0, rtol=1e-5)


def test_mlp_digits_plan_picture(mlp):
    import shutil
    r, out = mlp
    svg = out / "digits-mlp-plan.svg"
    if shutil.which("dot") is None:
        assert str(svg) not in r["files"]
        return
    assert str(svg) in r["files"]
    text = svg.read_text()
    assert "<svg" in text and "matmul" in text


def test_fit_line_prints_the_tutorial_epochs_and_writes_everything(tmp_path):
    fit_line = load_example("fit_line")
    r = fit_line.main(["--out", str(tmp_path)])
    expected = ["w = 3.486, b = -0.005", "w = 4.508, b = 0.019", "w = 4.808, b = 0.053",
                "w = 4.897, b = 0.088", "w = 4.923, b = 0.123"]     # the tutorial's printed epochs
    for mode in ("numpy", "eager", "traced"):
        assert [line.split(", ", 1)[1].rsplit(", ", 1)[0] for line in r[mode]] == expected
    assert r["compiles"] == 1
    names = {os.path.basename(f) for f in r["files"]}
    assert {"graph-forward.svg", "graph-gradient.svg", "graph-plan.svg", "fit-line-step.gcplan"} <= names \
        or not shutil.which("dot")
    assert "fit-line-step.gcplan" in names
