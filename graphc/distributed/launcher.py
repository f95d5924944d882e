"""MegEngine's `launcher` decorator: calling the decorated function runs it on N processes and returns each
rank's result. graphc starts the processes through mpiexec, so the same code path serves one machine and
several (`hosts=`: a host file or a list of machine names), and the workers are exactly what
`mpiexec -n N python ...` would start.

The call travels in an environment variable, which mpiexec passes to every rank on every machine: the
function by name (its module and qualified name; a script's functions are imported from its file without
running its `if __name__ == "__main__":` block) and its arguments as JSON data. The ranks' return values
(JSON data, or .npy bytes for arrays and Tensors) are gathered to rank 0, which writes them to a folder of
the launching machine (so rank 0 must run there: list it first among `hosts`). Nothing is pickled.
"""
from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable

import numpy as np

from ..config import config
from ..device import is_cuda_available
from ..ir.errors import CollectiveError, GraphcTypeError
from ..runtime.gpu import nccl

SPEC_VARIABLE = "GRAPHC_LAUNCH"


def find_mpiexec() -> str:
    """config.mpiexec, else the mpiexec installed beside this Python (pip install mpich), else one on PATH."""
    if config.mpiexec:
        return config.mpiexec
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")
    if not found:
        raise CollectiveError("no mpiexec found: pip install mpich mpi4py (or set GRAPHC_MPIEXEC)")
    return found


def _device_count(device_type: str) -> int:
    if device_type in ("gpu", "cuda") or (device_type == "xpu" and is_cuda_available()):
        return nccl.device_count()
    return os.cpu_count() or 1


class launcher:
    """Run a function on several processes: `launcher(f, n_gpus=2)(*args)` or `@launcher(n_gpus=2)`.

    n_gpus: processes to start (default: one per GPU, or per CPU core without GPUs); world_size must equal it
    (spread ranks over machines with `hosts`). rank_start, master_ip and port are MegEngine's and unused: MPI
    brings the processes together. timeout: seconds a collective waits for the other ranks.
    """

    def __new__(cls, *args, **kwargs):
        if not args:
            return functools.partial(cls, **kwargs)
        return super().__new__(cls)

    def __init__(self, func: Callable, n_gpus: int | None = None, world_size: int | None = None, rank_start: int = 0,
                 master_ip: str = "localhost", port: int = 0, device_type: str = "xpu", backend: str = "nccl", *,
                 hosts: str | list[str] | None = None, timeout: float | None = None) -> None:
        functools.update_wrapper(self, func)
        self.func = func
        self.n = n_gpus if n_gpus is not None else (world_size or _device_count(device_type))
        if world_size is not None and world_size != self.n:
            raise CollectiveError(f"launcher: world_size={world_size} but n_gpus={self.n}: one launcher starts every "
                                  "rank through mpiexec (spread them over machines with hosts=...)")
        if rank_start:
            raise CollectiveError("launcher: rank_start is not needed: one launcher starts every rank through "
                                  "mpiexec (give hosts=... to use several machines)")
        self.device_type, self.backend, self.hosts, self.timeout = device_type, backend, hosts, timeout

    def command(self) -> list[str]:
        """The mpiexec command line that starts the workers."""
        hosts = []
        if isinstance(self.hosts, str):
            hosts = ["-f", self.hosts]
        elif self.hosts:
            hosts = ["-hosts", ",".join(self.hosts)]
        return [find_mpiexec(), "-n", str(self.n), *hosts, sys.executable, "-m", "graphc.distributed.worker"]

    def __call__(self, *args, **kwargs) -> list:
        """Run the function on every rank; the ranks' return values, by rank (None where none came back)."""
        if SPEC_VARIABLE in os.environ:
            raise CollectiveError(f"launcher: {self.func.__qualname__} was called while a worker imported its "
                                  "module: call it under `if __name__ == \"__main__\":`")
        with tempfile.TemporaryDirectory(prefix="graphc-launch-") as d:
            spec = call_spec(self.func, args, kwargs, {"dir": d, "backend": self.backend,
                                                       "device_type": self.device_type, "timeout": self.timeout})
            rc = subprocess.run(self.command(), env={**os.environ, SPEC_VARIABLE: spec}).returncode
            results = [read_result(d, r) for r in range(self.n)]
            errors = [read_error(d, r) for r in range(self.n)]
        if rc != 0 or any(errors):
            lines = [f"rank {r}: {e or 'no report (killed, stopped by mpiexec, or on another machine)'}"
                     for r, e in enumerate(errors) if e or results[r] is _MISSING]
            raise CollectiveError(f"the distributed run of {self.func.__qualname__} failed (mpiexec exited with "
                                  f"status {rc}):\n" + "\n".join(lines))
        if any(r is _MISSING for r in results):
            warnings.warn("launcher: no results came back (rank 0 must run on this machine)", stacklevel=2)
        return [None if r is _MISSING else r for r in results]


# ---- what travels between the launcher and its workers -------------------------------------------------

_MISSING = object()


def call_spec(func: Callable, args: tuple, kwargs: dict, options: dict) -> str:
    """The call as JSON text: the function by module and name, its arguments, the launcher's options."""
    if "<locals>" in func.__qualname__:
        raise GraphcTypeError(f"launcher: {func.__qualname__} must be defined at the top level of its module, "
                              "so that the workers can import it")
    module = sys.modules.get(func.__module__)
    spec = {"module": func.__module__, "file": os.path.abspath(getattr(module, "__file__", "") or ""),
            "qualname": func.__qualname__, "args": list(args), "kwargs": kwargs, **options}
    try:
        return json.dumps(spec)
    except TypeError as e:
        raise GraphcTypeError(f"launcher: the arguments travel to the workers as JSON data (numbers, strings, "
                              f"lists, dicts): {e}") from None


def encode_result(rank: int, value: object) -> bytes:
    """A rank's return value as bytes: b"N" and .npy bytes for arrays and Tensors, b"J" and JSON otherwise."""
    if hasattr(value, "numpy") and callable(value.numpy):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return b"N" + buf.getvalue()
    try:
        return b"J" + json.dumps(value).encode()
    except TypeError:
        raise GraphcTypeError(f"launcher: rank {rank} returned a {type(value).__name__}; return JSON data, a "
                              "NumPy array or a Tensor") from None


def write_result(d: str, rank: int, blob: bytes) -> None:
    """Store a rank's encoded return value in the launcher's folder (atomically)."""
    path = os.path.join(d, f"result-{rank}.{'npy' if blob[:1] == b'N' else 'json'}")
    with open(path + ".tmp", "wb") as f:
        f.write(blob[1:])
    os.replace(path + ".tmp", path)


def write_error(d: str, rank: int, message: str) -> None:
    """Store why a rank failed, for the launcher's error (where the folder exists: on the launching machine)."""
    if os.path.isdir(d):
        with open(os.path.join(d, f"error-{rank}.txt"), "w") as f:
            f.write(message)


def read_result(d: str, rank: int) -> object:
    """A rank's return value, or _MISSING."""
    npy, js = os.path.join(d, f"result-{rank}.npy"), os.path.join(d, f"result-{rank}.json")
    if os.path.exists(npy):
        return np.load(npy, allow_pickle=False)
    if os.path.exists(js):
        with open(js) as f:
            return json.load(f)
    return _MISSING


def read_error(d: str, rank: int) -> str | None:
    """Why a rank failed, if it said."""
    path = os.path.join(d, f"error-{rank}.txt")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read()
