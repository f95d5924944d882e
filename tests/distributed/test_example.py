"""examples/mlp_digits_distributed.py: data-parallel training on 2 and 3 processes (3 splits each batch of
64 unevenly) gives the parameters of one process training on the whole batches, eager and traced, with SGD
and Adam, started by mpiexec and by graphc.distributed.launcher."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from mpi_jobs import mpiexec, run_job

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples",
                       "mlp_digits_distributed.py")
ARGS = ["--steps", "15", "--hidden", "32"]


def _check(report: dict, n: int, modes: set[str]) -> None:
    assert report["world_size"] == n and set(report["modes"]) == modes
    for mode, r in report["modes"].items():
        # The ranks sum each gradient in another order than one process does; so does one process that only
        # reorders the rows. The example measures that reordering's effect in the same run (it follows this
        # machine's float32 summation), and the distributed run must stay within a few times of it, or of a
        # few float32 units in the last place of the largest parameter when reordering changes nothing.
        ulp = float(np.spacing(np.float32(r["max_abs_param"])))
        assert r["max_abs_diff"] <= 8 * max(r["reorder_diff"], ulp), (mode, r)
        assert r["max_abs_param"] > 0.1


@pytest.mark.parametrize("n", [2, 3])
def test_data_parallel_training_matches_one_process(n, tmp_path):
    pytest.importorskip("sklearn", reason="scikit-learn provides the digits")
    out = tmp_path / "report.json"
    r = run_job(n, EXAMPLE, *ARGS, "--compare-all", "--json", str(out), timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    _check(json.loads(out.read_text()), n, {"traced-adam", "traced-sgd", "eager-adam", "eager-sgd"})
    assert r.stdout.count("processes vs one process on the whole batches") == 4   # rank 0 prints, once per mode


def test_the_launcher_starts_the_same_training(tmp_path):
    pytest.importorskip("sklearn", reason="scikit-learn provides the digits")
    mpiexec()
    out = tmp_path / "report.json"
    r = subprocess.run([sys.executable, EXAMPLE, *ARGS, "--launch", "2", "--json", str(out)], capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    _check(json.loads(out.read_text()), 2, {"traced-adam"})
