"""graphc.optimizer against MegEngine 1.13's recorded trajectories and semantics."""
import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager

D = "device=xpux:0"


def run_opt(make, steps=3, w0=1.0):
    """The script run with MegEngine 1.13: minimise sum(w*w/2 + w) from [w0, -2] and record w after each step."""
    w = Parameter([w0, -2.0])
    opt = make([w])
    gm = GradManager().attach([w])
    out = []
    for _ in range(steps):
        with gm:
            loss = F.sum(w * w * 0.5 + w)
            gm.backward(loss)
        opt.step().clear_grad()
        out.append(w.numpy().tolist())
    return out


# MegEngine's printed trajectories (recorded from MegEngine 1.13).
TRAJECTORIES = [
    (lambda p: optim.SGD(p, lr=0.1),
     [[0.800000011920929, -1.899999976158142], [0.6200000047683716, -1.809999942779541],
      [0.4580000042915344, -1.7289999723434448]]),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
     [[0.800000011920929, -1.899999976158142], [0.4400000274181366, -1.7200000286102295],
      [-0.027999967336654663, -1.4860000610351562]]),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
     [[0.6200000047683716, -1.809999942779541], [0.1502000093460083, -1.5750999450683594],
      [-0.3453579843044281, -1.32732093334198]]),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=0.1),
     [[0.7900000214576721, -1.8799999952316284], [0.6031000018119812, -1.7732000350952148],
      [0.43675899505615234, -1.6781480312347412]]),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
     [[0.7900000214576721, -1.8799999952316284], [0.4141000211238861, -1.6651999950408936],
      [-0.06976094841957092, -1.3887079954147339]]),
    (lambda p: optim.Adam(p, lr=0.1),
     [[0.8999999761581421, -1.899999976158142], [0.8001667857170105, -1.8004125356674194],
      [0.7006233930587769, -1.7015862464904785]]),
    (lambda p: optim.Adam(p, lr=0.1, weight_decay=0.1),
     [[0.8999999761581421, -1.899999976158142], [0.8001766204833984, -1.800365686416626],
      [0.7006610035896301, -1.7013989686965942]]),
    (lambda p: optim.AdamW(p, lr=0.1),
     [[0.8989999890327454, -1.8980000019073486], [0.7982698678970337, -1.7965261936187744],
      [0.6979336738586426, -1.6959376335144043]]),
    (lambda p: optim.AdamW(p, lr=0.1, weight_decay=0.1),
     [[0.8899999856948853, -1.8799999952316284], [0.7812876105308533, -1.7617355585098267],
      [0.6739870309829712, -1.6456563472747803]]),
    (lambda p: optim.Adam(p, lr=0.1, betas=(0.5, 0.6), eps=1e-3),
     [[0.9000499844551086, -1.9000998735427856], [0.8003474473953247, -1.8007818460464478],
      [0.7010291814804077, -1.702445149421692]]),
]


@pytest.mark.parametrize("make, expected", TRAJECTORIES,
                         ids=["sgd", "momentum", "nesterov", "sgd-wd", "momentum-wd", "adam", "adam-wd",
                              "adamw", "adamw-wd", "adam-betas-eps"])
def test_trajectories_vs_megengine(make, expected):
    np.testing.assert_allclose(run_opt(make), expected, rtol=2e-7, atol=1e-7)


