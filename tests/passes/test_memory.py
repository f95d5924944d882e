"""Memory planning: slot reuse across disjoint lifetimes, in-place elementwise writes, releases, in-place
state updates, and numeric equality of plans using them with the reference semantics."""
from __future__ import annotations

import numpy as np
from graphs import feeds_for, make, reference

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.ir import Graph, building, emit
from graphc.ir.dtypes import float32
from graphc.jit import trace
from graphc.passes.memory import plan_memory
from graphc.runtime.lower import lower

BIG = (256, 256)   # 256 KiB of float32: above the planner's threshold


def chain_graph():
    def fn(x, w):
        a = emit("matmul", [x, w], transpose_a=False, transpose_b=False)   # slotted
        b = emit("tanh", [a])                                               # a dies here: in place
        c = emit("matmul", [b, w], transpose_a=False, transpose_b=False)    # b's slot is free again
        return emit("sum", [emit("exp", [c])], axis=(0, 1), keepdims=False)
    return make(fn, (BIG, float32), (BIG, float32))


def test_slots_are_reused_and_elementwise_writes_in_place():
    g = chain_graph()
    mp = plan_memory(g)
    a, b, c, e = (n.outputs[0] for n in g.nodes[:4])
    assert mp.slot_of[a] == mp.slot_of[b]            # tanh wrote into its dying operand
    assert mp.slot_of[c] != mp.slot_of[b]            # matmul may not alias its operand
    assert len(mp.slots) == 2 and mp.bytes == 2 * 256 * 256 * 4


def test_outputs_and_views_of_outputs_never_get_slots():
    def fn(x):
        t = emit("exp", [x])
        return [emit("reshape", [t], shape=(65536,)), emit("sin", [x])]
    g = make(fn, (BIG, float32))
    mp = plan_memory(g)
    assert not mp.slot_of


def test_dead_values_are_released():
    def fn(x):
        a = emit("sigmoid", [x])          # no ufunc: not written into a slot, so released instead
        b = emit("reshape", [a], shape=(65536,))
        return emit("sum", [b], axis=(0,), keepdims=False)
    g = make(fn, (BIG, float32))
    mp = plan_memory(g)
    released = [v for vs in mp.release_after.values() for v in vs]
    assert g.nodes[0].outputs[0] in released        # the view died at the sum, taking its storage along


def test_plans_with_memory_planning_match_reference_over_calls():
    g = chain_graph()
    arrays = [a * 0.05 for a in feeds_for(g)]
    want = reference(g, arrays)
    plan = lower(g.copy())
    assert plan.stats["buffers"] == 2
    for _ in range(3):                                # buffers persist between calls
        np.testing.assert_allclose(np.asarray(plan(*arrays)[0]), want[0], rtol=1e-5)


def test_state_updates_are_written_in_place_when_safe():
    g = Graph()
    w = g.add_input(BIG, float32)
    x = g.add_input(BIG, float32)
    with building(g):
        y = emit("sum", [emit("mul", [w, x])], axis=(0, 1), keepdims=False)
        new_w = emit("sub", [w, x * 0.5])
    g.outputs, g.updates = [y], [(w, new_w)]
    assert plan_memory(g).inplace == {new_w: w}
    # A later reader of the old value forbids it.
    with building(g):
        late = emit("sum", [w], axis=(0, 1), keepdims=False)
    g.outputs.append(late)
    g2 = Graph()
    g2.inputs, g2.nodes, g2.outputs, g2.updates = g.inputs, g.nodes, g.outputs, g.updates
    assert plan_memory(g2).inplace == {}


def test_traced_training_updates_parameters_in_place():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(BIG).astype(np.float32)
    x = Tensor(rng.standard_normal(BIG).astype(np.float32))
    results = []
    for traced in (False, True):
        w = Parameter(w0)
        step = _sgd_step(w)
        fn = trace(step) if traced else step
        buffer = None
        for _ in range(3):
            fn(x)
            buffer = buffer if buffer is not None else w._data
        if traced and w.device.kind == "cpu":           # the CPU plan's memory planning
            assert w._data is buffer                     # the same array, updated in place
        results.append(w.numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-7)


def _sgd_step(w: Parameter):
    gm = GradManager().attach([w])
    opt = optim.SGD([w], lr=0.1, momentum=0.9)

    def step(x):
        with gm:
            loss = F.mean(F.tanh(w * x))
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    return step


def test_read_only_state_is_not_written():
    w = Parameter(np.ones(BIG, np.float32))
    w._data.flags.writeable = False
    frozen = w._data
    gm = GradManager().attach([w])
    opt = optim.SGD([w], lr=1.0)

    @trace
    def step():
        with gm:
            gm.backward(F.sum(w * 2.0))
            opt.step().clear_grad()
    step()
    assert (frozen == 1).all() and (w.numpy() == -1).all()
