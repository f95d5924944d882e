"""graphc.module: MegEngine's Module API (attributes found as parameters, buffers and submodules; names;
state_dict; train/eval; hooks), Linear, Sequential, the activations, Dropout and init; modules trace and dump.

Reference behaviour was printed by MegEngine 1.13 in a reference venv for the same Net (the reprs, the key
orders of named_parameters/named_buffers/named_modules/state_dict and the load_state_dict errors)."""
from __future__ import annotations

import io
import math
from collections import OrderedDict

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.module as M
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace


class Net(M.Module):
    def __init__(self):
        super().__init__()
        self.fc = M.Linear(3, 2)
        self.act = M.ReLU()
        self.blocks = [M.Linear(2, 2, bias=False), M.Sigmoid()]
        self.drop = M.Dropout(0.5)
        self.scale = Tensor([2.0])

    def forward(self, x):
        return self.drop(self.blocks[1](self.blocks[0](self.act(self.fc(x))))) * self.scale


def test_attributes_are_found_and_named_as_in_megengine():
    n = Net()
    assert [k for k, _ in n.named_parameters()] == ["blocks.0.weight", "fc.bias", "fc.weight"]
    assert [k for k, _ in n.named_buffers()] == ["scale"]
    assert [k for k, _ in n.named_children()] == ["act", "blocks.0", "blocks.1", "drop", "fc"]
    assert [k for k, _ in n.named_modules()] == ["", "act", "blocks.0", "blocks.1", "drop", "fc"]
    assert list(n.state_dict()) == ["scale", "blocks.0.weight", "fc.bias", "fc.weight"]
    assert list(n.parameters(recursive=False)) == [] and len(list(n.parameters())) == 3
    assert all(isinstance(p, Parameter) for p in n.parameters())
    assert n.fc.weight.name == "" and n.fc.weight._label() == "fc.weight"


def test_repr_matches_megengine():
    assert repr(Net()) == ("Net(\n  (fc): Linear(in_features=3, out_features=2, bias=True)\n  (act): ReLU()\n"
                           "  (blocks.0): Linear(in_features=2, out_features=2, bias=False)\n"
                           "  (blocks.1): Sigmoid()\n  (drop): Dropout(drop_prob=0.5)\n)")
    s = M.Sequential(OrderedDict([("a", M.Linear(2, 3)), ("b", M.LeakyReLU(0.2))]))
    assert repr(s) == "Sequential(\n  (a): Linear(in_features=2, out_features=3, bias=True)\n  (b): LeakyReLU()\n)"
    assert len(s) == 2 and isinstance(s[1], M.LeakyReLU) and repr(s[:1]).count("Linear") == 1


def test_state_dict_round_trip_and_errors():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and np.array_equal(va, vb)
    with pytest.raises(KeyError, match="Missing params"):
        b.load_state_dict({"fc.weight": np.zeros((2, 3), np.float32)})
    with pytest.raises(KeyError, match="Unused params"):
        b.load_state_dict({**a.state_dict(), "extra": np.zeros(1)})
    with pytest.raises(ValueError, match="fc.weight"):
        b.load_state_dict({"fc.weight": np.zeros((3, 3), np.float32)}, strict=False)
    b.load_state_dict(lambda k, t: np.ones(t.shape, np.float32) if k == "fc.bias" else None, strict=False)
    assert b.fc.bias.tolist() == [1.0, 1.0]


def test_forward_train_eval_hooks_and_zero_grad():
    np.random.seed(0)
    n = Net()
    x = Tensor(np.random.rand(4, 3).astype(np.float32))
    n.eval()
    assert not n.training and not n.drop.training
    out = n(x)
    hidden = np.maximum(x.numpy() @ n.fc.weight.numpy().T + n.fc.bias.numpy(), 0)
    want = 2 / (1 + np.exp(-(hidden @ n.blocks[0].weight.numpy().T)))
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-6)
    calls = []
    handle = n.register_forward_pre_hook(lambda m, inputs: calls.append("pre"))
    n.register_forward_hook(lambda m, inputs, outputs: outputs * 0)
    assert n(x).tolist() == np.zeros((4, 2)).tolist() and calls == ["pre"]
    handle.remove()
    n(x)
    assert calls == ["pre"]
    n.train()
    assert n.drop.training
    for p in n.parameters():
        p.grad = Tensor(np.ones(p.shape, np.float32))
    n.zero_grad()
    assert all(not p.grad.numpy().any() for p in n.parameters())