def _adam_reference(grads_seq, w0, lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    """NumPy float64 Adam/AdamW with MegEngine 1.13's formulas; a None gradient skips the step."""
    w = np.array(w0, np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    t = 0
    for g in grads_seq:
        if g is None:
            continue
        g = np.array(g, np.float64)
        if wd and not decoupled:
            g = g + wd * w
        t += 1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        delta = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        if wd and decoupled:
            delta = delta + wd * w
        w = w - lr * delta
    return w


def test_adam_step_count_is_per_parameter():
    w, v = Parameter([1.0, -1.0]), Parameter([2.0])
    opt = optim.Adam([w, v], lr=0.05)
    gw = [[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]]
    gv = [[1.0], None, [0.25]]          # v has no gradient at the second step
    for a, b in zip(gw, gv, strict=True):
        w.grad = Tensor(a)
        v.grad = None if b is None else Tensor(b)
        opt.step()
    np.testing.assert_allclose(w.numpy(), _adam_reference(gw, [1.0, -1.0], 0.05), rtol=1e-5)
    np.testing.assert_allclose(v.numpy(), _adam_reference(gv, [2.0], 0.05), rtol=1e-5)
    assert opt.state_dict()["state"][1]["step"] == 2.0


def test_adamw_matches_reference_with_decay():
    w = Parameter([0.5, -1.5, 3.0])
    opt = optim.AdamW([w], lr=0.01, betas=(0.8, 0.9), weight_decay=0.05)
    gs = [[0.1, 0.2, -0.3], [0.4, -0.1, 0.05], [1.0, 1.0, 1.0], [-0.2, 0.3, 0.1]]
    for g in gs:
        w.grad = Tensor(g)
        opt.step()
    expected = _adam_reference(gs, [0.5, -1.5, 3.0], 0.01, 0.8, 0.9, wd=0.05, decoupled=True)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-5)


def test_params_without_grad_are_skipped():
    # MegEngine 1.13: no weight decay and no momentum update for a parameter whose grad is None.
    w, v = Parameter([1.0]), Parameter([5.0])
    opt = optim.SGD([w, v], lr=0.1, weight_decay=0.5)
    gm = GradManager().attach([w, v])
    with gm:
        gm.backward(F.sum(w * 2))
    assert v.grad is None
    opt.step()
    assert (repr(w), repr(v)) == (f"Parameter([0.75], {D})", f"Parameter([5.], {D})")

    w, v = Parameter([1.0]), Parameter([5.0])
    opt = optim.SGD([w, v], lr=0.1, momentum=0.9)
    w.grad = Tensor([1.0])
    v.grad = Tensor([1.0])
    opt.step()
    assert (repr(w), repr(v)) == (f"Parameter([0.9], {D})", f"Parameter([4.9], {D})")
    opt.clear_grad()
    assert w.grad is None and v.grad is None
    w.grad = Tensor([1.0])
    opt.step()
    assert (repr(w), repr(v)) == (f"Parameter([0.71], {D})", f"Parameter([4.9], {D})")


def test_step_returns_self_and_clear_grad_returns_none():
    w = Parameter([1.0])
    opt = optim.SGD([w], lr=0.1)
    assert opt.step() is opt
    assert repr(w) == f"Parameter([1.], {D})"   # no grad: nothing happens
    w.grad = Tensor([1.0])
    assert opt.clear_grad() is None
    assert w.grad is None


def test_step_updates_in_place():
    w = Parameter([1.0, 2.0])
    alias = w
    opt = optim.SGD([w], lr=0.5)
    w.grad = Tensor([1.0, -1.0])
    opt.step()
    assert alias is w and type(w) is Parameter
    assert alias.tolist() == [0.5, 2.5]


def test_state_dict_contents():
    # MegEngine 1.13 printed these dicts.
    w = Parameter([1.0, -2.0])
    opt = optim.SGD([w], lr=0.1)
    assert opt.state_dict() == {
        "param_groups": [{"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "params": [0]}], "state": {}}
    assert repr(opt.param_groups) == \
        f"[{{'params': [Parameter([ 1. -2.], {D})], 'lr': 0.1, 'momentum': 0.0, 'weight_decay': 0.0}}]"

    w = Parameter([1.0, -2.0])
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    gm = GradManager().attach([w])
    with gm:
        gm.backward(F.sum(w * w))
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"] == [{"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "params": [0]}]
    buf = sd["state"][0]["momentum_buffer"]
    assert isinstance(buf, np.ndarray) and buf.dtype == np.float32 and buf.tolist() == [2., -4.]

    w = Parameter([1.0, -2.0])
    opt = optim.Adam([w], lr=0.1)
    with GradManager().attach([w]) as gm:
        gm.backward(F.sum(w * w))
    opt.step()
    sd = opt.state_dict()
    assert list(sd["param_groups"][0]) == ["lr", "weight_decay", "betas", "eps", "params"]
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999) and sd["param_groups"][0]["eps"] == 1e-8
    st = sd["state"][0]
    assert sorted(st) == ["exp_avg", "exp_avg_sq", "step"]
    # MegEngine: exp_avg [0.20000005, -0.4000001], exp_avg_sq [0.00399995, 0.01599979], step 1.0 (float32).
    np.testing.assert_allclose(st["exp_avg"], [0.20000005, -0.4000001], rtol=1e-7)
    np.testing.assert_allclose(st["exp_avg_sq"], [0.00399995, 0.01599979], rtol=1e-6)
    assert st["step"].dtype == np.float32 and st["step"].shape == () and st["step"] == 1.0


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda p: optim.Adam(p, lr=0.05, weight_decay=0.01),
                                  lambda p: optim.AdamW(p, lr=0.05)], ids=["sgd", "adam", "adamw"])
