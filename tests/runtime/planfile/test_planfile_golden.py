"""Golden plan files of every format version keep loading and computing what NumPy computed for them."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest

from graphc.runtime import planfile
from graphc.saved_plan import load

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


def _files(kind: str) -> list[str]:
    return sorted(glob.glob(os.path.join(GOLDEN, f"plan_v*_{kind}.gcplan")))


def test_there_is_a_golden_pair_for_the_current_format_version():
    for kind in ("inference", "training"):
        assert os.path.exists(os.path.join(GOLDEN, f"plan_v{planfile.FORMAT_VERSION}_{kind}.gcplan"))


@pytest.mark.parametrize("path", _files("inference"), ids=os.path.basename)
def test_golden_inference_plans(path):
    want = np.load(path[:-len(".gcplan")] + ".npz", allow_pickle=False)
    plan = load(path, verify=True)
    assert [o.name for o in plan.outputs] == ["y", "m"]
    out = plan.run(x=want["x"])
    for name in ("y", "m"):
        np.testing.assert_allclose(out[name], want[name], rtol=1e-5, atol=1e-6)
    if "y_small" in want:   # a free batch dimension: another size runs through the same plan
        small = plan.run(x=want["x"][:len(want["y_small"])])
        for name in ("y", "m"):
            np.testing.assert_allclose(small[name], want[f"{name}_small"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("path", _files("training"), ids=os.path.basename)
def test_golden_training_plans(path):
    want = np.load(path[:-len(".gcplan")] + ".npz", allow_pickle=False)
    plan = load(path, verify=True)
    assert plan.is_training_step

    def check_states(when: str) -> None:
        state = plan.state_dict()
        if f"{when}.w" in want:       # version 2 on: by name (the learning rate is a state too)
            pairs = [(state[k[len(when) + 1:]], want[k]) for k in want.files if k.startswith(when + ".")]
        else:                         # version 1: in order
            pairs = [(t, want[f"{when}_state{i}"]) for i, t in enumerate(state.values())]
        for got, expected in pairs:
            np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)

    check_states("initial")
    losses = [plan(want["x"], y=want["y"]).numpy() for _ in range(len(want["loss"]))]
    np.testing.assert_allclose(losses, want["loss"], rtol=1e-5, atol=1e-6)
    check_states("final")
    if "loss_small" in want:   # then one step on a smaller batch, through the same plan
        n = 2
        np.testing.assert_allclose(plan(want["x"][:n], y=want["y"][:n]).numpy(), want["loss_small"], rtol=1e-5)
        check_states("small")
