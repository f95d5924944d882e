"""Pictures that name things: each gradient by what it is, the backward starting from the loss, outputs by
name, a plan's states as parameters, the fused plan collapsed and flowing down, notebook pictures."""
from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from pictures import SVG, by_label, one, parse_dot, svg_nodes, svg_of

import graphc.functional as F
from graphc import Parameter, Tensor, viz
from graphc.autodiff import GradManager
from graphc.ir import GRADIENT, UPDATE
from graphc.ir.interpret import evaluate
from graphc.jit import trace
from graphc.optimizer import SGD
from graphc.saved_plan import load
from graphc.viz import style

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's `dot` is not installed")
X = np.linspace(-1, 1, 16, dtype=np.float32)
Y = 5 * X + 0.5


def line_step():
    """The tutorial's training step y = w * x + b, traced once (w = 2, b = -1 before the step)."""
    w, b = Parameter(np.float32(2.0)), Parameter(np.float32(-1.0))
    gm, opt = GradManager().attach([w, b]), SGD([w, b], lr=0.01)

    @trace
    def train_step(x, y):
        with gm:
            loss = F.nn.square_loss(w * x + b, y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss

    train_step(Tensor(X), Tensor(Y))
    return train_step


def ops_into(edges: list, node: str) -> list[str]:
    return [t for t, h, _ in edges if h == node]


def test_gradient_picture_names_each_gradient_by_what_it_is():
    step = line_step()
    nodes, edges, _ = parse_dot(viz.to_dot(step, "gradient"))
    dw, db = one(nodes, "∂loss/∂w"), one(nodes, "∂loss/∂b")
    for n in (dw, db):
        (op,) = ops_into(edges, n)
        assert nodes[op]["fillcolor"] == style.ROLE_FILL[GRADIENT]
    # The labels are right: the values so named are the gradients of the mean squared error at w=2, b=-1.
    g = step.graph
    env = evaluate(g, dict(zip(g.inputs, [X, Y, np.float32(2.0), np.float32(-1.0), np.float32(0.01)])))
    named = {v.name: env[v] for v in env if v.name}
    r = 2 * X + -1 - Y
    np.testing.assert_allclose(named["∂loss/∂w"], np.mean(2 * r * X), rtol=1e-5)
    np.testing.assert_allclose(named["∂loss/∂b"], np.mean(2 * r), rtol=1e-5)


def test_gradient_picture_starts_from_the_loss():
    nodes, edges, clusters = parse_dot(viz.to_dot(line_step(), "gradient"))
    loss, seed = one(nodes, "loss"), one(nodes, "∂loss/∂loss = 1")
    (edge,) = [a for t, h, a in edges if (t, h) == (loss, seed)]
    assert edge["style"] == "dashed" and edge["label"] == "backward"
    assert nodes[loss]["style"] == style.DATA["boundary"]["style"]      # drawn as the forward part's value
    assert "- - > backward from the loss" in {nodes[n]["label"] for n in clusters["cluster_legend"][1]}
    assert not by_label(parse_dot(viz.to_dot(line_step(), "forward"))[0], "∂loss/∂loss = 1")


def test_update_picture_shows_which_gradient_updates_which_parameter():
    nodes, edges, _ = parse_dot(viz.to_dot(line_step(), "all"))
    w, dw = one(nodes, "w"), one(nodes, "∂loss/∂w")
    (update,) = [t for t, h, a in edges if h == w and a.get("label") == "update"]   # the new w
    (sub,) = ops_into(edges, update)
    reads = set(ops_into(edges, sub))
    (scaled,) = [v for v in reads if v != w]
    (mul,) = ops_into(edges, scaled)
    assert nodes[sub]["fillcolor"] == nodes[mul]["fillcolor"] == style.ROLE_FILL[UPDATE]
    assert dw in ops_into(edges, mul) and one(nodes, "lr") in ops_into(edges, mul)   # w - lr * ∂loss/∂w


def test_forward_picture_names_the_output_and_leaves_out_the_learning_rate():
    nodes, _, _ = parse_dot(viz.to_dot(line_step(), "forward"))
    assert nodes[one(nodes, "loss")]["peripheries"] == "2"
    assert not by_label(nodes, "lr")                       # only the update reads it
    for p in ("w", "b"):
        assert nodes[one(nodes, p)]["fillcolor"] == style.DATA["param"]["fillcolor"]


def test_a_loaded_plan_shows_output_names_and_its_states_as_parameters(tmp_path):
    w1, w2 = Parameter(np.ones((4, 8), np.float32)), Parameter(np.ones((8, 3), np.float32))

    @trace
    def infer(x):
        logits = F.matmul(F.relu(F.matmul(x, w1)), w2)
        return F.softmax(logits, axis=1), F.argmax(logits, axis=1)

    infer(Tensor(np.ones((2, 4), np.float32)))
    infer.dump(tmp_path / "infer.gcplan", arg_names=["x"], output_names=["probs", "label"])
    loaded = load(tmp_path / "infer.gcplan")
    for obj in (loaded, loaded.plan):
        nodes, _, _ = parse_dot(viz.to_dot(obj))
        assert nodes[one(nodes, "probs")]["peripheries"] == nodes[one(nodes, "label")]["peripheries"] == "2"
        assert nodes[one(nodes, "w1")]["fillcolor"] == nodes[one(nodes, "w2")]["fillcolor"] \
            == style.DATA["param"]["fillcolor"]
        assert nodes[one(nodes, "x")]["fillcolor"] == style.DATA["input"]["fillcolor"]


def test_a_loaded_training_step_draws_parameters_and_the_learning_rate_apart(tmp_path):
    line_step().dump(tmp_path / "step.gcplan")
    nodes, _, _ = parse_dot(viz.to_dot(load(tmp_path / "step.gcplan"), "all"))
    assert nodes[one(nodes, "w")]["fillcolor"] == style.DATA["param"]["fillcolor"]
    assert nodes[one(nodes, "lr")]["fillcolor"] == style.DATA["input"]["fillcolor"]
    assert one(nodes, "∂loss/∂w") and one(nodes, "loss")      # names travel in the file


def test_fused_plan_picture_is_collapsed_and_says_one_element():
    nodes, _, clusters = parse_dot(viz.to_dot(line_step().plan))
    kernels = {k: c for k, c in clusters.items() if k.startswith("cluster_f")}
    assert kernels and all(len(members) == 1 for _, members in kernels.values())     # one box per kernel
    labels = sorted(a["label"] for a, _ in kernels.values())
    assert any(lab.endswith("· 1 element") for lab in labels), labels
    assert any(lab.endswith("· 16 elements") for lab in labels), labels


def _ys(g: ET.Element) -> list[float]:
    """The y coordinates of a rendered node's or cluster's outline (ellipse, rounded path or polygon)."""
    e = g.find(f".//{SVG}ellipse")
    if e is not None:
        return [float(e.get("cy")) - float(e.get("ry")), float(e.get("cy")) + float(e.get("ry"))]
    shape = g.find(f".//{SVG}path")
    if shape is None:
        shape = g.find(f".//{SVG}polygon")
    text = shape.get("d") or shape.get("points")
    nums = [float(t) for t in text.replace("M", " ").replace("C", " ").replace(",", " ").split()]
    return nums[1::2]


def _centre_y(g: ET.Element) -> float:
    ys = _ys(g)
    return (min(ys) + max(ys)) / 2


@needs_dot
def test_fused_plan_flows_down_with_the_loss_at_the_bottom(tmp_path):
    step = line_step()
    nodes, edges, clusters = parse_dot(viz.to_dot(step.plan))
    root = svg_of(step.plan, tmp_path)
    drawn, boxes = svg_nodes(root, "node"), svg_nodes(root, "cluster")
    loss = _centre_y(drawn[one(nodes, "loss")])
    data = [n for n, a in nodes.items() if a.get("shape") == "ellipse" and not n.startswith("legend")]
    assert loss >= max(_centre_y(drawn[n]) for n in data)          # SVG y grows downwards
    # Every kernel's results lie below its cluster.
    for key, (_, (box,)) in ((k, c) for k, c in clusters.items() if k.startswith("cluster_f")):
        produced = [h for t, h, _ in edges if t == box]
        assert produced and all(min(_ys(drawn[v])) > max(_ys(boxes[key])) for v in produced)


@needs_dot
def test_notebook_pictures_of_a_trace_and_a_loaded_plan_are_the_forward_part(tmp_path):
    step = line_step()
    svg = ET.fromstring(step._repr_svg_().encode())
    texts = {t.text for t in svg.iter(f"{SVG}text")}
    assert "loss" in texts and "∂loss/∂w" not in texts and "forward op" in texts
    assert "∂loss/∂w" in {t.text for t in svg_of(step, tmp_path, part="all").iter(f"{SVG}text")}
    step.dump(tmp_path / "step.gcplan")
    loaded = load(tmp_path / "step.gcplan")
    texts = {t.text for t in ET.fromstring(loaded._repr_svg_().encode()).iter(f"{SVG}text")}
    assert "loss" in texts and "gradient op" not in texts
