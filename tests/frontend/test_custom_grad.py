"""autodiff.Function, MegEngine's custom gradients: forward is not recorded, backward is the user's Python,
run where its node is in the reverse pass (other nodes by their ops' vjps), and recorded by the managers
recording since before (second order through a custom gradient)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import Parameter, Tensor
from graphc.autodiff import Function, GradManager
from graphc.jit import trace

XS = np.array([0.2, -0.9, 1.4, 2.5], np.float32)


class RoundSTE(Function):
    """Round forward; pass the gradient straight through."""

    def forward(self, x):
        return F.round(x)

    def backward(self, dy):
        return dy


class Square(Function):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, dy):
        return self.x * 2 * dy


def test_a_custom_gradient_replaces_the_ops_one():
    x = Parameter(XS)
    gm = GradManager().attach([x])
    with gm:
        y = RoundSTE()(x * 3)
        gm.backward(F.sum(y * Tensor([1.0, 2.0, 3.0, 4.0])))
    assert y.tolist() == np.round(XS * 3).tolist()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 6.0, 9.0, 12.0], rtol=1e-6)


def test_the_nodes_around_a_custom_one_get_their_ops_gradients():
    def run(custom: bool) -> np.ndarray:
        x = Parameter(XS)
        gm = GradManager().attach([x])
        with gm:
            h = F.exp(x) * 0.5
            s = Square()(h) if custom else h * h
            gm.backward(F.sum(F.sin(s) + s))
        return x.grad.numpy()
    np.testing.assert_allclose(run(True), run(False), rtol=1e-6)


def test_second_order_through_a_custom_gradient():
    class Sin(Function):
        def forward(self, x):
            self.x = x
            return F.sin(Tensor(x.numpy()))

        def backward(self, dy):
            return F.cos(self.x) * dy

    class Cos(Function):
        def forward(self, x):
            self.x = x
            return F.cos(Tensor(x.numpy()))

        def backward(self, dy):
            return -Sin()(self.x) * dy
    x = Tensor(XS)
    outer, inner = GradManager().attach([x]), GradManager().attach([x])
    with outer:
        with inner:
            inner.backward(Cos()(x))
        np.testing.assert_allclose(x.grad.numpy(), -np.sin(XS), rtol=1e-6)
        outer.backward(x.grad)
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(XS) - np.cos(XS), rtol=1e-5)


def test_misuse_is_reported():
    class Wrong(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, dy):
            return dy
    a, b = Parameter([1.0]), Parameter([2.0])
    gm = GradManager().attach([a, b])
    with gm:
        with pytest.raises(graphc.GradError, match="1 gradients for 2 inputs"):
            gm.backward(Wrong()(a, b))
    with pytest.raises(graphc.TraceError, match="cannot be traced"):
        trace(lambda x: Square()(x))(Tensor([1.0]))
