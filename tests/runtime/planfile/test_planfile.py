"""Plan files: round trips of inference and training plans, equality with the live traced function, atomic
saving, device independence, and refusal of truncated, corrupted, unknown and hostile files."""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import tracemalloc

import numpy as np
import pytest
from plan_helpers import mlp_predict, mlp_step, pack, rehash_arrays, unpack

import graphc
import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, PlanFormatError, Tensor
from graphc.autodiff import GradManager
from graphc.ir import Graph
from graphc.ir.errors import DeviceError, DTypeError, GraphcTypeError, ShapeError, TraceError
from graphc.jit import trace
from graphc.runtime import planfile
from graphc.runtime.planfile import container as planfile_container
from graphc.runtime.planfile.container import MAGIC
from graphc.saved_plan import LoadedPlan, dump_trace, load


def _host(a) -> np.ndarray:
    return np.asarray(a.numpy() if isinstance(a, Tensor) else a)


def _same(a, b) -> None:
    np.testing.assert_array_equal(_host(a), _host(b))


def _close(a, b) -> None:
    """For results of different devices (with a GPU, live traces run there): last-bit differences."""
    np.testing.assert_allclose(_host(a), _host(b), rtol=1e-6, atol=1e-6)


@pytest.fixture
def inference_file(tmp_path):
    predict, x = mlp_predict()
    want = predict(x)
    path = tmp_path / "predict.gcplan"
    dump_trace(predict, path, arg_names=["x"], output_names=["y"], user_info={"model": "tiny"})
    return path, x, want


@pytest.fixture
def training_file(tmp_path):
    step, params, batches = mlp_step()
    step(*batches[0])
    path = tmp_path / "step.gcplan"
    dump_trace(step, path, optimize_for_inference=False)
    return path, step, params, batches


# ---- round trips ---------------------------------------------------------------------------------

def test_inference_plan_round_trip_equals_live_function(inference_file):
    path, x, want = inference_file
    loaded = load(path, verify=True)
    assert isinstance(loaded, LoadedPlan) and not loaded.is_training_step
    _same(loaded(x), want)
    _same(loaded(x=x.numpy()), want)
    assert [str(s) for s in loaded.inputs] == ["x: float32[2, 4]"]
    assert [o.name for o in loaded.outputs] == ["y"]
    assert loaded.metadata["user_info"] == {"model": "tiny"}
    assert loaded.metadata["graphc_version"] == graphc.__version__
    assert {"created", "numpy_version", "function"} <= loaded.metadata.keys()
    # Saved where the trace ran (the GPU when there is one), and loaded there by default.
    assert loaded.plan.device == ("gpu" if graphc.is_cuda_available() else "cpu") and loaded.graph.outputs


def test_training_step_for_inference_keeps_outputs_only(tmp_path):
    step, params, batches = mlp_step()
    step(*batches[0])
    path = tmp_path / "infer.gcplan"
    dump_trace(step, path, optimize_for_inference=True)   # asked for: a training step keeps its updates otherwise
    loaded = load(path, verify=True)
    assert not loaded.is_training_step
    assert {n.role for n in loaded.graph.nodes} == {"forward"}
    assert len(loaded.state_specs) == 3         # the parameters; Adam's state was dropped
    before = [p.numpy().copy() for p in params]
    got = loaded(*batches[1])
    want = step(*batches[1])                    # runs with the same parameters, then updates them
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-6)
    again = loaded(*batches[1])                 # inference never changes its state
    _same(again[0], got[0])
    for s, b in zip(loaded.state_dict().values(), before, strict=True):
        _same(s, b)


def test_training_plan_trains_like_the_live_step_and_round_trips(training_file, tmp_path):
    path, step, params, batches = training_file
    loaded = load(path, verify=True)
    # 3 parameters, Adam's 3 states for each, and the learning rate (an input, so schedules work)
    assert loaded.is_training_step and len(loaded.state_specs) == 13
    assert [s.name for s in loaded.state_specs].count("lr") == 1
    for i in range(3):
        x, label = batches[i % 2]
        got, want = loaded(x, label=label), step(x, label)
        _same(got[0], want[0])
        _same(got[1], want[1])
    state = list(loaded.state_dict().values())      # parameters first, in the order the step reads them
    for i, p in enumerate(params):
        _same(state[i], p)
    path2 = tmp_path / "step2.gcplan"
    loaded.save(path2)
    resumed = load(path2, verify=True)
    for i in range(2):
        x, label = batches[i % 2]
        want = step(x, label)
        _same(resumed(x, label)[0], want[0])
        _same(loaded(x, label)[0], want[0])
    assert resumed.metadata["function"].endswith("step")


