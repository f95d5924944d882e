"""Issue 15 item 13: every op with a C form, on large, tiny, negative-zero, infinite and NaN operands, gives on
every CPU backend what eager graphc gives: the generated C loop, the chunked NumPy loop and the inline ufunc
lines of a plan. (The CUDA forms: tests/runtime/gpu/test_cuda_semantics.py.)"""
from __future__ import annotations

import numpy as np
import pytest
from edge_values import case_id, cases, mismatches, node_for, operands, reference
from fused_builders import fused_node

import graphc.functional as F
import graphc.runtime.cpu.c_kernel as cpu_c
from graphc import Tensor
from graphc.config import config
from graphc.ir import Graph, emit
from graphc.runtime.cpu.chunked import FusedCPUKernel
from graphc.runtime.lower import lower


def _inline(node, arrays):
    """The node's results through a plan whose fused group runs as inline ufunc lines."""
    g = Graph()
    ins = [g.add_input(a.shape, a.dtype) for a in arrays]
    g.outputs = g.emit("fused", ins, dict(node.attrs))
    assert node.outputs[0].size <= config.inline_max
    return lower(g)(*arrays)[0]


BACKENDS = {"c": lambda node, arrays: cpu_c.CFusedKernel(node)(*arrays),
            "chunked": lambda node, arrays: FusedCPUKernel(node)(*arrays),
            "inline": _inline}


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("name, dtype, attrs", [pytest.param(*c, id=case_id(*c)) for c in cases()])
def test_edge_values_match_eager(backend, name, dtype, attrs):
    if backend == "c" and cpu_c.compiler() is None:
        pytest.skip("no C compiler")
    arrays = operands(name, dtype)
    node = node_for(name, arrays, attrs)
    want = reference(name, arrays, attrs)
    try:
        with np.errstate(all="ignore"):
            got = BACKENDS[backend](node, arrays)
    except cpu_c.Unsupported as e:          # e.g. bool-only groups: the C loop needs a float dtype
        pytest.skip(f"not a C loop: {e}")
    assert not mismatches(got, want, arrays, name)


@pytest.mark.skipif(cpu_c.compiler() is None, reason="no C compiler")
def test_log_of_sigmoid_far_below_zero():
    """The issue's example: log(sigmoid(-90)) is -90 eagerly; the C form 1/(1+exp(-x)) gave -inf."""
    for dt in (np.float32, np.float64):
        x = np.array([-90.0, -30.0, 0.0, 30.0], dt)
        node = fused_node(lambda v: emit("log", [emit("sigmoid", [v])]), [(x.shape, x.dtype)])
        want = F.log(F.sigmoid(Tensor(x))).numpy()
        assert want[0] == -90
        np.testing.assert_allclose(cpu_c.CFusedKernel(node)(x), want, rtol=1e-6, atol=1e-12)
