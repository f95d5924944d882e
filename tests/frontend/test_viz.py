"""graphc.viz: DOT structure (node kinds, colours, clusters, labels, legend), real SVG renders read back as
XML, the CLI's `render`, Jupyter hooks, and the error when graphviz's `dot` is missing."""
from __future__ import annotations

import re
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from pictures import SVG, XLINK, by_label, one, parse_dot, svg_nodes, svg_of

import graphc
from graphc import viz
from graphc.ir import GRADIENT, UPDATE, Graph, building, emit
from graphc.ir.errors import GraphcTypeError
from graphc.passes.autodiff import grad
from graphc.runtime.compile import compile_graph
from graphc.runtime.plan import Plan
from graphc.viz import style

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's `dot` is not installed")
F32 = np.float32


def tutorial(with_grad: bool = True):
    """The tutorial's y = w * x + b, with names, source lines and (optionally) the gradient nodes."""
    g = Graph()
    x, w, b = (g.add_input((3,), F32, n) for n in "xwb")
    with building(g, loc="tut.py:3"):
        p = w * x
    with building(g, loc="tut.py:4"):
        y = p + b
    p.name, y.name = "p", "y"
    g.outputs = [y]
    if with_grad:
        dy = g.add_input((3,), F32, "dy")
        dw, db = grad(g, [y], [dy], [w, b])
        dw.name = "dw"
        g.outputs += [dw]
    return g


def training_step():
    """Forward, gradient and an SGD update of w and b: w and b are parameters (update targets)."""
    g = Graph()
    x, w, b = (g.add_input((4,), F32, n) for n in "xwb")
    with building(g, loc="fit.py:10"):
        loss = emit("mean", [(w * x + b) * (w * x + b)], axis=(0,), keepdims=False)
    loss.name = "loss"
    g.outputs = [loss]
    dw, db = grad(g, [loss], [g.add_const(np.float32(1.0), "one")], [w, b])
    with building(g, UPDATE, "fit.py:12"):
        g.updates = [(w, w - dw * 0.1), (b, b - db * 0.1)]
    return g


def fused_graph(elements: int = 1024):
    """A graph holding one hand-made fused node k0 = tanh(a * b + 2), then a reduction outside it."""
    sub = Graph()
    sa, sb = sub.add_input((elements,), F32, "a"), sub.add_input((elements,), F32, "b")
    with building(sub, loc="model.py:7"):
        t = emit("tanh", [sa * sb + 2.0])
    sub.outputs = [t]
    g = Graph()
    a, b = g.add_input((elements,), F32, "a"), g.add_input((elements,), F32, "b")
    (h,) = g.emit("fused", [a, b], {"name": "k0_mul_add_tanh", "subgraph": sub}, loc="model.py:7")
    with building(g, loc="model.py:8"):
        s = emit("sum", [h], axis=(0,), keepdims=False)
    g.outputs = [s]
    return g


def chain(layers: int) -> Graph:
    """A deep stack of identical layers, with gradients and updates: repeated structure everywhere."""
    g = Graph()
    h = g.add_input((2, 4), F32, "x")
    params = []
    with building(g, loc="deep.py:5"):
        for i in range(layers):
            w = g.add_input((4, 4), F32, f"w{i}")
            params.append(w)
            h = emit("tanh", [emit("matmul", [h, w], transpose_a=False, transpose_b=False)])
        loss = emit("sum", [h], axis=(0, 1), keepdims=False)
    g.outputs = [loss]
    grads = grad(g, [loss], [g.add_const(np.float32(1.0))], params)
    with building(g, UPDATE, "deep.py:9"):
        g.updates = [(p, p - d * 0.01) for p, d in zip(params, grads)]
    return g


