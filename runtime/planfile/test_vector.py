"""Test vectors: inputs saved with a plan and the results it gave, run again to check a loaded plan."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.ir import REGISTRY, Graph

from ..arrays import array_module, to_host
from ..compile import compile_graph
from ..plan import Plan, Signature
from .checks import refuse
from .graph_codec import ops_used
from .spec import PlanFile, TestVector, one_line


def has_random_ops(g: Graph) -> bool:
    """True when the graph draws random numbers (its results cannot be checked against a test vector)."""
    return any(REGISTRY[n].random for n in ops_used(g))


def has_collectives(g: Graph) -> bool:
    """True when the graph exchanges data with other processes (its results depend on theirs, and running it
    alone, as a test vector would, waits for processes that are not there)."""
    return any(REGISTRY[n].collective is not None for n in ops_used(g))


def run_plan(plan: Plan, inputs: Sequence, states: Sequence) -> list[np.ndarray]:
    """Run a plan on host arrays (moved to its device) and return host arrays; the arrays are not changed.

    A training plan may update a state's buffer in place (when it may write into it): the states go in as
    read-only views, so a test run never trains the live model, the loaded state or the file's arrays.
    """
    xp = array_module(plan.device)
    r = plan.run([_readonly(xp.asarray(a)) for a in inputs], [_readonly(xp.asarray(a)) for a in states])
    updated = [r.states[k] for k in plan.signature.updates]
    return [np.array(to_host(a)) for a in (*r.outputs, *r.grads, *updated)]


def _readonly(a):
    if isinstance(a, np.ndarray):
        a = a.view()
        a.flags.writeable = False
    return a


def make_test_vector(graph: Graph, inputs: Sequence[np.ndarray], state_arrays: Sequence[np.ndarray],
                     opt_level: int = 3, plan: Plan | None = None) -> TestVector:
    """Inputs and the results a plan of `graph` gives for them (on the CPU unless `plan` is given)."""
    plan = plan or compile_graph(graph, opt_level, "cpu", Signature.of(graph, len(inputs)))
    ins = [np.ascontiguousarray(a).reshape(np.shape(a)) for a in inputs]   # ascontiguousarray makes 0-d 1-d
    return ins, run_plan(plan, ins, state_arrays)


def check_test_vector(pf: PlanFile) -> None:
    """Run the plan on its embedded test vector; refuse it unless the results match."""
    if pf.test_vector is None:
        why = " (its results depend on the other processes of its group)" if has_collectives(pf.graph) else ""
        refuse(f"the plan carries no test vector to verify{why}")
    ins, want = pf.test_vector
    try:
        got = run_plan(pf.plan, ins, pf.state_arrays)
    except Exception as e:
        refuse(f"the plan fails on its own test vector ({type(e).__name__}: {one_line(e)})")
    names = [o.name for o in pf.outputs] + [f"new {pf.states[_state_index(pf, s)].name}"
                                            for s, _ in pf.graph.updates]
    for name, w, g in zip(names, want, got, strict=True):
        if not _close(w, g):
            refuse(f"the plan's result {name!r} differs from its test vector")


def _state_index(pf: PlanFile, s) -> int:
    return pf.graph.inputs.index(s) - len(pf.inputs)


def _close(want: np.ndarray, got: np.ndarray) -> bool:
    """Equal for integers and bools; for floats within a tolerance that allows another device's rounding."""
    if want.shape != got.shape or want.dtype != got.dtype:
        return False
    if want.dtype.kind != "f":
        return bool(np.array_equal(want, got))
    rtol, atol = (1e-2, 1e-3) if want.dtype.itemsize < 4 else (1e-4, 1e-5)
    return bool(np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))
