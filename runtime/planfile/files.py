"""Saved plans: `save` writes a graph, its signature, state and an optional test vector to one file;
`load` checks everything in it, rebuilds the graph, verifies it and compiles it for a device.

The file is data, never code (see container.py for the byte layout, graph_codec.py for the graph's
JSON form). Loading refuses anything it cannot fully check with a PlanFormatError of one sentence;
no other exception escapes, and nothing is allocated or run before the checks that bound it.
"""
from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import os
import platform
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from graphc.ir import REGISTRY, Graph
from graphc.ir.errors import DeviceError, GraphcError, GraphcTypeError, PlanFormatError

from ..arrays import array_module, gpu_usable, to_host
from ..compile import compile_graph
from ..plan import Plan, Signature
from .checks import (
    check_dict,
    check_dtype,
    check_index,
    check_int,
    check_json_data,
    check_list,
    check_shape,
    check_str,
    refuse,
)
from .container import ArraySpec, Dest, Reader, parse_table, write
from .graph_codec import GraphDecoder, encode_graph, ops_used, verify_loaded

FORMAT_VERSION = 1
READABLE_VERSIONS = (1,)
DEVICES = ("cpu", "gpu")
AUTO_METADATA = ("created", "numpy_version", "python_version", "graphc_version")
_TOP = {"format_version", "opset", "device", "opt_level", "graph", "signature", "test_vector", "metadata",
        "arrays"}


def opset_fingerprint(names: Sequence[str] | None = None) -> str:
    """A stable fingerprint of an op set (default: this graphc's registry): sha256 of the sorted names."""
    names = sorted(REGISTRY if names is None else names)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class IOSpec:
    """One entry of a plan's signature: a named input, output or state of a fixed shape and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    kind: str = "input"          # input | state | output | grad
    of: str | None = None        # for a gradient output: the state it is the gradient of

    def __str__(self) -> str:
        grad = f" (gradient of {self.of})" if self.of else ""
        return f"{self.name}: {self.dtype}{list(self.shape)}{grad}"


TestVector = tuple[list[np.ndarray], list[np.ndarray]]   # (inputs, expected outputs then updated states)


@dataclass
class PlanFile:
    """A checked plan file: the graph, its signature, state arrays, metadata and (after load) a Plan."""

    graph: Graph
    inputs: list[IOSpec]
    outputs: list[IOSpec]
    states: list[IOSpec]
    state_arrays: list[np.ndarray]
    metadata: dict
    format_version: int
    opset: str
    device: str
    opt_level: int
    test_vector: TestVector | None = None
    sizes: dict = field(default_factory=dict)
    plan: Plan | None = None

    @property
    def opset_matches(self) -> bool:
        """True when the file was written with exactly this graphc's op set."""
        return self.opset == opset_fingerprint()


# ---- saving ----------------------------------------------------------------------------------------------