# ---- the tutorial's picture ------------------------------------------------------------------------------
def test_forward_picture_has_the_tutorials_data_and_operator_nodes():
    nodes, edges, _ = parse_dot(viz.to_dot(tutorial(), "forward"))
    data = {n: one(nodes, n) for n in "xwbpy"}
    for n in data.values():
        assert nodes[n]["shape"] == "ellipse"
    mul, add = one(nodes, "*"), one(nodes, "+")
    assert nodes[mul]["shape"] == nodes[add]["shape"] == "box"
    pairs = {(t, h) for t, h, _ in edges}
    assert {(data["w"], mul), (data["x"], mul), (mul, data["p"]), (data["p"], add), (data["b"], add),
            (add, data["y"])} <= pairs
    assert nodes[data["x"]]["label"] == "x\\nfloat32[3]"
    assert nodes[data["y"]]["peripheries"] == "2"                 # an output
    assert not by_label(nodes, "dw")                              # the gradient is another part
    assert "gradient op" not in {a["label"] for n, a in nodes.items() if n.startswith("legend")}


def test_gradient_picture_shows_how_dw_comes_from_x():
    nodes, edges, _ = parse_dot(viz.to_dot(tutorial(), "gradient"))
    dw, x, dy = one(nodes, "dw"), one(nodes, "x"), one(nodes, "dy")
    (op,) = [t for t, h, _ in edges if h == dw]
    assert nodes[op]["label"] == "*"
    assert nodes[op]["fillcolor"] == style.ROLE_FILL[GRADIENT]
    assert {t for t, h, _ in edges if h == op} == {x, dy}         # dw = dy * x: with dy = 1, dw = x
    assert not by_label(nodes, "+") and not by_label(nodes, "p")  # forward ops stay out
    assert nodes[dw]["color"] == style.ROLE_LINE[GRADIENT]


def test_node_kinds_roles_and_legend_are_distinguishable():
    text = viz.to_dot(training_step())
    nodes, edges, clusters = parse_dot(text)
    x, w, one_ = one(nodes, "x"), one(nodes, "w"), one(nodes, "one = 1")
    fills = {nodes[x]["fillcolor"], nodes[w]["fillcolor"], nodes[one_]["fillcolor"], "#ffffff"}
    assert len(fills) == 4                                        # input, parameter, constant, value
    assert nodes[w]["fillcolor"] == style.DATA["param"]["fillcolor"]
    op_fills = {a["fillcolor"] for n, a in nodes.items() if a.get("shape") == "box" and not n.startswith("legend")}
    assert op_fills == {style.ROLE_FILL[r] for r in ("forward", "gradient", "update")}
    updates = [(t, h) for t, h, a in edges if a.get("label") == "update"]
    assert len(updates) == 2 and all(h in (w, one(nodes, "b")) for _, h in updates)
    assert all(a["style"] == "dashed" and a["constraint"] == "false" for _, _, a in edges if a.get("label") == "update")
    legend = {nodes[n]["label"] for n in clusters["cluster_legend"][1]}
    assert {"input", "parameter", "constant", "value", "output", "forward op", "gradient op",
            "optimizer update op", "- - > state update"} <= legend
    assert {"cluster_role_forward", "cluster_role_gradient", "cluster_role_update"} <= clusters.keys()
    assert clusters["cluster_role_update"][0]["label"] == "optimizer update"


def test_every_operator_tooltip_names_the_users_source_line():
    nodes, _, _ = parse_dot(viz.to_dot(training_step()))
    ops = {n: a for n, a in nodes.items() if a.get("shape") == "box" and not n.startswith("legend")}
    assert ops and all(re.search(r"fit\.py:1[02]$", a["tooltip"]) for a in ops.values())
    assert "fit.py:10" in nodes[one(nodes, "loss")]["tooltip"]   # data nodes: where they were made


def test_shapes_off_and_update_part():
    nodes, _, _ = parse_dot(viz.to_dot(training_step(), "update", shapes=False))
    assert not any("float32" in a.get("label", "") for a in nodes.values())
    assert by_label(nodes, "w") and by_label(nodes, "-")
    assert all(a["fillcolor"] == style.ROLE_FILL[UPDATE] for n, a in nodes.items()
               if a.get("shape") == "box" and not n.startswith("legend"))


def test_bad_part_and_undrawable_objects_are_refused():
    with pytest.raises(ValueError, match="part must be one of"):
        viz.to_dot(tutorial(), "backward")
    with pytest.raises(GraphcTypeError, match="cannot draw a int"):
        viz.to_dot(3)


