"""graphc.distributed in one process (no process group: a group of one): MegEngine's API, the bucketed
all-reduce callback and the GradManager protocol it uses, pictures and plan files with collectives, and the
launcher's checks. Multi-process behaviour is in tests/distributed."""
from __future__ import annotations

import numpy as np
import pytest
from steps import averaged_step

import graphc
import graphc.distributed as dist
import graphc.functional as F
import graphc.optimizer as optim
import graphc.viz as viz
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager, get_backwarding_grad_manager
from graphc.cli import main as cli_main
from graphc.config import Config
from graphc.future import Future
from graphc.ir import Graph, building, emit
from graphc.ir.errors import CollectiveError, GradError, GraphcTypeError, PlanFormatError
from graphc.jit import trace
from graphc.runtime.compile import compile_graph


def test_without_a_process_group_this_process_is_the_world():
    assert (dist.get_rank(), dist.get_world_size(), dist.is_distributed()) == (0, 1, False)
    dist.group_barrier()
    assert dist.WORLD.size == 1 and dist.WORLD.key == "0"
    with pytest.raises(CollectiveError, match="call init_process_group first"):
        dist.get_backend()
    x = Tensor([1.0, 2.0])
    assert F.distributed is dist.functional
    for fn in (F.distributed.all_reduce_sum, F.distributed.all_reduce_max, F.distributed.broadcast,
               F.distributed.all_gather, F.distributed.reduce_scatter_sum, F.distributed.reduce_sum):
        assert fn(x).tolist() == [1.0, 2.0]


def test_other_groups_and_bad_axes_are_refused():
    with pytest.raises(CollectiveError, match="only the WORLD group is supported"):
        dist.functional.all_reduce_sum(Tensor([1.0]), group=dist.Group([0]))
    assert dist.new_group([0]) is dist.WORLD
    with pytest.raises(CollectiveError, match=r"new_group\(\[1, 0\]\): only the group of every rank in order"):
        dist.new_group([1, 0])
    with pytest.raises(graphc.AxisError, match="all_gather: axis 2 is out of range"):
        dist.functional.all_gather(Tensor([[1.0]]), axis=2)


def _params():
    rng = np.random.default_rng(0)
    return [Parameter(rng.normal(size=s).astype(np.float32)) for s in [(8, 4), (8,), (3, 8), (3,)]]


def _loss(params, x):
    h = F.relu(F.linear(x, params[0], params[1]))
    return F.sum(F.linear(h, params[2], params[3]) ** 2)


@pytest.mark.parametrize("bucket, collectives", [(None, 1), (1, 4), (200, 2)])
def test_gradients_are_packed_into_buckets_of_the_given_size(bucket, collectives):
    params = _params()
    gm = GradManager().attach(params, callbacks=[dist.make_allreduce_cb("sum", bucket_size=bucket)])

    @trace
    def step(x):
        with gm:
            gm.backward(_loss(params, x))
        return [p.grad for p in params]
    grads = step(Tensor(np.ones((2, 4), np.float32)))
    assert sum(n.op.name == "all_reduce_sum" for n in step.graph.nodes) == collectives
    plain = _params()
    gm2 = GradManager().attach(plain)
    with gm2:
        gm2.backward(_loss(plain, Tensor(np.ones((2, 4), np.float32))))
    for g, p in zip(grads, plain):
        np.testing.assert_allclose(g.numpy(), p.grad.numpy(), rtol=1e-6)


def test_each_dtype_gets_its_own_bucket():
    a, b = Parameter(np.ones(3, np.float32)), Parameter(np.ones(2, np.float16))
    gm = GradManager().attach([a, b], callbacks=dist.make_allreduce_cb("mean"))

    @trace
    def step():
        with gm:
            gm.backward(F.sum(a * 2) + F.sum(b * 3).astype("float32"))
        return a.grad, b.grad
    ga, gb = step()
    assert [n.inputs[0].dtype for n in step.graph.nodes if n.op.collective] == [np.float16, np.float32]
    assert ga.tolist() == [2.0] * 3 and gb.tolist() == [3.0] * 2 and gb.dtype == np.float16


def test_an_eager_step_with_the_callback_trains_as_without_it():
    params, plain = _params(), _params()
    x = Tensor(np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4))
    for ps, cbs in ((params, [dist.make_allreduce_cb("mean", bucket_size=64)]), (plain, None)):
        gm = GradManager().attach(ps, callbacks=cbs)
        opt = optim.SGD(ps, lr=0.01)
        for _ in range(3):
            with gm:
                gm.backward(_loss(ps, x))
            opt.step().clear_grad()
    for p, q in zip(params, plain):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6)


def test_the_callback_checks_its_arguments_and_where_it_runs():
    with pytest.raises(ValueError, match="reduce_method should be 'sum' or 'mean'"):
        dist.make_allreduce_cb("max")
    with pytest.raises(ValueError, match="bucket_size must be a positive number of bytes"):
        dist.make_allreduce_cb("sum", bucket_size=0)
    with pytest.raises(GradError, match="runs inside GradManager.backward"):
        dist.make_allreduce_cb("sum")(Parameter([1.0]), Tensor([1.0]))