def test_linear_is_initialized_as_megengine():
    graphc.random.seed(1)
    layer = M.Linear(400, 300)
    w = layer.weight.numpy()
    # N(0, 1/in_features): the sample's standard deviation is within a few percent of 1/sqrt(400) = 0.05.
    assert abs(w.std() - 0.05) < 0.05 * 0.03 and abs(w.mean()) < 0.002
    assert layer.bias.tolist() == [0.0] * 300


def test_init_functions():
    t = Parameter(np.zeros((200, 300), np.float32))
    M.init.xavier_uniform_(t)
    bound = math.sqrt(6 / 500)
    assert t.numpy().max() <= bound and t.numpy().min() >= -bound and t.numpy().max() > 0.95 * bound
    M.init.msra_normal_(t, mode="fan_out", nonlinearity="relu")
    assert abs(t.numpy().std() - math.sqrt(2 / 200)) < 0.03 * math.sqrt(2 / 200)
    M.init.fill_(t, 3)
    assert (t.numpy() == 3).all()
    # MegEngine 1.13: calculate_fan_in_and_fan_out of a (4, 3, 2, 2) weight is (12, 16);
    # calculate_gain("leaky_relu", 0.2) is 1.3867504905630728.
    assert M.init.calculate_fan_in_and_fan_out(Tensor(np.zeros((4, 3, 2, 2)))) == (12, 16)
    assert M.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(1.3867504905630728, rel=1e-15)


def test_activation_modules():
    x = Tensor([-2.0, 0.5])
    assert M.ReLU()(x).tolist() == [0.0, 0.5]
    assert M.LeakyReLU(0.1)(x).tolist() == pytest.approx([-0.2, 0.5])
    np.testing.assert_allclose(M.Sigmoid()(x).numpy(), 1 / (1 + np.exp([2.0, -0.5])), rtol=1e-6)
    np.testing.assert_allclose(M.Softmax(0)(x).numpy().sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(M.SiLU()(x).numpy(), F.silu(x).numpy())
    np.testing.assert_allclose(M.GELU()(x).numpy(), F.gelu(x).numpy())
    assert M.PReLU(init=0.5)(x).tolist() == [-1.0, 0.5]


def test_a_module_trains_traced_and_its_names_reach_graphs_and_plan_files(tmp_path):
    graphc.random.seed(0)
    net = M.Sequential(M.Linear(3, 4), M.ReLU(), M.Linear(4, 1))
    gm = GradManager().attach(net.parameters())
    opt = optim.SGD(net.parameters(), lr=0.1)
    x = Tensor(np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32))
    y = Tensor(np.ones((8, 1), np.float32))

    def step(x, y):
        with gm:
            loss = F.nn.square_loss(net(x), y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss

    eager = M.Sequential(M.Linear(3, 4), M.ReLU(), M.Linear(4, 1))
    eager.load_state_dict(net.state_dict())
    traced = trace(step)
    losses = [traced(x, y).item() for _ in range(5)]
    assert losses[-1] < losses[0]
    assert traced.traces == 1
    text = str(traced.graph)
    assert "input 0.weight" in text and "input 2.bias" in text
    traced.dump(tmp_path / "net.gcplan", optimize_for_inference=True)
    plan = graphc.load(tmp_path / "net.gcplan")
    assert {"0.weight", "0.bias", "2.weight", "2.bias"} <= set(plan.state_dict())
    np.testing.assert_allclose(plan(x, y).numpy(), F.nn.square_loss(net(x), y).numpy(), rtol=1e-5)
    # The same steps eagerly reach the same parameters.
    gm2 = GradManager().attach(eager.parameters())
    opt2 = optim.SGD(eager.parameters(), lr=0.1)
    for _ in range(5):
        with gm2:
            gm2.backward(F.nn.square_loss(eager(x), y))
            opt2.step().clear_grad()
    for a, b in zip(net.parameters(), eager.parameters()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    file = io.BytesIO()
    traced.dump(file)
    assert b"0.weight" in file.getvalue()