def test_state_dict_round_trip(make):
    def loss_step(w, opt, g):
        w.grad = Tensor(g)
        opt.step().clear_grad()

    grads = [[0.5, -1.0], [0.25, 0.75], [-1.0, 0.1], [0.3, 0.3]]
    w1 = Parameter([1.0, 2.0])
    opt1 = make([w1])
    for g in grads[:2]:
        loss_step(w1, opt1, g)
    saved = opt1.state_dict()
    w2 = Parameter(w1.numpy())
    opt2 = make([w2])
    opt2.load_state_dict(saved)
    assert _same_state(opt2.state_dict(), saved)
    for g in grads[2:]:
        loss_step(w1, opt1, g)
        loss_step(w2, opt2, g)
    np.testing.assert_array_equal(w1.numpy(), w2.numpy())
    # Loading copied the arrays: later steps of opt1 did not change what was saved.
    assert not _same_state(opt1.state_dict(), saved)


def _same_state(a, b):
    if a["param_groups"] != b["param_groups"] or a["state"].keys() != b["state"].keys():
        return False
    return all(np.array_equal(a["state"][i][k], b["state"][i][k]) for i in a["state"] for k in a["state"][i])


def test_load_state_dict_restores_hyper_parameters():
    w = Parameter([1.0])
    opt = optim.SGD([w], lr=0.1)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.5
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.5
    w.grad = Tensor([1.0])
    opt.step()
    assert w.tolist() == [0.5]


