"""Collectives in compiled plans: started where the schedule puts them and waited for before the first reader,
the ranks' agreement at the first collective (once per group, on the collectives alone), and GPU plans that
replay without a CUDA graph when their collectives go through host buffers."""
from __future__ import annotations

import re

import numpy as np
import pytest

from graphc.ir import Graph, building, emit
from graphc.ir.ops.collective import Done, set_world
from graphc.runtime.compile import compile_graph
from graphc.runtime.plan import Plan, Signature

f32 = np.dtype(np.float32)


class Recorder:
    """A group of one that records what the plan asks of it."""

    rank, size, capturable = 0, 1, True

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.keys: list[str] = []

    def allreduce(self, x, op, out=None):
        self.calls.append(f"allreduce {op} {x.shape}{' into a buffer' if out is not None else ''}")
        if out is None:
            return Done(x.copy())
        out[...] = x
        return Done(out)

    def agree(self, key, describe, what):
        self.keys.append(key)
        self.described = describe()


@pytest.fixture
def recorder():
    r = Recorder()
    set_world(r)
    yield r
    set_world(None)


def _graph(batch: int = 4) -> Graph:
    g = Graph()
    x = g.add_input((batch, 3), f32, "x")
    w = g.add_input((3, 2), f32, "w")
    with building(g, loc="step.py:3"):
        h = emit("matmul", [x, w], transpose_a=False, transpose_b=False)
        grad = emit("sum", [h], axis=(0,), keepdims=False)
        red = emit("all_reduce_sum", [grad], size=1)
        other = emit("exp", [h])                  # independent of the collective: runs while it is in flight
        out = emit("add", [emit("sum", [other], axis=(0,), keepdims=False), red])
    g.outputs = [out]
    return g


def test_the_plan_starts_the_collective_and_waits_before_its_first_reader(recorder):
    plan = compile_graph(_graph(), opt_level=2)
    lines = [ln.strip() for ln in plan.source.splitlines()]
    start = next(i for i, ln in enumerate(lines) if "_cs.start(0," in ln)
    wait = next(i for i, ln in enumerate(lines) if ln.endswith(".wait()"))
    exp = next(i for i, ln in enumerate(lines) if "exp" in ln)
    assert start < exp < wait
    assert lines[wait + 1].startswith("del h")
    assert plan.stats["collectives"] == 1
    x, w = np.ones((4, 3), np.float32), np.full((3, 2), 0.5, np.float32)
    out, = plan(x, w)
    np.testing.assert_allclose(out, 4 * np.exp(1.5) + 6.0, rtol=1e-6)
    assert recorder.calls == ["allreduce sum (2,)"]


def test_the_ranks_agree_once_per_group_on_the_collectives_alone(recorder):
    plan = compile_graph(_graph(batch=4), opt_level=2)
    x, w = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32)
    plan(x, w)
    plan(x, w)
    assert len(recorder.keys) == 1
    assert recorder.described == ["all_reduce_sum(float32[2]; size=1)  @ step.py:3"]
    # Another batch size changes the graph but not what the ranks exchange: the same key.
    compile_graph(_graph(batch=7), opt_level=2)(np.ones((7, 3), np.float32), w)
    assert recorder.keys[1] == recorder.keys[0]
    # A new group agrees again.
    other = Recorder()
    set_world(other)
    plan(x, w)
    assert len(other.keys) == 1


def test_a_big_result_is_received_into_a_buffer_kept_from_call_to_call(recorder):
    n = 1 << 15                                       # 128 KiB: big enough for a persistent buffer
    g = Graph()
    x = g.add_input((n,), f32, "x")
    with building(g):
        bucket = emit("all_reduce_sum", [emit("concat", [emit("exp", [x]), emit("sin", [x])], axis=0)], size=1)
        out = emit("sum", [emit("mul", [bucket, bucket])], axis=(0,), keepdims=False)
    g.outputs = [out]
    plan = compile_graph(g, opt_level=2)
    start = next(ln.strip() for ln in plan.source.splitlines() if "_cs.start" in ln)
    concat = next(ln.strip() for ln in plan.source.splitlines() if "np_concatenate" in ln)
    assert re.search(r"_cs.start\(0, v\d+_0, m\d+\)$", start) and re.search(r"out=m\d+\)$", concat), plan.source
    xs = np.linspace(-1, 1, n, dtype=np.float32)
    want = np.sum(np.exp(xs) ** 2) + np.sum(np.sin(xs) ** 2)
    for _ in range(2):
        np.testing.assert_allclose(plan(xs)[0], want, rtol=1e-4)
    assert recorder.calls == [f"allreduce sum ({2 * n},) into a buffer"] * 2


def test_a_gpu_plan_with_host_collectives_replays_without_a_cuda_graph(recorder):
    class HostOnly:
        def capturable(self):
            return False

    def runner(args, states):
        return "ran without a CUDA graph"
    g = _graph()
    plan = Plan(g, "", {"plan": None, "run": runner}, "gpu", {}, Signature.of(g), True, HostOnly())
    assert plan.run([np.ones((4, 3)), np.ones((3, 2))]) == "ran without a CUDA graph"
    assert "MPI on host buffers" in plan.replay_refused
