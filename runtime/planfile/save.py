"""Saving a plan: a graph, its signature, state and an optional test vector, written atomically as one file."""
from __future__ import annotations

import datetime
import importlib.metadata
import platform
import sys
from collections.abc import Sequence

import numpy as np

from graphc.ir import Graph
from graphc.ir.errors import GraphcTypeError

from ..arrays import to_host
from .container import Dest, parse_table, write
from .graph_codec import encode_dims, encode_graph, ops_used
from .load import check_description
from .spec import FORMAT_VERSION, TestVector, opset_fingerprint


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
    check_description(dict(header, arrays=table), parse_table(table)[0])
    write(path, header, arrays)


def _io(name: str, v) -> dict:
    return {"name": name, "shape": encode_dims(v.shape), "dtype": str(np.dtype(v.dtype))}


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