def save(graph: Graph, path: Dest, *, arg_names: Sequence[str], output_names: Sequence[str],
         state_names: Sequence[str], state_arrays: Sequence[np.ndarray], metadata: dict | None = None,
         test_vector: TestVector | None = None, grad_of: Sequence[str] = (), device: str = "cpu",
         opt_level: int = 3, auto_metadata: bool = True) -> None:
    """Write `graph` (inputs: args then states) as a plan file, atomically when `path` is a path.

    The last len(grad_of) outputs are gradients of the named states; output_names names the others.
    """
    n_args, n_out = len(arg_names), len(graph.outputs) - len(grad_of)
    if n_args + len(state_names) != len(graph.inputs) or len(state_arrays) != len(state_names):
        raise GraphcTypeError(f"{n_args} argument and {len(state_names)} state names (with "
                              f"{len(state_arrays)} arrays) given for a graph of {len(graph.inputs)} inputs")
    if len(output_names) != n_out or n_out < 0:
        raise GraphcTypeError(f"{len(output_names)} output names given for {n_out} outputs")
    arrays: list[np.ndarray] = []
    desc = encode_graph(graph, arrays)
    sig_in = [_io(n, v) for n, v in zip(arg_names, graph.inputs[:n_args], strict=True)]
    states = []
    for n, v, a in zip(state_names, graph.inputs[n_args:], state_arrays, strict=True):
        a = np.asarray(to_host(a))
        if a.shape != v.shape or a.dtype != v.dtype:
            raise GraphcTypeError(f"state {n!r} is {v.dtype}{list(v.shape)} but its array is "
                                  f"{a.dtype}{list(a.shape)}")
        states.append(dict(_io(n, v), array=len(arrays)))
        arrays.append(a)
    outs = [dict(_io(n, v), kind="output", of=None)
            for n, v in zip(output_names, graph.outputs[:n_out], strict=True)]
    outs += [dict(_io(f"{s}.grad", v), kind="grad", of=s)
             for s, v in zip(grad_of, graph.outputs[n_out:], strict=True)]
    tv = None
    if test_vector is not None:
        ins, res = test_vector
        tv = {"inputs": list(range(len(arrays), len(arrays) + len(ins)))}
        arrays += [np.asarray(to_host(a)) for a in ins]
        tv["results"] = list(range(len(arrays), len(arrays) + len(res)))
        arrays += [np.asarray(to_host(a)) for a in res]
    meta = dict(_auto_metadata() if auto_metadata else {}, graphc_version=_version())
    meta.update(metadata or {})
    header = {"format_version": FORMAT_VERSION,
              "opset": {"fingerprint": opset_fingerprint(), "ops": sorted(ops_used(graph))},
              "device": device, "opt_level": opt_level, "graph": desc,
              "signature": {"inputs": sig_in, "outputs": outs, "states": states},
              "test_vector": tv, "metadata": meta}
    # Refuse here anything the loader would refuse, so no file is written that cannot be read back.
    table = _table_without_checksums(arrays)
    _check_description(dict(header, arrays=table), parse_table(table)[0])
    write(path, header, arrays)


def _io(name: str, v) -> dict:
    return {"name": name, "shape": list(v.shape), "dtype": str(np.dtype(v.dtype))}


def _table_without_checksums(arrays: list[np.ndarray]) -> list[dict]:
    table, offset = [], 0
    for a in arrays:
        table.append({"dtype": str(a.dtype), "shape": list(a.shape), "offset": offset, "nbytes": a.nbytes,
                      "sha256": "0" * 64})
        offset += a.nbytes
    return table


def _version() -> str:
    v = getattr(sys.modules.get("graphc"), "__version__", None)   # set once graphc is imported
    if v is None:
        try:
            v = importlib.metadata.version("graphc")
        except importlib.metadata.PackageNotFoundError:
            v = "unknown"
    return v


def _auto_metadata() -> dict:
    return {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "numpy_version": np.__version__, "python_version": platform.python_version()}


# ---- loading ---------------------------------------------------------------------------------------------

def read(path: Dest) -> PlanFile:
    """Read and check a plan file completely (graph verified, nothing compiled or run)."""
    try:
        return _read(path)
    except PlanFormatError:
        raise
    except OSError as e:
        raise PlanFormatError(f"cannot read the plan file {_name(path)}: {e.strerror or e}") from e
    except Exception as e:   # a check this module lacks: still one clear refusal, never a crash
        raise PlanFormatError(f"the plan file {_name(path)} is malformed ({type(e).__name__}: "
                              f"{str(e)[:200]})") from e


def load(path: Dest, device: str | None = None, verify: bool = False) -> PlanFile:
    """Read, check and compile a plan for `device` ("cpu" or "gpu"; None: where it was saved, if usable).

    verify=True also runs the embedded test vector and refuses the plan unless the results match.
    """
    if device is not None and device not in DEVICES:
        raise DeviceError(f"a plan runs on 'cpu' or 'gpu', not {device!r}")
    pf = read(path)
    if device is None:
        device = pf.device if pf.device == "cpu" or gpu_usable() else "cpu"
    elif device == "gpu" and not gpu_usable():
        raise DeviceError("device 'gpu' needs a CUDA GPU with CuPy, and none is available")
    pf.plan = compile_plan(pf, device)
    if verify:
        check_test_vector(pf)
    return pf