def test_names_are_quoted_safely():
    g = Graph()
    x = g.add_input((2,), F32, 'say "hi" \\ bye')
    with building(g, loc='C:\\code\\"odd".py:1'):
        g.outputs = [-x]
    nodes, _, _ = parse_dot(viz.to_dot(g))
    assert nodes[one(nodes, 'say \\"hi\\" \\\\ bye')]


# ---- what can be drawn -----------------------------------------------------------------------------------
def test_duck_typed_sources_draw_the_same_graph():
    g = tutorial()
    expected = viz.to_dot(g)

    class Traced:
        graph = g

    class Loaded:
        plan = type("P", (), {"graph": g})()

    assert viz.to_dot(Traced()) == expected
    assert viz.to_dot(Loaded()).startswith(expected.split("label=")[0])


def test_traced_function_its_plan_and_an_eager_tape():
    from graphc.autodiff import GradManager
    from graphc.jit import trace
    from graphc.optimizer import SGD
    w, b = graphc.Parameter([1.0, 2.0, 3.0]), graphc.Parameter([0.5, 0.5, 0.5])
    gm, opt = GradManager().attach([w, b]), SGD([w, b], lr=0.1)

    @trace(symbolic=True)
    def step(x):
        with gm:
            loss = ((w * x + b) ** 2).mean()
            gm.backward(loss)
        opt.step().clear_grad()
        return loss

    step(graphc.Tensor([1.0, 2.0, 3.0]))
    nodes, edges, clusters = parse_dot(viz.to_dot(step))
    assert {"cluster_role_forward", "cluster_role_gradient", "cluster_role_update"} <= clusters.keys()
    assert any(a.get("label") == "update" for _, _, a in edges)
    assert by_label(nodes, "x")
    assert isinstance(step.plan, Plan)
    assert viz.to_dot(step.plan).startswith("digraph graphc {")

    gm2 = GradManager().attach([w])
    with gm2:
        tape = gm2._tape
        y = w * graphc.Tensor(np.arange(3, dtype=F32)) + b
        gm2.backward(y.sum())
    nodes, _, _ = parse_dot(viz.to_dot(tape.graph, "forward"))
    assert by_label(nodes, "*") and by_label(nodes, "+")


# ---- fused plans -----------------------------------------------------------------------------------------
def test_fused_group_expanded_is_a_cluster_with_kernel_name_and_element_count():
    g = fused_graph()
    nodes, edges, clusters = parse_dot(viz.to_dot(g, collapse_fused=False))
    (attrs, members), = [c for k, c in clusters.items() if k.startswith("cluster_f")]
    assert attrs["label"] == "k0_mul_add_tanh · 1,024 elements"
    inside = {nodes[m]["label"].split("\\n")[0] for m in members}
    assert {"*", "+", "tanh", "2"} <= inside                     # its ops and its own constant
    assert not {"a", "b", "sum"} & inside                        # operands and readers stay outside
    a = one(nodes, "a")
    assert any(t == a and h == one(nodes, "*") for t, h, _ in edges)   # straight into the kernel's op
    tanh_out = [h for t, h, _ in edges if t == one(nodes, "tanh")][0]
    assert tanh_out not in members and any(t == tanh_out and h == one(nodes, "sum") for t, h, _ in edges)
    assert "fused kernel" in {nodes[n]["label"] for n in clusters["cluster_legend"][1]}


def test_fused_group_collapsed_to_one_box_by_default():
    nodes, edges, clusters = parse_dot(viz.to_dot(fused_graph()))
    (attrs, members), = [c for k, c in clusters.items() if k.startswith("cluster_f")]
    assert attrs["label"] == "k0_mul_add_tanh · 1,024 elements"
    assert len(members) == 1 and nodes[members[0]]["label"] == "mul add tanh"
    assert "model.py:7" in nodes[members[0]]["tooltip"]
    assert not by_label(nodes, "tanh")