def test_callbacks_may_return_futures_set_after_the_backward():
    # MegEngine's protocol: a callback returns a Future and registers an after-backward hook that sets it.
    x = Parameter([1.0, 2.0])
    seen = []
    gm = GradManager()

    def later(p, g):
        fut = Future()
        assert get_backwarding_grad_manager() is gm
        gm._register_after_backward_callback(lambda: fut.set(g * 10))
        seen.append(g.tolist())
        return fut
    gm.attach([x], callbacks=[later])
    with gm:
        gm.backward(F.sum(x * x))
    assert seen == [[2.0, 4.0]] and x.grad.tolist() == [20.0, 40.0]
    assert get_backwarding_grad_manager() is None
    gm2 = GradManager().attach([x], callbacks=[lambda p, g: Future()])
    with pytest.raises(GradError, match="Future that was never set"):
        with gm2:
            gm2.backward(F.sum(x))


def _traced_step():
    step, _ = averaged_step(np.ones((3, 2), np.float32), 0.1)
    step(Tensor(np.ones((4, 3), np.float32)))
    return step


def test_pictures_draw_collectives_in_their_own_colour():
    text = viz.to_dot(_traced_step(), part="gradient")
    boxes = [line for line in text.splitlines() if 'label="all_reduce_sum' in line]
    assert boxes and all('shape="hexagon"' in b and "exchanges data with the other processes" in b for b in boxes)
    assert 'label="collective"' in text


def test_a_saved_plan_with_collectives_has_no_test_vector_and_runs(tmp_path, capsys):
    step = _traced_step()
    path = tmp_path / "step.gcplan"
    step.dump(path, arg_names=["x"], optimize_for_inference=False)
    assert cli_main(["info", str(path)]) == 0
    assert ("collectives: runs on 1 process together (mpiexec -n 1), each calling "
            "graphc.distributed.init_process_group() before the plan") in capsys.readouterr().out
    plan = graphc.load(path)
    assert plan._pf.test_vector is None
    assert any(n.op.collective for n in plan.graph.nodes)
    assert float(plan(np.ones((4, 3), np.float32))) > 0
    with pytest.raises(PlanFormatError, match="depend on the other processes of its group"):
        graphc.load(path, verify=True)


def test_a_plan_traced_for_two_processes_says_how_to_start_them():
    g = Graph()
    x = g.add_input((3,), np.dtype(np.float32))
    with building(g, loc="train.py:12"):
        y = emit("all_reduce_sum", [x], size=2)
    g.outputs = [y]
    with pytest.raises(CollectiveError, match=r"^all_reduce_sum: traced for a group of 2 processes, it runs in a "
                                              r"group of 1: start 2 processes \(mpiexec -n 2 python \.\.\.\) and "
                                              r"call graphc.distributed.init_process_group\(\) first "
                                              r"\(at train.py:12\)$"):
        compile_graph(g)(np.ones(3, np.float32))


def test_the_timeout_and_bucket_size_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GRAPHC_DIST_TIMEOUT", "2.5")
    monkeypatch.setenv("GRAPHC_BUCKET_BYTES", "4096")
    c = Config.from_env()
    assert (c.dist_timeout, c.bucket_bytes) == (2.5, 4096)
    monkeypatch.setenv("GRAPHC_DIST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="GRAPHC_DIST_TIMEOUT must be a positive number of seconds, got 'soon'"):
        Config.from_env()


def _work(x):
    return x


def test_a_worker_importing_the_launching_module_does_not_launch_again(monkeypatch):
    monkeypatch.setenv("GRAPHC_LAUNCH", "{}")
    with pytest.raises(CollectiveError, match=r"call it under `if __name__ == \"__main__\":`"):
        dist.launcher(_work, n_gpus=2, device_type="cpu")(1)


def test_the_launcher_checks_what_it_cannot_send():
    def local(x):
        return x
    with pytest.raises(GraphcTypeError, match="must be defined at the top level of its module"):
        dist.launcher(local, n_gpus=2, device_type="cpu")(1)
    with pytest.raises(GraphcTypeError, match="travel to the workers as JSON data"):
        dist.launcher(_work, n_gpus=2, device_type="cpu")(object())
    with pytest.raises(CollectiveError, match="world_size=4 but n_gpus=2"):
        dist.launcher(_work, n_gpus=2, world_size=4)
    with pytest.raises(CollectiveError, match="rank_start is not needed"):
        dist.launcher(_work, n_gpus=2, rank_start=2)
    decorated = dist.launcher(n_gpus=3, device_type="cpu")(_work)
    assert decorated.n == 3 and decorated.__wrapped__ is _work
    assert decorated.command()[1:3] == ["-n", "3"]
    assert dist.launcher(_work, n_gpus=2, hosts=["a", "b"]).command()[3:5] == ["-hosts", "a,b"]
    assert dist.launcher(_work, n_gpus=2, hosts="hostfile").command()[3:5] == ["-f", "hostfile"]