def test_gradients_left_in_grad_are_kept_by_name(tmp_path):
    w = graphc.Parameter(np.array([1.0, 2.0], "float32"))
    gm = graphc.autodiff.GradManager().attach([w])

    @trace
    def grad_step(x):
        with gm:
            loss = F.sum(w * x)
            gm.backward(loss)
        return loss
    x = Tensor(np.array([3.0, 4.0], "float32"))
    grad_step(x)
    dump_trace(grad_step, tmp_path / "g.gcplan", optimize_for_inference=False)
    loaded = load(tmp_path / "g.gcplan", verify=True)
    _same(loaded(x), np.float32(11.0))
    _same(loaded.grads["w"], np.array([3.0, 4.0], "float32"))


def test_file_objects_and_positional_keyword_binding(inference_file):
    path, x, want = inference_file
    buf = io.BytesIO(path.read_bytes())
    loaded = load(buf)
    out = io.BytesIO()
    loaded.save(out)
    out.seek(0)
    _same(load(out, verify=True)(x), want)
    with pytest.raises(GraphcTypeError, match="missing"):
        loaded()
    with pytest.raises(GraphcTypeError, match="no input named"):
        loaded(x, z=x)
    with pytest.raises(GraphcTypeError, match="twice"):
        loaded(x, x=x)
    with pytest.raises(ShapeError, match="fixed shapes"):
        loaded(np.zeros((3, 4), "float32"))
    with pytest.raises(DTypeError):
        loaded(np.zeros((2, 4), "complex64"))
    _same(loaded(x.numpy().astype("float64")), want)          # same-kind casts are fine
    _same(loaded(x.numpy().tolist()), want)


def test_loaded_plan_is_refused_inside_a_trace(inference_file):
    path, x, _ = inference_file
    loaded = load(path)

    @trace
    def outer(x):
        return loaded(x)
    with pytest.raises(TraceError):
        outer(x)


def test_attributes_round_trip_exactly(tmp_path):
    g = Graph()
    a = g.add_input((3,), np.float32, "a")
    y, = g.emit("clip", [a], {"lower": -np.inf, "upper": 0.25})
    z, = g.emit("leaky_relu", [y], {"slope": np.float32(0.5)})
    s, = g.emit("sum", [z], {"axis": (0,), "keepdims": True})
    r, = g.emit("reshape", [s], {"shape": ()})
    g.outputs = [r, z]
    planfile.save(g, tmp_path / "a.gcplan", arg_names=["a"], output_names=["r", "z"], state_names=[],
                  state_arrays=[])
    pf = planfile.load(tmp_path / "a.gcplan")
    attrs = [n.attrs for n in pf.graph.nodes]
    assert attrs == [{"lower": -np.inf, "upper": 0.25}, {"slope": 0.5}, {"axis": (0,), "keepdims": True},
                     {"shape": ()}]
    assert type(attrs[2]["axis"]) is tuple and type(attrs[1]["slope"]) is float


def test_optimized_graphs_with_fused_subgraphs_round_trip(tmp_path):
    predict, x = mlp_predict()
    predict(x)
    plan = predict.plan
    assert any(n.op.name == "fused" for n in plan.graph.nodes)
    c = predict._last
    states = [s.numpy() for s in c.states]
    tv = planfile.make_test_vector(plan.graph, [x.numpy()], states, plan=plan)
    planfile.save(plan.graph, tmp_path / "opt.gcplan", arg_names=["x"], output_names=["y"],
                  state_names=["w", "b"], state_arrays=states, test_vector=tv)
    loaded = load(tmp_path / "opt.gcplan", device="cpu", verify=True)
    assert any(n.op.name == "fused" for n in loaded.graph.nodes)
    _close(loaded(x), predict(x))


def test_save_refuses_what_a_plan_file_cannot_hold(tmp_path):
    g = Graph()
    a = g.add_input((2,), np.float32, "a")
    y, = g.emit("clip", [a], {"lower": 0.0, "upper": 1.0})
    y.producer.attrs["lower"] = np.zeros(2)               # not plain data
    g.outputs = [y]
    target = tmp_path / "bad.gcplan"
    with pytest.raises(PlanFormatError, match="plain data"):
        planfile.save(g, target, arg_names=["a"], output_names=["y"], state_names=[], state_arrays=[])
    assert not target.exists() and not os.listdir(tmp_path)
    y.producer.attrs["lower"] = 0.0
    with pytest.raises(GraphcTypeError):
        planfile.save(g, target, arg_names=["a", "b"], output_names=["y"], state_names=[], state_arrays=[])
    with pytest.raises(PlanFormatError, match="share a name"):
        planfile.save(_two_inputs(), target, arg_names=["a", "a"], output_names=["y"], state_names=[],
                      state_arrays=[])
    with pytest.raises(PlanFormatError, match="non-finite"):
        planfile.save(g, target, arg_names=["a"], output_names=["y"], state_names=[], state_arrays=[],
                      metadata={"loss": float("nan")})


