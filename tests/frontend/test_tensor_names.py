"""Tensor.name and Tensor(..., name=...), as MegEngine's: the name shows in printed graphs, pictures and plan
files (a Module's tensors show their path, fc.weight, until the user names them)."""
from __future__ import annotations

import numpy as np

import graphc
import graphc.module as M
from graphc import Parameter, Tensor
from graphc.jit import trace
from graphc.viz.picture import to_dot


def test_name_defaults_to_empty_and_can_be_set():
    # MegEngine 1.13: Tensor(0).name == "", settable, Tensor(0, name="x").name == "x", Tensor(x).name == "".
    x = Tensor(0)
    assert x.name == ""
    x.name = "x"
    assert x.name == "x" and Tensor(0, name="y").name == "y" and Tensor(x).name == ""
    assert Tensor(x, name="z").name == "z"


def test_names_reach_graphs_pictures_and_plan_files(tmp_path):
    w = Parameter(np.ones((2, 2), np.float32), name="weight")
    net = M.Sequential(M.Linear(2, 1))

    @trace
    def f(x):
        h = x @ w
        h.name = "hidden"
        return net(h)
    x = Tensor(np.ones((3, 2), np.float32), name="batch")
    f(x)
    text = str(f.graph)
    for line in ("input batch: float32[3, 2]", "input weight: float32[2, 2]", "input 0.weight: float32[1, 2]",
                 "input 0.bias: float32[1]", "hidden: float32[3, 2] = matmul(batch, weight;"):
        assert line in text
    dot = to_dot(f)
    assert all(name in dot for name in ("hidden", "weight", "batch", "0.bias"))
    f.dump(tmp_path / "f.gcplan")
    plan = graphc.load(tmp_path / "f.gcplan")
    assert [s.name for s in plan.inputs] == ["batch"]
    assert {"weight", "0.weight", "0.bias"} <= set(plan.state_dict())
    assert any(v.name == "hidden" for n in plan.graph.nodes for v in n.outputs)