def compile_plan(pf: PlanFile, device: str) -> Plan:
    """Compile a checked plan's graph for `device`, refusing (not crashing) if that fails."""
    try:
        return compile_graph(pf.graph, pf.opt_level, device, _signature(pf))
    except GraphcError as e:
        if isinstance(e, PlanFormatError):
            raise
        refuse(f"the plan cannot be compiled: {_one_line(e)}")
    except Exception as e:
        refuse(f"the plan cannot be compiled ({type(e).__name__}: {_one_line(e)})")


def _signature(pf: PlanFile) -> Signature:
    return Signature.of(pf.graph, len(pf.inputs), sum(o.kind == "grad" for o in pf.outputs))


def _read(path: Dest) -> PlanFile:
    if isinstance(path, (str, os.PathLike)):
        with open(path, "rb") as f:
            return _from_reader(Reader(f))
    return _from_reader(Reader(path))


def _from_reader(r: Reader) -> PlanFile:
    h = r.header
    g, dec, sig, tv_refs = _check_description(h, r.specs)
    arrays = r.arrays()
    dec.attach(arrays)
    verify_loaded(g, dec.subgraphs)
    inputs, outputs, states, state_refs = sig
    tv = None
    if tv_refs is not None:
        tv = ([arrays[k] for k in tv_refs[0]], [arrays[k] for k in tv_refs[1]])
    sizes = {"file": r.data_start + r.data_nbytes, "description": r.data_start,
             "arrays": r.data_nbytes, "state": sum(arrays[k].nbytes for k in state_refs),
             "constants": sum(arrays[k].nbytes for _, k in dec.const_refs)}
    return PlanFile(g, inputs, outputs, states, [arrays[k] for k in state_refs], h["metadata"],
                    h["format_version"], h["opset"]["fingerprint"], h["device"], h["opt_level"], tv, sizes)


def _check_description(h: dict, specs: list[ArraySpec]) -> tuple:
    """Check every field of a description against the array table.

    Returns the graph, its decoder (constants to attach), the signature and the test vector's array indices.
    """
    version = h.get("format_version")
    if type(version) is not int or version not in READABLE_VERSIONS:   # not 1.0, not true
        newer = type(version) is int and version > FORMAT_VERSION
        refuse(f"the plan file has format version {str(version)[:20]}"
               f"{', written by a newer graphc' if newer else ''}; this graphc reads version "
               f"{', '.join(map(str, READABLE_VERSIONS))}")
    check_dict(h, "the plan's description", _TOP)
    opset = check_dict(h["opset"], "the op set", {"fingerprint", "ops"})
    fp = check_str(opset["fingerprint"], "the op-set fingerprint", 16)
    if len(fp) != 16 or fp.strip("0123456789abcdef"):
        refuse("the op-set fingerprint is not 16 hex digits")
    declared = set()
    for name in check_list(opset["ops"], "the op set's ops", 4096):
        check_str(name, "an op name")
        if name not in REGISTRY:
            refuse(f"the plan uses op {name[:60]!r}, which this graphc does not know "
                   f"(its op set is {fp}, this graphc's is {opset_fingerprint()})")
        declared.add(name)
    if h["device"] not in DEVICES:
        refuse(f"the plan's device must be one of {', '.join(DEVICES)}")
    check_int(h["opt_level"], "the optimization level", 0, 3)
    if not isinstance(h["metadata"], dict):
        refuse("the plan's metadata must be an object")
    check_json_data(h["metadata"], "the plan's metadata")
    dec = GraphDecoder(specs, declared)
    g = dec.graph(h["graph"])
    sig = _check_signature(h["signature"], g, specs)
    tv = _check_test_vector_refs(h["test_vector"], g, sig[0], specs)
    refs = [k for _, k in dec.const_refs] + sig[3] + (tv[0] + tv[1] if tv else [])
    if sorted(refs) != list(range(len(specs))):
        refuse("the array table does not match the arrays the description uses (each exactly once)")
    return g, dec, sig, tv