def test_param_groups():
    p1, p2 = Parameter([1.0]), Parameter([2.0])
    opt = optim.SGD([{"params": [p1]}, {"params": [p2], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert list(opt.param_groups[0].keys()) == ["params", "lr", "momentum", "weight_decay"]
    p1.grad, p2.grad = Tensor([1.0]), Tensor([1.0])
    opt.step()
    np.testing.assert_allclose([p1.item(), p2.item()], [0.9, 1.5], rtol=1e-6)
    opt.param_groups[0]["lr"] = 0.5           # changing a group's lr takes effect on the next step
    opt.step()
    np.testing.assert_allclose([p1.item(), p2.item()], [0.4, 1.0], rtol=1e-6)
    p3 = Parameter([3.0])
    opt.add_param_group({"params": [p3], "lr": 1.0})
    p3.grad = Tensor([2.0])
    opt.step()
    assert p3.item() == 1.0


def test_single_parameter_is_accepted():
    p = Parameter(1.)
    opt = optim.SGD(p, lr=0.1)
    p.grad = Tensor(1.)
    opt.step()
    assert p.item() == pytest.approx(0.9)


@pytest.mark.parametrize("params", [[Tensor(1.)], [Parameter(1.), Tensor([2.])], [{"params": [Tensor(1.)]}]])
def test_only_parameters(params):
    with pytest.raises(TypeError) as info:
        optim.SGD(params, lr=0.1)
    msg = str(info.value)
    assert msg.startswith("optimizer can only optimize Parameters, but one of the params is ")
    assert "Tensor" in msg
    assert isinstance(info.value, graphc.GraphcError)


@pytest.mark.parametrize("make", [
    lambda: optim.SGD([Parameter(1.)], lr=-0.1),
    lambda: optim.SGD([Parameter(1.)], lr=0.1, momentum=-1),
    lambda: optim.SGD([Parameter(1.)], lr=0.1, weight_decay=-1),
    lambda: optim.Adam([Parameter(1.)], lr=0.1, betas=(1.5, 0.9)),
    lambda: optim.Adam([Parameter(1.)], lr=0.1, betas=(0.9, -0.1)),
    lambda: optim.AdamW([Parameter(1.)], lr=-1.0),
    lambda: optim.SGD([], lr=0.1),
])
def test_invalid_hyper_parameters(make):
    # MegEngine raises AssertionError or ValueError here; graphc raises ValueError throughout.
    with pytest.raises(ValueError):
        make()


def test_lr_is_required():
    with pytest.raises(TypeError):
        optim.SGD([Parameter(1.)])


def test_optimizer_base_class_interface():
    assert issubclass(optim.SGD, optim.Optimizer) and issubclass(optim.AdamW, optim.Adam)
    opt = optim.Adam([Parameter([1.])], lr=0.1)
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)
    assert optim.AdamW([Parameter([1.])], lr=0.1).param_groups[0]["weight_decay"] == 0.01


def _traced_sgd_run(changes: dict, steps: int = 6):
    """A traced SGD step on w*x; `changes` maps a step index to group entries set before it."""
    from graphc.jit import trace
    w = Parameter(np.float32(1.0))
    gm = GradManager().attach([w])
    opt = optim.SGD([w], lr=0.1)
    x = Tensor(np.float32(2.0))

    @trace
    def step(x):
        with gm:
            loss = w * x
            gm.backward(loss)
        opt.step().clear_grad()
        return loss
    out = []
    for i in range(steps):
        opt.param_groups[0].update(changes.get(i, {}))
        step(x)
        out.append(float(w.numpy()))
    return out, step


def test_traced_step_reads_the_learning_rate_at_every_call():
    # MegEngine 1.13, the same script (trace(symbolic=True), lr 0.1 then 1.0 from the third step):
    # w = 0.8, 0.6, -1.4, -3.4.
    got, step = _traced_sgd_run({2: {"lr": 1.0}}, steps=4)
    np.testing.assert_allclose(got, [0.8, 0.6, -1.4, -3.4], rtol=1e-6)
    assert step.traces == 1                      # a new lr is an input, not a retrace


def test_traced_lr_schedule_matches_eager():
    lrs = [0.1, 0.05, 0.2, 0.01, 0.3]

    def run(traced: bool):
        w = Parameter([1.0, -2.0])
        gm = GradManager().attach([w])
        opt = optim.Adam([w], lr=lrs[0])

        def step():
            with gm:
                gm.backward(F.sum(w * w * 0.5 + w))
            opt.step().clear_grad()
        fn = graphc.jit.trace(step) if traced else step
        for lr in lrs:
            opt.param_groups[0]["lr"] = lr
            fn()
        return w.numpy()
    np.testing.assert_allclose(run(True), run(False), rtol=1e-6)


def test_changing_a_structural_hyper_parameter_retraces(caplog):
    with caplog.at_level("INFO", logger="graphc.jit"):
        got, step = _traced_sgd_run({3: {"momentum": 0.5}})
    eager = run_eager_sgd({3: {"momentum": 0.5}})
    np.testing.assert_allclose(got, eager, rtol=1e-6)
    assert step.traces == 2
    assert "hyper-parameter 'momentum' of parameter group 0 changed from 0.0 to 0.5" in caplog.text


def run_eager_sgd(changes: dict, steps: int = 6) -> list[float]:
    """The eager counterpart of _traced_sgd_run."""
    w = Parameter(np.float32(1.0))
    gm = GradManager().attach([w])
    opt = optim.SGD([w], lr=0.1)
    out = []
    for i in range(steps):
        opt.param_groups[0].update(changes.get(i, {}))
        with gm:
            gm.backward(w * 2.0)
        opt.step().clear_grad()
        out.append(float(w.numpy()))
    return out


def test_group_momentum_differs_from_the_default():
    w = Parameter([1.0, -2.0])
    opt = optim.SGD([{"params": [w], "momentum": 0.9}], lr=0.1)
    gm = GradManager().attach([w])
    for _ in range(2):
        with gm:
            gm.backward(F.sum(w * w * 0.5 + w))
        opt.step().clear_grad()
    # the momentum trajectory above (TRAJECTORIES[1]), second step
    np.testing.assert_allclose(w.numpy(), [0.4400000274181366, -1.7200000286102295], rtol=1e-6)


def test_adding_a_parameter_group_retraces():
    from graphc.jit import trace
    w, v = Parameter([1.0]), Parameter([3.0])
    gm = GradManager().attach([w, v])
    opt = optim.SGD([w], lr=0.1)

    @trace
    def step():
        with gm:
            gm.backward(F.sum(w * v))
        opt.step().clear_grad()
    step()
    opt.add_param_group({"params": [v], "lr": 1.0})
    step()                                   # now v is updated too
    assert step.traces == 2
    # w: 1 - 0.1*3 = 0.7, then 0.4. v kept its first gradient (w = 1; it was not cleared, being in no
    # group) and accumulated the second (w = 0.7): v = 3 - 1.0 * 1.7 = 1.3.
    np.testing.assert_allclose([w.item(), v.item()], [0.4, 1.3], rtol=1e-6)