def _two_inputs() -> Graph:
    g = Graph()
    a = g.add_input((2,), np.float32, "a")
    b = g.add_input((2,), np.float32, "b")
    g.outputs = g.emit("add", [a, b])
    return g


def test_dump_needs_a_traced_call(tmp_path):
    @trace
    def f(x):
        return x * 2
    with pytest.raises(TraceError):
        dump_trace(f, tmp_path / "f.gcplan")


def test_random_plans_have_no_test_vector(tmp_path):
    @trace
    def noisy(x):
        return F.nn.dropout(x, 0.5)
    x = Tensor(np.ones((4, 4), "float32"))
    noisy(x)
    dump_trace(noisy, tmp_path / "r.gcplan")
    assert load(tmp_path / "r.gcplan")(x).shape == (4, 4)
    with pytest.raises(PlanFormatError, match="no test vector"):
        load(tmp_path / "r.gcplan", verify=True)


# ---- devices -------------------------------------------------------------------------------------

def test_plans_are_device_independent_on_the_cpu(inference_file, tmp_path):
    path, x, want = inference_file
    header, data = unpack(path.read_bytes())
    header["device"] = "gpu"                               # as if saved on a GPU machine
    gpu_saved = tmp_path / "gpu.gcplan"
    gpu_saved.write_bytes(pack(header, data))
    loaded = load(gpu_saved, verify=True)                  # no GPU here -> CPU; with one -> GPU
    np.testing.assert_allclose(loaded(x).numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    cpu = load(gpu_saved, device="cpu", verify=True)
    assert cpu.plan.device == "cpu"
    _close(cpu(x), want)
    cpu.save(tmp_path / "back.gcplan")
    assert planfile.read(tmp_path / "back.gcplan").device == "cpu"
    if not graphc.is_cuda_available():
        with pytest.raises(DeviceError):
            load(path, device="gpu")
    with pytest.raises(DeviceError):
        planfile.load(path, device="tpu")


@pytest.mark.gpu
@pytest.mark.skipif(not graphc.is_cuda_available(), reason="needs a CUDA GPU with CuPy")
def test_cpu_plan_runs_on_the_gpu_and_back(training_file, tmp_path):
    path, step, params, batches = training_file
    on_gpu = load(path, device="gpu", verify=True)
    on_cpu = load(path, device="cpu")
    for i in range(2):
        x, label = batches[i % 2]
        g, c = on_gpu(x, label), on_cpu(x, label)
        assert g[0].device.kind == "gpu"
        np.testing.assert_allclose(g[0].numpy(), c[0].numpy(), rtol=1e-4, atol=1e-5)
    on_gpu.save(tmp_path / "from_gpu.gcplan")
    back = load(tmp_path / "from_gpu.gcplan", device="cpu", verify=True)
    np.testing.assert_allclose(back(*batches[0])[0].numpy(), on_cpu(*batches[0])[0].numpy(), rtol=1e-4)


# ---- atomic saving -------------------------------------------------------------------------------

def test_a_failed_save_leaves_the_old_file_intact(inference_file, monkeypatch):
    path, x, want = inference_file
    old = path.read_bytes()
    loaded = load(path)

    def broken(head, datas):
        yield head[:100]
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(planfile_container, "_chunks", broken)
    with pytest.raises(OSError, match="No space"):
        loaded.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(path.parent) == [path.name]          # the temporary file is gone

    def no_rename(src, dst):
        raise OSError(5, "I/O error")
    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError, match="I/O error"):
        loaded.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old and os.listdir(path.parent) == [path.name]
    _same(load(path, verify=True)(x), want)


# ---- refusals ------------------------------------------------------------------------------------

def _edit(path, mutate) -> bytes:
    header, data = unpack(path.read_bytes())
    data = mutate(header, data) or data
    return pack(header, data)


def _refused(blob: bytes, match: str) -> PlanFormatError:
    with pytest.raises(PlanFormatError, match=match) as e:
        load(io.BytesIO(blob), verify=True)
    assert "\n" not in str(e.value)
    return e.value


