"""What the interactive prompt shows: one-line reprs of traces, graphs and GradManagers; an optimizer's
parameter groups as PyTorch prints them."""
from __future__ import annotations

import numpy as np

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace


def test_trace_repr_counts_signatures_and_describes_the_latest_plan():
    w = Parameter(np.ones(3, np.float32))
    gm, opt = GradManager().attach([w]), optim.SGD([w], lr=0.1)

    @trace
    def train_step(x):
        with gm:
            loss = F.sum((w * x - 1.0) ** 2)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss

    assert repr(train_step) == "<trace train_step: not traced yet>"
    train_step(Tensor(np.ones(3, np.float32)))
    train_step(Tensor(np.ones((2, 3), np.float32)))   # a new shape: a second signature
    plan = train_step.plan
    fused = sum(n.op.name == "fused" for n in plan.graph.nodes)
    assert repr(train_step) == (f"<trace train_step: 2 signatures, {plan.device} plan {len(plan.graph.nodes)} nodes, "
                                f"{fused} fused>")


def test_graph_repr_is_one_line_and_its_str_the_listing():
    @trace
    def f(x):
        return F.exp(x) + 1.0

    f(Tensor(np.zeros(2, np.float32)))
    assert repr(f.graph) == "<Graph 1 inputs, 2 nodes (forward 2), 1 outputs, 0 updates>"
    assert str(f.graph).splitlines()[0] == "input x: float32[2]" and len(str(f.graph).splitlines()) > 3


def test_optimizer_repr_shows_its_parameter_groups():
    w, b = Parameter(np.zeros((2, 3), np.float32)), Parameter(np.float32(0.0))
    opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.01, momentum=0.9)
    assert repr(opt) == "\n".join([
        "SGD (",
        "Parameter Group 0", "    params: 1 parameter, 6 elements", "    lr: 0.01", "    momentum: 0.9",
        "    weight_decay: 0.0",
        "Parameter Group 1", "    params: 1 parameter, 1 element", "    lr: 0.5", "    momentum: 0.9",
        "    weight_decay: 0.0",
        ")"])


def test_grad_manager_repr_counts_attached_tensors_and_says_whether_it_records():
    w, b = Parameter(1.0), Parameter(2.0)
    gm = GradManager().attach([w, b])
    assert repr(gm) == "<GradManager 2 tensors attached, not recording>"
    with gm:
        assert repr(gm) == "<GradManager 2 tensors attached, recording>"
    assert repr(GradManager().attach(w)) == "<GradManager 1 tensor attached, not recording>"
