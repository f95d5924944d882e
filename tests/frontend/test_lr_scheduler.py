"""LRScheduler and MultiStepLR: the schedule MegEngine 1.13 gives, and traced steps follow it without
retracing (the learning rate is an input of the traced step)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace


def test_multistep_schedule_as_megengine():
    # MegEngine 1.13, SGD([{"params": [w], "lr": 0.1}], lr=0.5) with MultiStepLR(opt, [2, 4], gamma=0.5): the lr
    # over six epochs is [0.1, 0.1, 0.05, 0.05, 0.025, 0.025] and the state dict after them
    # {'milestones': [2, 4], 'gamma': 0.5, 'current_epoch': 6}.
    w = Parameter([1.0])
    opt = optim.SGD([{"params": [w], "lr": 0.1}], lr=0.5)
    s = optim.MultiStepLR(opt, milestones=[2, 4], gamma=0.5)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        s.step()
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rel=1e-15)
    assert s.state_dict() == {"milestones": [2, 4], "gamma": 0.5, "current_epoch": 6}
    s2 = optim.lr_scheduler.MultiStepLR(opt, milestones=[1], current_epoch=0)
    s2.load_state_dict(s.state_dict())
    assert s2.current_epoch == 6
    with pytest.raises(ValueError, match="increasing"):
        optim.MultiStepLR(opt, milestones=[3, 1])
    with pytest.raises(TypeError):
        optim.MultiStepLR(object(), milestones=[1])
    with pytest.raises(KeyError, match="current_epoch"):
        s2.load_state_dict({"milestones": [1], "gamma": 0.1})


def test_a_traced_step_follows_the_schedule_without_retracing():
    def run(traced: bool) -> tuple[list[float], int]:
        w = Parameter([2.0])
        gm = GradManager().attach([w])
        opt = optim.SGD([w], lr=0.1)
        sched = optim.MultiStepLR(opt, milestones=[2, 3], gamma=0.1)

        def step(x):
            with gm:
                gm.backward(F.sum(w * x))
                opt.step().clear_grad()
            return w * 1.0
        f = trace(step) if traced else step
        out = []
        for _ in range(4):
            out.append(f(Tensor([1.0])).item())
            sched.step()
        return out, getattr(f, "traces", 0)
    eager, _ = run(False)
    traced, traces = run(True)
    # w -= lr each step with lr 0.1, 0.1, 0.01, 0.001.
    np.testing.assert_allclose(eager, [1.9, 1.8, 1.79, 1.789], rtol=1e-6)
    np.testing.assert_allclose(traced, eager, rtol=1e-6)
    assert traces == 1
