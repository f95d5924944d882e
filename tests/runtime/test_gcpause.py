"""The cycle collector is off while a function is traced and compiled, and on again afterwards (also after
an error, and left off when the user had turned it off)."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import graphc.functional as F
from graphc import Tensor
from graphc.jit import trace


def test_the_collector_is_paused_while_tracing_and_restored_after():
    seen = []

    @trace
    def f(x):
        seen.append(gc.isenabled())
        return F.exp(x)
    f(Tensor(np.ones(3, np.float32)))
    assert seen == [False] and gc.isenabled()

    @trace
    def bad(x):
        raise RuntimeError("in the user's function")
    with pytest.raises(RuntimeError):
        bad(Tensor(np.ones(3, np.float32)))
    assert gc.isenabled()
    gc.disable()
    try:
        trace(lambda x: x + 1.0)(Tensor(np.ones(3, np.float32)))
        assert not gc.isenabled()
    finally:
        gc.enable()