def _check_signature(d: object, g: Graph, specs) -> tuple:
    check_dict(d, "the signature", {"inputs", "outputs", "states"})
    ins = check_list(d["inputs"], "the signature's inputs")
    sts = check_list(d["states"], "the signature's states")
    outs = check_list(d["outputs"], "the signature's outputs")
    if len(ins) + len(sts) != len(g.inputs):
        refuse(f"the signature has {len(ins)} inputs and {len(sts)} states for a graph of "
               f"{len(g.inputs)} inputs")
    if len(outs) != len(g.outputs):
        refuse(f"the signature has {len(outs)} outputs for a graph of {len(g.outputs)}")
    inputs = [_spec(e, v, f"input {i}", {"name", "shape", "dtype"}, "input")
              for i, (e, v) in enumerate(zip(ins, g.inputs[:len(ins)], strict=True))]
    states, refs = [], []
    for i, (e, v) in enumerate(zip(sts, g.inputs[len(ins):], strict=True)):
        states.append(_spec(e, v, f"state {i}", {"name", "shape", "dtype", "array"}, "state"))
        k = check_index(e["array"], f"state {i}", len(specs))
        if specs[k].shape != v.shape or specs[k].dtype != v.dtype:
            refuse(f"state {i} is {v.dtype}{list(v.shape)} but its array {k} is "
                   f"{specs[k].dtype}{list(specs[k].shape)}")
        refs.append(k)
    state_names = {s.name for s in states}
    outputs = []
    for i, (e, v) in enumerate(zip(outs, g.outputs, strict=True)):
        o = _spec(e, v, f"output {i}", {"name", "shape", "dtype", "kind", "of"}, e.get("kind") if
                  isinstance(e, dict) else None)
        if o.kind not in ("output", "grad"):
            refuse(f"output {i} has kind {str(o.kind)[:20]!r}, not 'output' or 'grad'")
        if o.kind == "grad":
            if e["of"] not in state_names:
                refuse(f"output {i} is the gradient of {str(e['of'])[:60]!r}, which is not a state")
            o = IOSpec(o.name, o.shape, o.dtype, "grad", e["of"])
        elif e["of"] is not None or (outputs and outputs[-1].kind == "grad"):
            refuse(f"output {i} must come before the gradients and name no state")
        outputs.append(o)
    for what, lst in (("input", inputs), ("state", states), ("output", outputs)):
        if len({s.name for s in lst}) != len(lst):
            refuse(f"two {what}s of the signature share a name")
    return inputs, outputs, states, refs


def _spec(e: object, v, what: str, keys: set[str], kind) -> IOSpec:
    check_dict(e, f"the signature's {what}", keys)
    name = check_str(e["name"], f"the name of {what}")
    shape = check_shape(e["shape"], what)
    dtype = check_dtype(e["dtype"], what)
    if shape != v.shape or dtype != v.dtype:
        refuse(f"the signature's {what} {name[:60]!r} is {dtype}{list(shape)} but the graph's is "
               f"{v.dtype}{list(v.shape)}")
    return IOSpec(name, shape, dtype, kind)