def test_compiled_plan_draws_its_fused_kernels():
    g = training_step()
    plan = compile_graph(g)
    fused = [n for n in plan.graph.nodes if n.op.name == "fused"]
    if not fused:
        pytest.skip("this optimization pipeline fused nothing here")
    nodes, _, clusters = parse_dot(viz.to_dot(plan))
    labels = {c[0]["label"] for k, c in clusters.items() if k.startswith("cluster_f")}
    assert {f"{n.attrs['name']} · " for n in fused} == {lab.split("· ")[0] + "· " for lab in labels}
    assert all(lab.endswith(" elements") for lab in labels)


# ---- large graphs ----------------------------------------------------------------------------------------
def test_repeated_layers_fold_into_one_box():
    g = chain(60)
    full, _, _ = parse_dot(viz.to_dot(g, fold=False, compact=False))
    nodes, edges, _ = parse_dot(viz.to_dot(g, fold=True))
    folds = {n: a for n, a in nodes.items() if a.get("shape") == "box3d" and not n.startswith("legend")}
    assert folds and all(re.match(r"× \d+ more", a["label"]) for a in folds.values())
    assert len(nodes) < len(full) / 5
    assert "repeated blocks" in {a["label"] for n, a in nodes.items() if n.startswith("legend")}
    drawn = {t for t, _, _ in edges} | {h for _, h, _ in edges}
    assert set(folds) <= drawn                                    # the boxes are wired in


def test_large_graphs_fold_and_compact_by_default():
    g = chain(150)                                                # 150 layers: about 1,200 operators
    assert len(g.nodes) > 1000
    text = viz.to_dot(g)
    assert "folded into" in text and "mclimit" not in text        # small once folded: full layout effort
    text = viz.to_dot(g, fold=False)
    assert 'mclimit="0.1"' in text and "one-use values drawn as edges" in text
    nodes, _, _ = parse_dot(text)                                 # compact: far readers get copies
    copies = [n for n in nodes if re.fullmatch(r"v\d+_\d+", n)]
    assert copies and all("drawn again" in nodes[n]["tooltip"] for n in copies)


@needs_dot
def test_a_2000_operator_graph_renders(tmp_path, capsys):
    rng = np.random.default_rng(0)
    g = Graph()
    vals = [g.add_input((4,), F32, f"in{i}") for i in range(20)]
    with building(g, loc="random.py:1"):
        while len(g.nodes) < 2000:                               # no repeated structure to fold
            a, b = rng.choice(len(vals), 2)
            vals.append(emit(["add", "mul", "sub", "maximum"][len(g.nodes) % 4], [vals[a], vals[b]]))
            if len(vals) > 60:
                vals.pop(20 + int(rng.integers(0, 10)))
    g.outputs = vals[-5:]
    t0 = time.perf_counter()
    root = svg_of(g, tmp_path)
    with capsys.disabled():
        print(f"\n2,000-operator graph rendered to SVG in {time.perf_counter() - t0:.2f} s")
    ops = [t for t in svg_nodes(root, "node") if re.fullmatch(r"n\d+", t)]
    assert len(ops) == 2000


# ---- real renders ----------------------------------------------------------------------------------------
@needs_dot
def test_svg_render_has_the_nodes_edges_and_tooltips(tmp_path):
    g = tutorial()
    nodes, edges, _ = parse_dot(viz.to_dot(g, "forward"))
    root = svg_of(g, tmp_path, part="forward")
    drawn, lines = svg_nodes(root, "node"), svg_nodes(root, "edge")
    assert set(nodes) <= set(drawn)
    assert {f"{t}->{h}" for t, h, _ in edges} <= set(lines)
    texts = {" ".join(t.text for t in g_.iter(f"{SVG}text")) for g_ in drawn.values()}
    assert {"x float32[3]", "w float32[3]", "p float32[3]", "*", "+"} <= texts
    mul = drawn[one(nodes, "*")]
    titles = [a.get(f"{XLINK}title") for a in mul.iter(f"{SVG}a")]
    assert any("tut.py:3" in (t or "") for t in titles)
    assert svg_nodes(root, "cluster")["cluster_legend"] is not None


