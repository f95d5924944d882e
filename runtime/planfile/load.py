"""Loading a plan: every field of the file checked, the graph rebuilt and verified, then compiled.

The file is data, never code (see container.py for the byte layout, graph_codec.py for the graph's JSON
form). Loading refuses anything it cannot fully check with a PlanFormatError of one sentence; no other
exception escapes, and nothing is allocated or run before the checks that bound it.
"""
from __future__ import annotations

import os

from graphc.config import config
from graphc.ir import REGISTRY, Graph
from graphc.ir.errors import DeviceError, GraphcError, PlanFormatError, ResourceError
from graphc.ir.symbols import Dim, evaluate

from ..arrays import gpu_missing, gpu_usable
from ..compile import compile_graph
from ..plan import Plan, Signature
from .checks import (
    check_dict,
    check_dtype,
    check_index,
    check_int,
    check_json_data,
    check_list,
    check_name,
    check_sizes,
    check_str,
    refuse,
)
from .container import ArraySpec, Dest, Reader
from .graph_codec import GraphDecoder, verify_loaded
from .spec import DEVICES, FORMAT_VERSION, READABLE_VERSIONS, TOP_FIELDS, IOSpec, PlanFile, one_line, opset_fingerprint
from .test_vector import check_test_vector


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


def load(path: Dest, device: str | None = None, verify: bool = False, max_memory: int | None = None) -> PlanFile:
    """Read, check and compile a plan for `device` ("cpu" or "gpu"; None: where it was saved, if usable).

    verify=True also runs the embedded test vector and refuses the plan unless the results match. A plan
    whose calls would hold more than `max_memory` bytes at once is refused (default: config.max_plan_memory).
    """
    if device is not None and device not in DEVICES:
        raise DeviceError(f"a plan runs on 'cpu' or 'gpu', not {device!r}")
    pf = read(path)
    if device is None:
        device = pf.device if pf.device == "cpu" or gpu_usable() else "cpu"
    elif device == "gpu" and not gpu_usable():
        raise DeviceError(f"device 'gpu' needs a CUDA GPU with CuPy, and none is available: {gpu_missing()}")
    pf.plan = compile_plan(pf, device, config.max_plan_memory if max_memory is None else max_memory)
    if verify:
        check_test_vector(pf)
    return pf


def compile_plan(pf: PlanFile, device: str, max_memory: int | None = None) -> Plan:
    """Compile a checked plan's graph for `device`, refusing (not crashing) if that fails or if its calls
    would hold more than `max_memory` bytes."""
    try:
        return compile_graph(pf.graph, pf.opt_level, device, _signature(pf), max_memory=max_memory)
    except ResourceError as e:
        refuse(f"{e}; a caller that trusts this file can raise the limit (graphc.load(..., max_memory=...), "
               "graphc run --max-memory)")
    except GraphcError as e:
        if isinstance(e, PlanFormatError):
            raise
        refuse(f"the plan cannot be compiled: {one_line(e)}")
    except Exception as e:
        refuse(f"the plan cannot be compiled ({type(e).__name__}: {one_line(e)})")


def _signature(pf: PlanFile) -> Signature:
    return Signature.of(pf.graph, len(pf.inputs), sum(o.kind == "grad" for o in pf.outputs))


def _read(path: Dest) -> PlanFile:
    if isinstance(path, (str, os.PathLike)):
        with open(path, "rb") as f:
            return _from_reader(Reader(f))
    return _from_reader(Reader(path))


def _from_reader(r: Reader) -> PlanFile:
    h = r.header
    g, dec, sig, tv_refs = check_description(h, r.specs)
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


def check_description(h: dict, specs: list[ArraySpec]) -> tuple:
    """Check every field of a description against the array table.

    Returns the graph, its decoder (constants to attach), the signature and the test vector's array indices.
    """
    version = h.get("format_version")
    if type(version) is not int or version not in READABLE_VERSIONS:   # not 1.0, not true
        newer = type(version) is int and version > FORMAT_VERSION
        refuse(f"the plan file has format version {str(version)[:20]}"
               f"{', written by a newer graphc' if newer else ''}; this graphc reads version "
               f"{', '.join(map(str, READABLE_VERSIONS))}")
    check_dict(h, "the plan's description", TOP_FIELDS)
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
    dec = GraphDecoder(specs, declared, version)
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
    index = {v: i for i, v in enumerate(g.inputs)}
    for i, (s, _) in enumerate(g.updates):
        if index[s] < len(ins):
            refuse(f"the graph's update {i} assigns input {index[s]}, an argument; only states are updated")
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
    name = check_name(e["name"], f"the name of {what}")
    shape = check_sizes(e["shape"], what, symbolic=True)   # equal to the graph's, which v1 keeps static
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
    want = [(s.shape, s.dtype) for s in inputs] + [v.type for v in g.outputs] + [v.type for _, v in g.updates]
    got = [(specs[k].shape, specs[k].dtype) for k in ins + res]
    if len(ins) != len(inputs) or not _fit(want, got, g):
        refuse("the test vector's arrays do not match the plan's signature")
    return ins, res


def _fit(want: list, got: list, g: Graph) -> bool:
    """The concrete (shape, dtype) pairs `got` are the symbolic ones `want` for one value of each symbol."""
    if len(want) != len(got) or any(wd != gd or len(ws) != len(gs) for (ws, wd), (gs, gd) in zip(want, got)):
        return False
    free: dict[str, int] = {}
    for (ws, _), (gs, _) in zip(want, got):
        for d, n in zip(ws, gs):
            if type(d) is not int and d.symbols == {name := next(iter(d.symbols))} and d == Dim.symbol(name):
                if free.setdefault(name, n) != n:
                    return False
    try:
        env = g.facts.bind(free)
        return all(evaluate(ws, env) == gs for (ws, _), (gs, _) in zip(want, got)) and g.facts.failed(env) is None
    except KeyError:     # a symbol no array gave a value
        return False


def _name(path: object) -> str:
    return repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else "stream"
