"""What `dump` writes when the user says little: a training step stays a training step, outputs keep the
names the trace knows, and a loaded plan shows them."""
from __future__ import annotations

import numpy as np
from plan_helpers import mlp_predict, mlp_step

from graphc.saved_plan import dump_trace, load


def test_a_training_step_dumped_without_options_keeps_its_updates(tmp_path):
    step, params, batches = mlp_step(optimizer="sgd")
    step(*batches[0])
    dump_trace(step, tmp_path / "step.gcplan")
    loaded = load(tmp_path / "step.gcplan", verify=True)
    assert loaded.is_training_step and loaded.metadata["optimized_for_inference"] is False
    before = {k: v.numpy() for k, v in loaded.state_dict().items()}
    live = step(*batches[1])
    got = loaded(*batches[1])
    np.testing.assert_allclose(got[0].numpy(), live[0].numpy(), rtol=1e-5, atol=1e-6)
    after = loaded.state_dict()
    assert any(not np.array_equal(before[k], after[k].numpy()) for k in before)   # it trained
    np.testing.assert_allclose(after["w1"].numpy(), params[0].numpy(), rtol=1e-5, atol=1e-6)


def test_asking_for_inference_still_drops_the_updates(tmp_path):
    step, _, batches = mlp_step(optimizer="sgd")
    step(*batches[0])
    dump_trace(step, tmp_path / "infer.gcplan", optimize_for_inference=True)
    loaded = load(tmp_path / "infer.gcplan")
    assert not loaded.is_training_step and loaded.metadata["optimized_for_inference"] is True


def test_an_inference_function_is_dumped_for_inference(tmp_path):
    predict, x = mlp_predict()
    predict(x)
    dump_trace(predict, tmp_path / "p.gcplan")
    loaded = load(tmp_path / "p.gcplan")
    assert not loaded.is_training_step and [o.name for o in loaded.outputs] == ["output0"]


def test_outputs_take_the_traces_names(tmp_path):
    step, _, batches = mlp_step(optimizer="sgd")
    step(*batches[0])
    dump_trace(step, tmp_path / "step.gcplan")
    loaded = load(tmp_path / "step.gcplan")
    # The value gm.backward differentiated is `loss`; the logits have no name the trace knows.
    assert [o.name for o in loaded.outputs] == ["loss", "output1"]
    assert [v.name for v in loaded.graph.outputs] == ["loss", "output1"]
    assert [v.name for v in loaded.plan.graph.outputs] == ["loss", "output1"]
