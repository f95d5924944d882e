"""The collective ops: schema, shapes and errors, the group-of-one semantics, and each op's result across
three ranks (threads of a LocalGroup) against NumPy on all the ranks' operands."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
from local_group import LocalGroup

from graphc.ir import REGISTRY, Graph, building
from graphc.ir.errors import AxisError, CollectiveError, DTypeError, ShapeError
from graphc.ir.ops.collective import SOLO, get_world, set_world

COLLECTIVES = sorted(n for n, op in REGISTRY.items() if op.collective is not None)
rng = np.random.default_rng(7)


def test_the_collectives_are_registered_as_barriers_with_gradients():
    assert COLLECTIVES == ["all_gather", "all_reduce_max", "all_reduce_min", "all_reduce_sum", "broadcast",
                           "reduce_scatter_sum", "reduce_sum"]
    for name in COLLECTIVES:
        op = REGISTRY[name]
        assert op.family == "collective" and not op.fusable and not op.random and op.vjp is not None
        assert "size" in op.attrs


@pytest.mark.parametrize("n", [2, 3], ids=["2-ranks", "3-ranks"])
@pytest.mark.parametrize("case", [
    ("all_reduce_sum", {}, lambda xs, r: sum(xs)),
    ("all_reduce_max", {}, lambda xs, r: np.maximum.reduce(xs)),
    ("all_reduce_min", {}, lambda xs, r: np.minimum.reduce(xs)),
    ("broadcast", {"root": 1}, lambda xs, r: xs[1]),
    ("reduce_sum", {"root": 1}, lambda xs, r: sum(xs) if r == 1 else np.zeros_like(xs[0])),
    ("all_gather", {"axis": 0}, lambda xs, r: np.concatenate(xs, 0)),
    ("all_gather", {"axis": 1}, lambda xs, r: np.concatenate(xs, 1)),
    ("all_gather", {"axis": 2}, lambda xs, r: np.concatenate(xs, 2)),
    ("reduce_scatter_sum", {"axis": 0}, lambda xs, r: np.split(sum(xs), len(xs), 0)[r]),
    ("reduce_scatter_sum", {"axis": 1}, lambda xs, r: np.split(sum(xs), len(xs), 1)[r]),
    ("reduce_scatter_sum", {"axis": 2}, lambda xs, r: np.split(sum(xs), len(xs), 2)[r]),
], ids=lambda c: c[0] + "".join(f"-{k}{v}" for k, v in c[1].items()))
def test_each_collective_across_ranks_matches_numpy(case, n):
    name, attrs, want = case
    shape = (n * 2, n, n * 3) if name == "reduce_scatter_sum" else (2, 3, 4)
    xs = [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]
    start = REGISTRY[name].collective
    # A transposed operand: the start makes its own contiguous copy.
    outs = LocalGroup(n).run(lambda comm: start(comm, xs[comm.rank].T.copy().T, **attrs, size=n).wait())
    if "out" in inspect.signature(start).parameters:     # same-type results may go into a kept buffer
        bufs = [np.empty(shape, np.float32) for _ in range(n)]
        into = LocalGroup(n).run(lambda comm: start(comm, xs[comm.rank], **attrs, size=n, out=bufs[comm.rank]).wait())
        for r in range(n):
            assert into[r] is bufs[r]
            np.testing.assert_array_equal(into[r], outs[r])
    for r, out in enumerate(outs):
        want_r = want(xs, r)
        types = REGISTRY[name].infer([(shape, np.dtype(np.float32))], {**attrs, "size": n})
        assert out.shape == want_r.shape == types[0][0]
        np.testing.assert_allclose(out, want_r, rtol=1e-6, atol=1e-6)


def test_a_group_of_one_copies():
    x = np.arange(6.0).reshape(2, 3)
    for name in COLLECTIVES:
        attrs = {"root": 0} if "root" in REGISTRY[name].attrs else {"axis": 1} if "axis" in REGISTRY[name].attrs else {}
        out = REGISTRY[name].kernel(np, x, **attrs, size=1)
        np.testing.assert_array_equal(out, x)
        assert out is not x and not np.shares_memory(out, x)


def test_a_collective_traced_for_more_processes_says_how_to_start_them():
    assert get_world() is SOLO
    with pytest.raises(CollectiveError, match=r"^all_reduce_sum: traced for a group of 2 processes, it runs in a "
                                              r"group of 1: start 2 processes \(mpiexec -n 2 .* \(at .*test_coll"):
        REGISTRY["all_reduce_sum"].kernel(np, np.ones(3), size=2)


def test_set_world_installs_and_removes_a_group():
    class Two:
        size, rank, capturable = 2, 0, False
    try:
        set_world(Two())
        assert get_world().size == 2
    finally:
        set_world(None)
    assert get_world() is SOLO


def _emit(name, shape, dtype, **attrs):
    g = Graph()
    x = g.add_input(shape, dtype)
    with building(g, loc="train.py:7"):
        return g.emit(name, [x], attrs, loc="train.py:7")


@pytest.mark.parametrize("name, shape, dtype, attrs, error, match", [
    ("all_reduce_sum", (3,), np.bool_, {"size": 2}, DTypeError, "cannot reduce booleans"),
    ("reduce_scatter_sum", (5, 2), np.float32, {"axis": 0, "size": 2}, ShapeError,
     r"5 is not divisible by 2 \(axis 0 of shape \(5, 2\) split into 2 equal parts\)"),
    ("all_gather", (), np.float32, {"axis": 0, "size": 2}, AxisError, "axis 0 is out of range for a tensor of rank 0"),
    ("broadcast", (3,), np.float32, {"root": 2, "size": 2}, CollectiveError, "root rank 2 is not in a group of 2"),
], ids=["summed-booleans", "uneven-scatter", "gathered-scalar", "root-outside"])
def test_bad_operands_name_the_op_and_the_line(name, shape, dtype, attrs, error, match):
    with pytest.raises(error, match=match) as e:
        _emit(name, shape, dtype, **attrs)
    assert str(e.value).startswith(f"{name}:") and "train.py:7" in str(e.value)


def test_booleans_travel_where_nothing_is_reduced():
    types = REGISTRY["all_gather"].infer([((3,), np.dtype(np.bool_))], {"axis": 0, "size": 2})
    assert types == [((6,), np.dtype(np.bool_))]


def test_vjps_are_the_matching_collectives():
    pairs = {"all_reduce_sum": "all_reduce_sum", "all_reduce_max": "all_reduce_sum", "broadcast": "reduce_sum",
             "reduce_sum": "broadcast", "all_gather": "reduce_scatter_sum", "reduce_scatter_sum": "all_gather"}
    for name, grad_op in pairs.items():
        op = REGISTRY[name]
        attrs = {k: 0 for k in op.attrs if k != "size"} | {"size": 2}
        g = Graph()
        x = g.add_input((4, 2), np.float32)
        with building(g):
            y = g.emit(name, [x], attrs)[0]
            dy = g.add_input(y.shape, y.dtype)
            op.vjp([x], [y], [dy], attrs)
        emitted = [n.op.name for n in g.nodes[1:]]
        assert grad_op in emitted, (name, emitted)
        assert all(n.attrs["size"] == 2 for n in g.nodes if n.op.collective)