def _check_test_vector_refs(d: object, g: Graph, inputs: list[IOSpec], specs) -> tuple | None:
    if d is None:
        return None
    check_dict(d, "the test vector", {"inputs", "results"})
    ins = [check_index(k, "the test vector", len(specs)) for k in check_list(d["inputs"], "the test vector")]
    res = [check_index(k, "the test vector", len(specs)) for k in check_list(d["results"], "the test vector")]
    want = [(s.shape, s.dtype) for s in inputs]
    want_res = [v.type for v in g.outputs] + [v.type for _, v in g.updates]
    got = [(specs[k].shape, specs[k].dtype) for k in ins]
    got_res = [(specs[k].shape, specs[k].dtype) for k in res]
    if got != want or got_res != want_res:
        refuse("the test vector's arrays do not match the plan's signature")
    return ins, res


def describe(pf: PlanFile) -> dict:
    """A JSON-ready description of a checked plan file (what `graphc info` prints)."""
    def io(s: IOSpec) -> dict:
        return {"name": s.name, "shape": list(s.shape), "dtype": str(s.dtype), "kind": s.kind, "of": s.of}
    ops = Counter(n.op.name for n in pf.graph.nodes)
    return {"format_version": pf.format_version, "opset": pf.opset, "opset_matches": pf.opset_matches,
            "device": pf.device, "opt_level": pf.opt_level, "test_vector": pf.test_vector is not None,
            "inputs": [io(s) for s in pf.inputs], "outputs": [io(s) for s in pf.outputs],
            "states": [io(s) for s in pf.states], "updates": len(pf.graph.updates),
            "nodes": len(pf.graph.nodes), "ops": dict(ops.most_common()),
            "roles": dict(Counter(n.role for n in pf.graph.nodes).most_common()),
            "sizes": pf.sizes, "metadata": pf.metadata}


# ---- test vectors ----------------------------------------------------------------------------------------

def has_random_ops(g: Graph) -> bool:
    """True when the graph draws random numbers (its results cannot be checked against a test vector)."""
    return any(REGISTRY[n].random for n in ops_used(g))


def run_plan(plan: Plan, inputs: Sequence, states: Sequence) -> list[np.ndarray]:
    """Run a plan on host arrays (moved to its device) and return host arrays; the arrays are not changed.

    A training plan may update a state's buffer in place (when it may write into it): the states go in as
    read-only views, so a test run never trains the live model, the loaded state or the file's arrays.
    """
    xp = array_module(plan.device)
    r = plan.run([_readonly(xp.asarray(a)) for a in inputs], [_readonly(xp.asarray(a)) for a in states])
    updated = [r.states[k] for k in plan.signature.updates]
    return [np.array(to_host(a)) for a in r.outputs + r.grads + updated]


def _readonly(a):
    if isinstance(a, np.ndarray):
        a = a.view()
        a.flags.writeable = False
    return a


def make_test_vector(graph: Graph, inputs: Sequence[np.ndarray], state_arrays: Sequence[np.ndarray],
                     opt_level: int = 3, plan: Plan | None = None) -> TestVector:
    """Inputs and the results a plan of `graph` gives for them (on the CPU unless `plan` is given)."""
    plan = plan or compile_graph(graph, opt_level, "cpu", Signature.of(graph, len(inputs)))
    ins = [np.ascontiguousarray(a) for a in inputs]
    return ins, run_plan(plan, ins, state_arrays)


def check_test_vector(pf: PlanFile) -> None:
    """Run the plan on its embedded test vector; refuse it unless the results match."""
    if pf.test_vector is None:
        refuse("the plan carries no test vector to verify")
    ins, want = pf.test_vector
    try:
        got = run_plan(pf.plan, ins, pf.state_arrays)
    except Exception as e:
        refuse(f"the plan fails on its own test vector ({type(e).__name__}: {_one_line(e)})")
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


# ---- helpers ---------------------------------------------------------------------------------------------

def _name(path: object) -> str:
    return repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else "stream"


def _one_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0][:300] if s else type(e).__name__


__all__ = ["FORMAT_VERSION", "IOSpec", "PlanFile", "TestVector", "save", "read", "load", "compile_plan",
           "describe", "make_test_vector", "check_test_vector", "run_plan", "has_random_ops",
           "opset_fingerprint"]
