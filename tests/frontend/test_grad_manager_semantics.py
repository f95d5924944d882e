"""GradManager as MegEngine 1.13 behaves: backward returns nothing, managers group with |, an outer manager
records an inner one's backward (not the reverse, nor a group member another's), attach refuses integer
tensors, an intermediate attached while recording gets its gradient, and attached temporaries are freed.

Expected gradients are the analytic derivatives (d cos = -sin, ...), as MegEngine's own tests state them."""
from __future__ import annotations

import weakref

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager

XS = np.array([0.1, 0.7, 1.3, 2.0], np.float32)


def test_backward_returns_nothing_and_without_y_only_stops_recording():
    w = Parameter([1.0])
    gm = GradManager().attach([w])
    with gm:
        assert gm.backward(w * 2) is None
    assert w.grad.tolist() == [2.0]
    gm.record()
    gm.backward()
    assert w.grad.tolist() == [2.0] and not gm._recording


@pytest.mark.filterwarnings("ignore:.*the loss depends on none")   # gm's second backward
def test_group_members_each_differentiate_and_do_not_see_each_other():
    x = Tensor(XS)
    gm, gm2 = GradManager().attach([x]), GradManager().attach([x])
    with gm | gm2:
        y = F.cos(x)
        gm.backward(y)
        gm2.backward(y)
    np.testing.assert_allclose(x.grad.numpy(), -2 * np.sin(XS), rtol=1e-6)
    x.grad = None
    with gm | gm2:
        y = F.cos(x)
        gm2.backward(y)
        gm.backward(x.grad)          # x.grad was computed by gm2, which gm does not record
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(XS), rtol=1e-6)


def test_an_inner_manager_does_not_record_the_outer_ones_backward():
    x = Tensor(XS)
    gm, gm2 = GradManager().attach([x]), GradManager().attach([x])
    with gm2:
        with gm:
            gm2.backward(F.cos(x))
            np.testing.assert_allclose(x.grad.numpy(), -np.sin(XS), rtol=1e-6)
            gm.backward(x.grad)
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(XS), rtol=1e-6)


def test_an_outer_manager_records_the_inner_ones_backward():
    x = Tensor(XS)
    gm, gm2 = GradManager().attach([x]), GradManager().attach([x])
    with gm:
        with gm2:
            gm2.backward(F.cos(x))
        gm.backward(x.grad)
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(XS) - np.cos(XS), rtol=1e-5)


@pytest.mark.parametrize("fn, derivative", [(F.sin, np.cos), (lambda x: x * 2 + 1, lambda x: np.full_like(x, 2))])
def test_forward_mode_through_two_reverse_passes(fn, derivative):
    # The vector-Jacobian product's derivative with respect to its vector is the Jacobian-vector product.
    x = Tensor(XS)
    with GradManager() as gm:
        with GradManager().attach([x]) as gm2:
            y = fn(x)
            dy = F.zeros_like(y)
            gm.attach(dy)
            gm2.backward(y, dy)
        gm.backward(x.grad)
    np.testing.assert_allclose(dy.grad.numpy(), derivative(XS), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "bool"])
def test_attach_refuses_tensors_that_have_no_gradient(dtype):
    with pytest.raises(AssertionError, match="floating-point") as info:
        GradManager().attach([Tensor([1], dtype=dtype)])
    assert isinstance(info.value, graphc.GraphcError)
    GradManager().attach([Tensor([1], dtype="float16")])


def test_an_intermediate_attached_while_recording_gets_its_gradient():
    a = Parameter([1.0])
    gm = GradManager()
    with gm:
        b = a * 3
        gm.attach(b)
        gm.backward(b * 5 + 1)
    assert b.grad.tolist() == [5.0] and a.grad is None


def test_attached_temporaries_are_freed_after_the_block():
    w = Parameter(2.0)
    gm = GradManager().attach(w)
    seen = []
    for i in range(3):
        with gm:
            x = Tensor(float(i))
            ref = weakref.ref(x)
            gm.attach(x, callbacks=lambda t, g, ref=ref: seen.append(t is ref()) or g)
            gm.backward(x * w)
        assert x.grad.item() == 2.0
        del x
        assert ref() is None          # no reference left, not even a cycle to collect
    assert seen == [True, True, True]
    assert gm.attached_tensors() == [w]
