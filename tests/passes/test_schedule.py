"""Passes around collectives: the communication schedule (start early, read late), memory planning that keeps a
collective's operand until its wait, and folding and CSE leaving collectives alone."""
from __future__ import annotations

import numpy as np

import graphc.distributed as dist
import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.ir import Graph, building, emit, verify
from graphc.jit import trace
from graphc.passes.cse import cse
from graphc.passes.fold import fold
from graphc.passes.memory import plan_memory
from graphc.passes.pipeline import optimize
from graphc.passes.schedule import schedule, wait_points
from graphc.runtime.compile import compile_graph

f32 = np.dtype(np.float32)


def test_collectives_start_as_their_operands_are_ready_and_readers_come_last():
    g = Graph()
    x = g.add_input((4,), f32, "x")
    with building(g):
        b = emit("sin", [x])
        f = emit("cos", [x])                      # needed by no collective: runs after the starts
        d = emit("mul", [b, b])
        a = emit("exp", [x])
        c1 = emit("all_reduce_sum", [a], size=1)
        c2 = emit("all_reduce_sum", [d], size=1)  # its operand is ready before c1's: it starts first
        e = emit("add", [c1, c2])
    g.outputs = [e, f]
    schedule(g)
    verify(g)
    assert [n.outputs[0] for n in g.nodes] == [b, d, c2, a, c1, f, e]
    assert wait_points(g) == {2: 6, 4: 6}


def test_a_collective_reading_another_starts_after_it():
    g = Graph()
    x = g.add_input((4,), f32, "x")
    with building(g):
        c1 = emit("all_reduce_sum", [emit("exp", [x])], size=1)
        c2 = emit("all_reduce_sum", [emit("sin", [c1])], size=1)
    g.outputs = [c2]
    schedule(g)
    verify(g)
    assert [n.op.name for n in g.nodes] == ["exp", "all_reduce_sum", "sin", "all_reduce_sum"]


def test_a_graph_without_collectives_keeps_its_order():
    g = Graph()
    x = g.add_input((4,), f32)
    with building(g):
        y = emit("exp", [emit("sin", [x])])
    g.outputs = [y]
    before = list(g.nodes)
    schedule(g)
    assert g.nodes == before


def _mlp_step(bucket_size: int):
    rng = np.random.default_rng(0)
    params = [Parameter(rng.normal(size=s).astype(np.float32)) for s in [(32, 16), (32,), (10, 32), (10,)]]
    gm = GradManager().attach(params, callbacks=[dist.make_allreduce_cb("mean", bucket_size=bucket_size)])
    opt = optim.SGD(params, lr=0.1)

    @trace
    def step(x, y):
        with gm:
            h = F.relu(F.linear(x, params[0], params[1]))
            loss = F.nn.cross_entropy(F.linear(h, params[2], params[3]), y)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    x = Tensor(rng.normal(size=(8, 16)).astype(np.float32))
    y = Tensor(rng.integers(0, 10, 8).astype(np.int32))
    return step, x, y, params


def test_a_traced_step_starts_the_last_layers_bucket_before_the_first_layers_gradients():
    step, x, y, _ = _mlp_step(bucket_size=1000)     # buckets: [w1], [b1, w2], [b2]
    step(x, y)
    nodes = step.plan.graph.nodes
    colls = [i for i, n in enumerate(nodes) if n.op.collective]
    assert len(colls) == 3
    # The first layer's weight gradient (a product with the input x) comes after the first start.
    x_in = step.plan.graph.inputs[0]
    dw1 = next(i for i, n in enumerate(nodes) if n.op.name == "matmul" and x_in in n.inputs and n.attrs["transpose_a"])
    assert colls[0] < dw1 < colls[1]
    # Whatever reads a collective's result runs after every start; the loss is computed while they run.
    readers = [i for i, n in enumerate(nodes) if any(v.producer is not None and v.producer.op.collective
                                                     for v in n.inputs)]
    assert min(readers) > colls[-1]
    loss = step.plan.graph.outputs[0].producer
    assert colls[-1] < nodes.index(loss) < min(readers)


def test_the_schedule_changes_no_result():
    step, x, y, params = _mlp_step(bucket_size=1000)
    step(x, y)
    base = compile_graph(step.graph, opt_level=0, signature=step.plan.signature)
    ins, states = [x.numpy(), y.numpy()], [p.numpy() for p in params] + [np.float32(0.1)]
    want = base.run([a.copy() for a in ins], [a.copy() for a in states])
    got = step.plan.run([a.copy() for a in ins], [a.copy() for a in states])
    for a, b in zip([*want.outputs, *want.states], [*got.outputs, *got.states]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_collectives_operand_keeps_its_buffer_until_the_wait():
    n = 1 << 15                                    # 128 KiB values: big enough for persistent slots
    g = Graph()
    x = g.add_input((n,), f32)
    s = g.add_input((n,), f32, "state")
    with building(g):
        y = emit("exp", [x])
        c = emit("all_reduce_sum", [y], size=1)
        z = emit("sin", [x])                       # could take y's slot if y died at the start
        s_new = emit("mul", [s, z])                # would overwrite the state the next collective reads
        c2 = emit("all_reduce_sum", [s], size=1)
        w = emit("add", [emit("add", [c, z]), c2])
    g.outputs = [w]
    g.updates = [(s, s_new)]
    mp = plan_memory(g)
    assert mp.slot_of[z] != mp.slot_of[y]
    assert s_new not in mp.inplace


def test_elementwise_work_fuses_on_both_sides_of_a_collective():
    g = Graph()
    x = g.add_input((64,), f32)
    with building(g):
        before = emit("mul", [emit("exp", [x]), emit("sin", [x])])
        y = emit("all_reduce_sum", [before], size=1)
        after = emit("add", [emit("tanh", [y]), emit("cos", [x])])
    g.outputs = [after]
    opt = g.copy()
    optimize(opt, 3)
    kinds = [n.op.name if n.op.family != "fused" else sorted(m.op.name for m in n.attrs["subgraph"].nodes)
             for n in opt.nodes]
    assert kinds == [["exp", "mul", "sin"], "all_reduce_sum", ["add", "cos", "tanh"]]
    xs = np.linspace(-1, 1, 64, dtype=np.float32)
    np.testing.assert_allclose(compile_graph(g)(xs)[0], np.tanh(np.exp(xs) * np.sin(xs)) + np.cos(xs), rtol=1e-6)


def test_fold_and_cse_leave_collectives_alone():
    g = Graph()
    with building(g):
        k = g.add_const(np.ones(3, np.float32))
        a = emit("all_reduce_sum", [k], size=1)
        b = emit("all_reduce_sum", [k], size=1)
        out = emit("add", [a, b])
    g.outputs = [out]
    fold(g)
    cse(g)
    assert [n.op.name for n in g.nodes] == ["all_reduce_sum", "all_reduce_sum", "add"]