def test_truncated_files_are_refused(training_file):
    blob = training_file[0].read_bytes()
    cuts = {0, 1, 7, 8, 16, 47, 48, 100, len(blob) // 2, len(blob) - 1} | set(range(0, len(blob), 997))
    for n in sorted(cuts):
        _refused(blob[:n], "truncated|magic")
    _refused(blob + b"\0", "extra bytes")


def test_corrupted_files_are_refused(training_file):
    blob = bytearray(training_file[0].read_bytes())
    header, data = unpack(bytes(blob))
    hdr = blob.copy()
    hdr[200] ^= 0x01
    _refused(bytes(hdr), "checksum")
    arr = blob.copy()
    arr[-3] ^= 0x80
    _refused(bytes(arr), "array .* checksum")
    _refused(b"not a plan" + bytes(blob[10:]), "not a graphc plan file")
    _refused(pickle.dumps({"graph": "x"}), "not a graphc plan file|truncated")
    np_file = io.BytesIO()
    np.savez(np_file, a=np.zeros(3))
    _refused(np_file.getvalue(), "not a graphc plan file")


def test_unknown_versions_and_ops_are_refused(inference_file):
    path = inference_file[0]

    def version(v):
        return lambda h, d: h.update(format_version=v)
    _refused(_edit(path, version(3)), "format version 3, written by a newer graphc")
    _refused(_edit(path, version(1)), "unknown fields \\['sizes'\\]")   # a version 2 file claiming 1
    _refused(_edit(path, version("1")), "format version")
    _refused(_edit(path, version(True)), "format version")
    _refused(_edit(path, version(1.0)), "format version")

    def unknown_op(h, d):
        h["graph"]["nodes"][0]["op"] = "launch_missiles"
        h["opset"]["ops"].append("launch_missiles")
    _refused(_edit(path, unknown_op), "op 'launch_missiles', which this graphc does not know")

    def undeclared_op(h, d):
        h["opset"]["ops"].remove("tanh")
    _refused(_edit(path, undeclared_op), "op set does not list")

    def foreign_opset(h, d):
        h["opset"]["fingerprint"] = "0123456789abcdef"
    pf = planfile.read(io.BytesIO(_edit(path, foreign_opset)))   # known ops: still loads
    assert not pf.opset_matches


def test_absurd_shapes_are_refused_before_allocation(inference_file):
    path = inference_file[0]

    def huge_value(h, d):
        h["graph"]["inputs"][0]["shape"] = [1 << 30, 1 << 30]
        h["signature"]["inputs"][0]["shape"] = [1 << 30, 1 << 30]

    def huge_array(h, d):
        e = h["arrays"][0]
        e["shape"], e["nbytes"] = [1 << 60], (1 << 60) * 4

    def lying_array(h, d):
        e = h["arrays"][-1]
        e["shape"], e["nbytes"] = [1 << 28], (1 << 28) * 4

    def negative(h, d):
        h["graph"]["nodes"][0]["out"][0]["shape"] = [-1, 3]

    def deep(h, d):
        h["graph"]["inputs"][0]["shape"] = [1] * 1000
    tracemalloc.start()
    try:
        for mutate, match in ((huge_value, "elements, over the limit"), (huge_array, "dimension outside"),
                              (lying_array, "truncated"), (negative, "dimension outside"),
                              (deep, "at most 32 dimensions")):
            blob = _edit(path, mutate)
            tracemalloc.reset_peak()
            _refused(blob, match)
            assert tracemalloc.get_traced_memory()[1] < 4 << 20
    finally:
        tracemalloc.stop()


def test_attribute_bombs_and_wrong_types_are_refused(inference_file):
    path = inference_file[0]

    def node_attr(value, node=0, key="transpose_a"):
        return lambda h, d: h["graph"]["nodes"][node]["attrs"].__setitem__(key, value)
    nested = 0
    for _ in range(50):
        nested = {"t": [nested]}
    _refused(_edit(path, node_attr(nested)), "nested deeper")
    _refused(_edit(path, node_attr({"t": [0] * 100_000})), "more than 4096 items")
    _refused(_edit(path, node_attr("yes")), "must be a bool")
    _refused(_edit(path, node_attr(1.5)), "not a tagged value")
    _refused(_edit(path, node_attr({"f": "1e999"})), "malformed float")
    _refused(_edit(path, node_attr({"py": "__import__('os')"})), "unknown tag")
    _refused(_edit(path, node_attr(True, key="out")), "does not take")
    _refused(_edit(path, node_attr(True, key="bias")), "does not take")
    _refused(_edit(path, node_attr(10 ** 30)), "outside int64")
    _refused(_edit(path, node_attr({"g": {"inputs": []}})), "only fused nodes hold subgraphs")
    deep_json = b"[" * 200_000 + b"]" * 200_000
    _, data = unpack(path.read_bytes())
    bomb = MAGIC + len(deep_json).to_bytes(8, "little") + hashlib.sha256(deep_json).digest() + deep_json
    _refused(bomb + data, "not valid JSON")


def test_wrong_dtypes_and_dangling_references_are_refused(inference_file):
    path = inference_file[0]

    def setter(*keys, value):
        def mutate(h, d):
            obj = h
            for k in keys[:-1]:
                obj = obj[k]
            obj[keys[-1]] = value
        return mutate
    for dt in ("object", "|O", "<U5", "complex128", "V8", "datetime64[s]"):
        _refused(_edit(path, setter("graph", "inputs", 0, "dtype", value=dt)), "not one of")
        _refused(_edit(path, setter("arrays", 0, "dtype", value=dt)), "not one of")
    _refused(_edit(path, setter("graph", "nodes", 1, "in", value=[99])), "refers to entry 99")
    _refused(_edit(path, setter("graph", "nodes", 0, "in", value=[0, 5])), "refers to entry 5")
    _refused(_edit(path, setter("graph", "outputs", value=[-1])), "refers to entry -1")
    _refused(_edit(path, setter("graph", "nodes", 0, "role", value="evil")), "role")
    _refused(_edit(path, setter("graph", "nodes", 0, "out", 0, "dtype", value="float64")), "inconsistent")
    _refused(_edit(path, setter("signature", "inputs", 0, "name", value="")), "must be a name")
    _refused(_edit(path, setter("signature", "states", 0, "array", value=0)), "its array 0 is")

    def orphan(h, d):
        h["arrays"].append({"dtype": "uint8", "shape": [1], "offset": len(d), "nbytes": 1, "sha256": ""})
        d += b"\x07"
        rehash_arrays(h, d)
        return d
    _refused(_edit(path, orphan), "each exactly once")
    _refused(_edit(path, setter("opt_level", value=7)), "optimization level")
    _refused(_edit(path, setter("device", value="tpu")), "device")
    _refused(_edit(path, setter("graph", "extra", value=1)), "unknown fields")
    _refused(_edit(path, lambda h, d: h.pop("signature") and None), "missing fields")

    def bad_bool(h, d):   # a bool array holding 2: refused even with a valid checksum
        h["graph"]["consts"].append({"shape": [1], "dtype": "bool", "name": None, "array": len(h["arrays"])})
        h["arrays"].append({"dtype": "bool", "shape": [1], "offset": len(d), "nbytes": 1, "sha256": ""})
        d += b"\x02"
        rehash_arrays(h, d)
        return d
    _refused(_edit(path, bad_bool), "bool holds bytes")


def test_updates_of_arguments_and_ill_formed_attributes_are_refused(inference_file):
    """Issue 15 item 7: an update whose target is an argument (it would overwrite a state on every call), a
    reduction axis given as a list, an attribute an op does not take."""
    g = Graph()
    a, s = g.add_input((2,), np.float32, "a"), g.add_input((2,), np.float32, "s")
    y, = g.emit("add", [a, s], {})
    g.outputs, g.updates = [y], [(s, y)]
    buf = io.BytesIO()
    planfile.save(g, buf, arg_names=["a"], output_names=["y"], state_names=["s"], state_arrays=[np.ones(2, "float32")])
    header, data = unpack(buf.getvalue())
    assert header["graph"]["updates"] == [[1, 2]]
    header["graph"]["updates"] = [[0, 2]]
    with pytest.raises(PlanFormatError, match="update 0 assigns input 0, an argument"):
        planfile.read(io.BytesIO(pack(header, data)))

    def node_of(h, op):
        return next(n for n in h["graph"]["nodes"] if n["op"] == op)

    def list_axis(h, d):
        h["graph"]["nodes"].append({"op": "sum", "attrs": {"axis": {"l": [0]}, "keepdims": False}, "in": [0],
                                    "out": [{"shape": [4], "dtype": "float32", "name": None}], "loc": None,
                                    "role": "forward"})
        h["opset"]["ops"] = sorted(set(h["opset"]["ops"]) | {"sum"})
    _refused(_edit(inference_file[0], list_axis), "attribute 'axis' of op 'sum' must be a sorted tuple")
    _refused(_edit(inference_file[0], lambda h, d: node_of(h, "tanh")["attrs"].update(out=None)),
             r"op 'tanh' does not take attributes \['out'\]")


def test_names_are_names_and_locations_printable(inference_file):
    """Issue 15 item 6: names from a file reach terminals, .npz member names and SVG; source locations reach
    error messages and SVG tooltips."""
    path = inference_file[0]

    def signature_name(kind, value):
        return lambda h, d: h["signature"][kind][0].update(name=value)
    for bad in ("\x1b[2Jx", "../../../x", "a/b", "x y", "", "x\n", "é", "1x", "x[", "x..y"):
        _refused(_edit(path, signature_name("inputs", bad)), "must be a name")
    _refused(_edit(path, signature_name("outputs", "../../etc/y")), "must be a name")
    # A graph value's name is shown, not used as a name: any printable text (a user's "my batch", ∂loss/∂w).
    _refused(_edit(path, lambda h, d: h["graph"]["inputs"][0].update(name="x\x1b]0;title\x07")), "printable")
    _refused(_edit(path, lambda h, d: h["graph"]["nodes"][0].update(loc="f.py:1\x1b[31m")), "printable characters")
    _refused(_edit(path, lambda h, d: h["graph"]["nodes"][0].update(loc="f.py:1\u202e")), "printable characters")
    for good in ("x_1", "params[0]", "w.grad", "params[10].grad", "model.fc1.weight", "0.weight", "layers[1].bias"):
        planfile.read(io.BytesIO(_edit(path, signature_name("inputs", good))))


def test_state_tampering_is_caught_by_the_test_vector(training_file):
    path = training_file[0]

    def tamper(h, d):
        k = h["signature"]["states"][0]["array"]
        e = h["arrays"][k]
        d = bytearray(d)
        d[e["offset"] + 3] ^= 0x40       # the exponent byte of the first float
        rehash_arrays(h, bytes(d))
        return bytes(d)
    blob = _edit(path, tamper)
    load(io.BytesIO(blob))                       # consistent, so it loads ...
    _refused(blob, "differs from its test vector")   # ... but does not compute what was saved


def _huge_intermediate(tmp_path, reduce: bool):
    """A plan file of a few KB whose one intermediate has 2^31 float32 elements (8 GiB): a broadcast of its
    one-element input, then exp (the output), or exp summed in a fused kernel (which copies the broadcast)."""
    g = Graph()
    x = g.add_input((1,), np.float32, "x")
    b, = g.emit("broadcast_to", [x], {"shape": (1 << 31,)})
    y, = g.emit("exp", [b], {})
    if reduce:
        y, = g.emit("mul", [y, g.add_const(np.float32(2.0))], {})
        y, = g.emit("sum", [y], {"axis": (0,), "keepdims": False})
    g.outputs = [y]
    path = tmp_path / "huge.gcplan"
    planfile.save(g, path, arg_names=["x"], output_names=["y"], state_names=[], state_arrays=[])
    assert path.stat().st_size < 4096
    return path


@pytest.mark.parametrize("reduce", [False, True])
def test_plans_needing_more_memory_than_allowed_are_refused(tmp_path, reduce):
    """Issue 15 item 5: the loader estimates a call's peak memory from the memory plan and refuses a file above
    a budget (default 4 GiB) that the caller can raise; nothing is allocated or run here."""
    path = _huge_intermediate(tmp_path, reduce)
    with pytest.raises(PlanFormatError, match=r"needs about 8\.\d\d GiB while it runs, over the limit of 4\.00 GiB"):
        load(path)
    with pytest.raises(PlanFormatError, match="over the limit of 1.00 GiB"):
        load(path, max_memory=1 << 30)
    assert load(path, max_memory=1 << 40).inputs[0].shape == (1,)


def test_peak_memory_estimate_follows_the_memory_plan():
    """Issue 15 item 5: released values stop counting; slots count once; views are free."""
    from graphc.passes.memory import peak_bytes, plan_memory
    g = Graph()
    x = g.add_input((1024, 1024), np.float32, "x")          # 4 MiB per value
    a, = g.emit("exp", [x], {})
    b, = g.emit("tanh", [a], {})
    c, = g.emit("reshape", [b], {"shape": (1 << 20,)})
    d, = g.emit("sum", [c], {"axis": (0,), "keepdims": False})
    g.outputs = [d]
    mp = plan_memory(g)
    mib = 1 << 20
    # exp and tanh share one slot (tanh writes in place); the reshape is a view; the sum makes 4 bytes and a
    # temporary of 4 (a reduction does not write its result directly).
    assert len(mp.slots) == 1 and peak_bytes(g, mp) == 4 * mib + 8
    g2 = Graph()
    x = g2.add_input((1024, 1024), np.float32, "x")
    outs = [g2.emit("exp", [x], {})[0] for _ in range(3)]
    g2.outputs = outs
    assert peak_bytes(g2, plan_memory(g2)) == 3 * 4 * mib             # three outputs, written directly
    g2.emit("sigmoid", [x], {})                                          # not a ufunc: one temporary of 4 MiB
    assert peak_bytes(g2, plan_memory(g2)) == 4 * 4 * mib + 4 * mib


def test_a_missing_file_is_a_plan_format_error(tmp_path):
    with pytest.raises(PlanFormatError, match="cannot read"):
        load(tmp_path / "nope.gcplan")


def test_fused_subgraphs_are_checked(tmp_path):
    predict, x = mlp_predict()
    predict(x)
    plan = predict.plan
    states = [s.numpy() for s in predict._last.states]
    path = tmp_path / "opt.gcplan"
    planfile.save(plan.graph, path, arg_names=["x"], output_names=["y"], state_names=["w", "b"],
                  state_arrays=states)

    def fused_node(h):
        return next(n for n in h["graph"]["nodes"] if n["op"] == "fused")

    def bad_name(h, d):
        fused_node(h)["attrs"]["name"] = "x); import os; ("
    _refused(_edit(path, bad_name), "identifier")

    def matmul_inside(h, d):
        sub = fused_node(h)["attrs"]["subgraph"]["g"]
        sub["nodes"][0]["op"] = "matmul"
        h["opset"]["ops"] = sorted(set(h["opset"]["ops"]) | {"matmul"})
    _refused(_edit(path, matmul_inside), "cannot be part of a fused group")

    def wrong_sub_type(h, d):
        sub = fused_node(h)["attrs"]["subgraph"]["g"]
        sub["inputs"][0]["dtype"] = "float64"
    _refused(_edit(path, wrong_sub_type), "subgraph inputs do not match|inconsistent")


def test_fused_groups_of_another_form_are_refused(tmp_path):
    """Issue 15 item 1: the generated C loop writes every elementwise output over the whole iteration shape, so a
    group with a smaller output (a one-element one beside the group's) overflowed its buffer. The subgraph of
    the predict plan's fused node: inputs 0, 1, scalar constant 2, results 3 (add) ... 6 (mul, the output)."""
    predict, x = mlp_predict()
    predict(x)
    states = [s.numpy() for s in predict._last.states]
    path = tmp_path / "opt.gcplan"
    planfile.save(predict.plan.graph, path, arg_names=["x"], output_names=["y"], state_names=["w", "b"],
                  state_arrays=states)

    def extra_output(op, operand, shape, attrs=None, outputs=None):
        def mutate(h, d):
            node = next(n for n in h["graph"]["nodes"] if n["op"] == "fused")
            sub = node["attrs"]["subgraph"]["g"]
            sub["nodes"].append({"attrs": attrs or {}, "in": [operand], "loc": None, "op": op, "role": "forward",
                                 "out": [{"dtype": "float32", "name": None, "shape": shape}]})
            sub["outputs"] = outputs or [6, 7]
            node["out"].append({"dtype": "float32", "name": None, "shape": shape})
            h["opset"]["ops"] = sorted(set(h["opset"]["ops"]) | {op})
        return mutate
    _refused(_edit(path, extra_output("neg", 2, [])), r"not a fused group: op 'neg' gives shape \(\)")
    _refused(_edit(path, extra_output("sum", 1, [], {"axis": {"t": [0]}, "keepdims": False})),
             "not a fused group: reduction 'sum' reads shape")
    _refused(_edit(path, extra_output("neg", 3, [2, 3], outputs=[6, 0])), "distinct results of its nodes")
    _refused(_edit(path, extra_output("neg", 3, [2, 3], outputs=[6, 6])), "distinct results of its nodes")


def test_info_describes_without_compiling(training_file):
    d = planfile.describe(planfile.read(training_file[0]))
    assert d["format_version"] == planfile.FORMAT_VERSION and d["opset_matches"]
    assert [i["name"] for i in d["inputs"]] == ["x", "label"]
    # 2 layers: 2 forward matmuls, 2 for the weight gradients, 1 for the hidden activation gradient (none
    # for the input x, which nothing differentiates).
    assert d["updates"] == 12 and d["ops"]["matmul"] == 5 and d["test_vector"]
    assert set(d["roles"]) == {"forward", "gradient", "update"}


def test_megengine_dump_options(tmp_path):
    predict, x = mlp_predict()
    predict(x)
    info = tmp_path / "info.json"
    dump_trace(predict, tmp_path / "p.gcplan", keep_var_name=2, keep_opr_name=True, enable_io16xc32=False,
               strip_info_file=info)
    assert '"inputs"' in info.read_text()
    with pytest.raises(GraphcTypeError, match="append"):
        dump_trace(predict, tmp_path / "p.gcplan", append=True)
    with pytest.raises(GraphcTypeError, match="unexpected options"):
        dump_trace(predict, tmp_path / "p.gcplan", frobnicate=True)


def test_saved_files_get_ordinary_permissions(inference_file):
    path = inference_file[0]
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask
    os.chmod(path, 0o640)
    load(path).save(path)
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_test_vectors_never_update_state_in_place(tmp_path):
    # Parameters over the memory planner's in-place threshold: a test run must not train anything.
    rng = np.random.default_rng(3)
    w = graphc.Parameter(rng.standard_normal((256, 512)).astype("float32"))
    gm = graphc.autodiff.GradManager().attach([w])
    opt = graphc.optimizer.SGD([w], lr=0.1)

    @trace
    def step(x):
        with gm:
            loss = F.mean(F.matmul(x, w) ** 2)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    x = Tensor(rng.standard_normal((4, 256)).astype("float32"))
    step(x)
    before = w.numpy().copy()
    dump_trace(step, tmp_path / "big.gcplan", optimize_for_inference=False)
    _same(w, before)                                   # dumping did not take a step
    loaded = load(tmp_path / "big.gcplan", verify=True)
    _same(loaded.state_dict()["w"], before)       # verifying did not either
    _same(loaded(x), step(x))
    after = loaded.state_dict()["w"].numpy().copy()
    loaded.save(tmp_path / "big2.gcplan")
    _same(loaded.state_dict()["w"], after)        # nor did saving (it recomputes the test vector)
    _same(load(tmp_path / "big2.gcplan", verify=True)(x), step(x))


def test_learning_rates_of_several_groups_are_saved_as_distinct_states(tmp_path):
    w, b = Parameter(np.ones((2, 2), np.float32)), Parameter(np.zeros(2, np.float32))
    gm = GradManager().attach([w, b])
    opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)

    @trace
    def step(x):
        with gm:
            loss = F.sum(F.matmul(x, w) + b)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss
    x = Tensor(np.ones((3, 2), np.float32))
    step(x)
    dump_trace(step, tmp_path / "groups.gcplan", optimize_for_inference=False)
    loaded = load(tmp_path / "groups.gcplan", verify=True)
    state = loaded.state_dict()
    assert {"lr", "lr1"} <= state.keys()
    np.testing.assert_allclose([state["lr"], state["lr1"]], [0.1, 0.5], rtol=1e-7)
    # A loaded training step's learning rates can be changed: at 0 a call leaves the parameters alone.
    loaded.load_state_dict({"lr": 0.0, "lr1": np.float32(0.0)})
    before = {k: v.numpy().copy() for k, v in loaded.state_dict().items()}
    loaded(x)
    for k, v in loaded.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    loaded.load_state_dict({"lr1": 1.0})
    loaded(x)
    assert not np.array_equal(loaded.state_dict()["b"].numpy(), before["b"])
    with pytest.raises(GraphcTypeError, match="no state 'learning_rate'"):
        loaded.load_state_dict({"lr": 0.1, "learning_rate": 0.1})
    assert float(loaded.state_dict()["lr"].numpy()) == 0.0          # nothing was replaced
    with pytest.raises(ShapeError, match=r"state 'w' has shape \(2, 2\), got \(3,\)"):
        loaded.load_state_dict({"w": np.zeros(3)})


