"""Starting MPI jobs from tests: `mpiexec -n N python script ...` as a subprocess with a timeout (the test is
skipped where mpi4py or mpiexec is missing)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

JOBS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "distributed", "jobs")


def mpiexec() -> str:
    """The mpiexec beside this Python (pip install mpich) or on PATH; skips the test without one."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install mpich mpi4py)")
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")
    if not found:
        pytest.skip("no mpiexec (pip install mpich)")
    return found


def run_job(n: int, script: str, *args: str, timeout: float = 60,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run tests/distributed/jobs/<script> (or a path) on n ranks; stdout and stderr are captured as text."""
    path = script if os.path.isabs(script) else os.path.join(JOBS, script)
    cmd = [mpiexec(), "-n", str(n), sys.executable, path, *args]
    support = os.path.dirname(os.path.abspath(__file__))      # jobs import the shared steps too
    path_var = os.pathsep.join(p for p in (support, os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": path_var, **(env or {})})