@needs_dot
def test_svg_render_of_a_fused_plan_has_its_cluster(tmp_path):
    root = svg_of(fused_graph(), tmp_path)
    clusters = svg_nodes(root, "cluster")
    texts = [" ".join(t.text for t in c.iter(f"{SVG}text")) for k, c in clusters.items() if k.startswith("cluster_f")]
    assert texts == ["k0_mul_add_tanh · 1,024 elements"]


@needs_dot
def test_render_formats_by_suffix(tmp_path):
    g = tutorial()
    assert viz.render(g, tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")
    assert viz.render(g, tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "g.svg").exists() is False
    assert viz.render(g, tmp_path / "g.dot", part="gradient").read_text() == viz.to_dot(g, "gradient")
    with pytest.raises(ValueError, match="cannot tell the format"):
        viz.render(g, tmp_path / "g.jpeg")


@needs_dot
def test_jupyter_hooks_give_svg():
    g = tutorial()
    assert g._repr_svg_().lstrip().startswith("<?xml")
    plan = compile_graph(g)
    ET.fromstring(plan._repr_svg_().encode())


def test_missing_dot_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))                    # no `dot` on this PATH
    g = tutorial()
    with pytest.raises(viz.GraphvizNotFoundError, match="apt-get install graphviz"):
        viz.render(g, tmp_path / "g.svg")
    assert viz.to_dot(g).startswith("digraph graphc {")
    assert viz.render(g, tmp_path / "g.dot").exists()             # DOT text needs no binary
    assert g._repr_svg_() is None                                 # Jupyter falls back to the text form


# ---- the CLI ---------------------------------------------------------------------------------------------
@pytest.fixture
def plan_file(tmp_path):
    from graphc.autodiff import GradManager
    from graphc.jit import trace
    from graphc.optimizer import SGD
    w, b = graphc.Parameter(np.ones(4, F32)), graphc.Parameter(np.zeros(4, F32))
    gm, opt = GradManager().attach([w, b]), SGD([w, b], lr=0.1)

    @trace(symbolic=True)
    def step(x):
        with gm:
            loss = ((w * x + b) ** 2).mean()
            gm.backward(loss)
        opt.step()
        return loss

    step(graphc.Tensor(np.arange(4, dtype=F32)))
    path = tmp_path / "step.gcplan"
    step.dump(str(path), optimize_for_inference=False)   # keep the gradient and update parts
    return path


@needs_dot
def test_cli_render_writes_the_part_asked_for(plan_file, tmp_path, capsys):
    from graphc.cli import main
    out = tmp_path / "grad.svg"
    assert main(["render", str(plan_file), "-o", str(out), "--part", "gradient"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    root = ET.parse(out).getroot()
    fills = {p.get("fill") for g_ in svg_nodes(root, "node").values() for p in g_.iter(f"{SVG}path")}
    assert style.ROLE_FILL[GRADIENT] in fills and style.ROLE_FILL["forward"] not in fills
    assert main(["render", str(plan_file), "--optimized", "-o", str(tmp_path / "plan.dot")]) == 0
    assert (tmp_path / "plan.dot").read_text().startswith("digraph graphc {")
    assert main(["render", str(plan_file), "--optimized", "--expand-fused", "-o", str(tmp_path / "open.dot")]) == 0
    kernels = [c for k, c in parse_dot((tmp_path / "plan.dot").read_text())[2].items() if k.startswith("cluster_f")]
    opened = [c for k, c in parse_dot((tmp_path / "open.dot").read_text())[2].items() if k.startswith("cluster_f")]
    assert kernels and all(len(m) == 1 for _, m in kernels) and sum(len(m) for _, m in opened) > len(kernels)


def test_cli_render_errors(tmp_path, capsys):
    from graphc.cli import main
    assert main(["render", str(tmp_path / "missing.gcplan")]) == 1
    assert "no plan file at" in capsys.readouterr().err
    inference = Path(__file__).parents[1] / "runtime" / "planfile" / "golden" / "plan_v1_inference.gcplan"
    assert main(["render", str(inference), "--part", "update",
                 "-o", str(tmp_path / "u.svg")]) == 1
    assert "has no update part" in capsys.readouterr().err


def test_cli_has_the_plan_commands_too():
    from graphc.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"render", "run", "info"} <= set(sub.choices)