def test_symbolic_sizes_are_checked_like_everything_else(tmp_path):
    predict, x = mlp_predict(symbolic_shape=True)
    predict(x)
    path = tmp_path / "sym.gcplan"
    dump_trace(predict, path, arg_names=["x"])
    load(path, verify=True)                              # the unedited file loads

    def shape_of_input(value):
        return lambda h, d: h["graph"]["inputs"][0].update(shape=value)

    def sizes(derived=(), guards=()):
        return lambda h, d: h["graph"].update(sizes={"derived": list(derived), "guards": list(guards)})

    _refused(_edit(path, shape_of_input(["M", 4])), "sizes \\['N'\\] that no input or derived size defines")
    _refused(_edit(path, shape_of_input(["N**2", 4])), "not a dimension")
    _refused(_edit(path, shape_of_input(["__import__('os')", 4])), "not a dimension")
    _refused(_edit(path, sizes(derived=[["_q0", "M", 2]])), "uses a size defined after it")
    _refused(_edit(path, sizes(derived=[["N", "N", 2]])), "defined twice")
    _refused(_edit(path, sizes(derived=[["_q0", "N", 0]])), "divisor")
    _refused(_edit(path, sizes(guards=[["bigger", "N", "4", "x"]])), "must be \\[equal")
    _refused(_edit(path, sizes(guards=[["equal", "N", "Z", "x"]])), "uses a size no input")
    _refused(_edit(path, lambda h, d: h.update(format_version=1)), "unknown fields \\['sizes'\\]")

    def v1_with_symbols(h, d):
        h["format_version"] = 1
        del h["graph"]["sizes"]
    _refused(_edit(path, v1_with_symbols), "format version 1|not a|outside")
    # A guard the file declares is enforced when the plan runs.
    plan = load(io.BytesIO(_edit(path, sizes(guards=[["equal", "N", "2", "the test says so"]]))))
    plan(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="relying on N == 2 \\(the test says so\\), which fails for N=3"):
        plan(np.ones((3, 4), np.float32))
