"""Run under mpiexec: every collective of graphc.distributed.functional, eager and traced, against NumPy on
all the ranks' operands (each rank can make every rank's operand from its seed), each gradient against
central differences of the loss summed over the ranks, and a saved plan with collectives run on every rank.
Prints "ok <check>" lines; any failure raises (and the other ranks stop with a RemoteRankError).

    mpiexec -n 3 python collectives.py PLAN_PATH
"""
from __future__ import annotations

import sys

import numpy as np
from steps import averaged_step

import graphc
import graphc.distributed as dist
import graphc.distributed.functional as DF
import graphc.functional as F
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.ir.errors import PlanFormatError
from graphc.jit import trace

dist.init_process_group(timeout=20)
RANK, N = dist.get_rank(), dist.get_world_size()
SHAPE = (2 * N, 3)


def operand(r: int, dtype=np.float64) -> np.ndarray:
    """Rank r's operand: distinct values (no ties for max and min)."""
    rng = np.random.default_rng(100 + r)
    return (rng.permutation(SHAPE[0] * SHAPE[1]).reshape(SHAPE) + rng.uniform(0, 0.5, SHAPE) + 10 * r).astype(dtype)


def f64(a: np.ndarray) -> Tensor:
    return Tensor(a, dtype=np.float64)


XS = [operand(r) for r in range(N)]
CASES = {
    "all_reduce_sum": (lambda x: DF.all_reduce_sum(x), lambda r: sum(XS)),
    "all_reduce_max": (lambda x: DF.all_reduce_max(x), lambda r: np.maximum.reduce(XS)),
    "all_reduce_min": (lambda x: DF.all_reduce_min(x), lambda r: np.minimum.reduce(XS)),
    "broadcast": (lambda x: DF.broadcast(x), lambda r: XS[0]),
    "all_gather": (lambda x: DF.all_gather(x, axis=1), lambda r: np.concatenate(XS, 1)),
    "reduce_scatter_sum": (lambda x: DF.reduce_scatter_sum(x, axis=0), lambda r: np.split(sum(XS), N, 0)[r]),
}


def weight(name: str) -> np.ndarray:
    """This rank's weighting of the op's result in the loss."""
    return np.random.default_rng(200 + RANK).uniform(0.5, 1.5, CASES[name][1](RANK).shape)


def check_values() -> None:
    traced = {name: trace(fn) for name, (fn, _) in CASES.items()}
    for name, (fn, want) in CASES.items():
        for mode, f in (("eager", fn), ("traced", traced[name])):
            for _ in range(2):                         # a traced function's second call replays its plan
                got = f(f64(XS[RANK])).numpy()
                np.testing.assert_allclose(got, want(RANK), rtol=1e-12, err_msg=f"{name} {mode}")
        print(f"ok {name} values", flush=True)
    red = DF.reduce_sum(f64(XS[RANK]))
    assert (red is None) == (RANK != 0)
    if red is not None:
        np.testing.assert_allclose(red.numpy(), sum(XS), rtol=1e-12)
    ints = DF.all_reduce_sum(Tensor(np.arange(4, dtype=np.int32) * (RANK + 1))).numpy()
    assert ints.dtype == np.int32 and ints.tolist() == [i * N * (N + 1) // 2 for i in range(4)]
    print("ok reduce_sum and integers", flush=True)


def global_loss(name: str, x: np.ndarray) -> float:
    """Sum over the ranks of <w_r, op(x)_r>, every rank passing its own x."""
    fn, _ = CASES[name]
    local = float(np.sum(fn(f64(x)).numpy() * weight(name)))
    return float(DF.all_reduce_sum(f64(np.array(local))).numpy())


def check_gradients(h: float = 1e-6) -> None:
    for name, (fn, _) in CASES.items():
        w = f64(weight(name))
        x = Parameter(XS[RANK], dtype=np.float64)
        gm = GradManager().attach([x])
        with gm:
            gm.backward(F.sum(fn(x) * w))
        analytic = x.grad.numpy()
        x.grad = None

        @trace
        def traced_grad(fn=fn, x=x, gm=gm, w=w):
            with gm:
                gm.backward(F.sum(fn(x) * w))
            return x.grad
        np.testing.assert_allclose(traced_grad().numpy(), analytic, rtol=1e-12, err_msg=name)
        # Directional central differences: rank q's operand moves along a random direction, every rank evaluates.
        for q in range(N):
            for k in range(2):
                d = np.random.default_rng(300 + 10 * q + k).standard_normal(SHAPE) * (RANK == q)
                numeric = (global_loss(name, XS[RANK] + h * d) - global_loss(name, XS[RANK] - h * d)) / (2 * h)
                along = float(DF.all_reduce_sum(f64(np.array(np.sum(analytic * d)))).numpy())
                assert abs(along - numeric) <= 1e-6 * max(1.0, abs(numeric)), (name, q, along, numeric)
        print(f"ok {name} gradient", flush=True)


def check_plan_file(path: str) -> None:
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 2)).astype(np.float32)
    step, w = averaged_step(w0, 0.1)
    x = Tensor(XS[RANK][:4].astype(np.float32))
    step(x)
    if RANK == 0:
        step.dump(path, arg_names=["x"], optimize_for_inference=False)
    dist.group_barrier()
    plan = graphc.load(path)
    assert plan.metadata and plan._pf.test_vector is None
    plan.load_state_dict({plan.state_specs[0].name: w0})
    live = Parameter(w0)
    w._assign(live)
    want = step(x).numpy()
    got = plan(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(plan.state_dict()[plan.state_specs[0].name].numpy(), w.numpy(), rtol=1e-6)
    try:
        graphc.load(path, verify=True)
    except PlanFormatError as e:
        assert "depend on the other processes" in str(e), e
    else:
        raise AssertionError("verify=True accepted a plan without a test vector")
    print("ok plan file", flush=True)


check_values()
check_gradients()
check_plan_file(sys.argv[1])
dist.group_barrier()
