"""graphc.distributed on real MPI jobs (mpiexec -n 2 and 3, started from the tests with a timeout): the
collectives and their gradients, a saved plan run on every rank, the launcher, and how a job fails."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from mpi_jobs import JOBS, mpiexec, run_job

CHECKS = ["all_reduce_sum", "all_reduce_max", "all_reduce_min", "broadcast", "all_gather", "reduce_scatter_sum"]


@pytest.mark.parametrize("n", [2, 3])
def test_collectives_their_gradients_and_a_saved_plan_on_every_rank(n, tmp_path):
    r = run_job(n, "collectives.py", str(tmp_path / "step.gcplan"), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    # The ranks' lines reach mpiexec's output in any order, even run together: count the checks.
    for check in [f"{c} values" for c in CHECKS] + [f"{c} gradient" for c in CHECKS] + ["plan file",
                                                                                         "reduce_sum and integers"]:
        assert r.stdout.count(f"ok {check}") == n, check


def _line(script: str, text: str) -> str:
    """Where `text` is in a job script, as tracebacks name it."""
    with open(f"{JOBS}/{script}") as f:
        return f"{JOBS}/{script}:{next(i for i, line in enumerate(f, 1) if text in line)}"


def _stopped(out: str) -> dict[int, float]:
    return {int(r): float(s) for r, s in re.findall(r"rank (\d) stopped after ([\d.]+) s", out)}


def test_a_rank_that_raises_stops_the_others_with_its_error():
    r = run_job(3, "failures.py", "raise", "30")
    assert r.returncode != 0
    assert "ZeroDivisionError: rank one divides by zero" in r.stderr
    for other in (0, 2):
        assert (f"RemoteRankError: rank 1 failed: ZeroDivisionError: rank one divides by zero (at "
                f"{_line('failures.py', 'raise ZeroDivisionError')}) (rank {other} was waiting for it in") in r.stderr
    stopped = _stopped(r.stdout)
    assert set(stopped) == {0, 1, 2} and max(stopped.values()) < 10   # long before the 30 s timeout


def test_a_rank_that_leaves_makes_the_others_time_out():
    r = run_job(2, "failures.py", "exit", "1.5")
    assert r.returncode != 0
    assert ("CollectiveTimeout: rank 0 waited 1.5 s for the other ranks in the agreement on an eager "
            "all_reduce_sum: a rank may have died, hung, or be running other collectives") in r.stderr
    assert 1.5 <= _stopped(r.stdout)[0] < 10


def test_a_killed_rank_ends_the_job():
    start = time.monotonic()
    r = run_job(2, "failures.py", "kill", "30")
    assert r.returncode != 0 and time.monotonic() - start < 20
    assert "BAD TERMINATION" in r.stdout + r.stderr and "signal 9" in r.stdout + r.stderr


def test_ranks_that_traced_different_graphs_report_both_lists():
    r = run_job(2, "failures.py", "branch", "30")
    assert r.returncode != 0
    text = r.stderr
    assert text.count("CollectiveMismatch: the ranks are about to run different collectives (a compiled plan's "
                      "collectives)") == 2
    assert "rank 0 and rank 1 differ at collective 0" in text and "rank 1 and rank 0 differ at collective 0" in text
    assert f"  > 0: broadcast(float32[4]; root=0, size=2)  @ {_line('failures.py', 'y = DF.broadcast')}" in text
    assert f"  > 0: all_reduce_sum(float32[4]; size=2)  @ {_line('failures.py', 'return DF.all_reduce')}" in text
    assert max(_stopped(r.stdout).values()) < 10


def test_an_eager_collective_of_another_shape_is_reported():
    r = run_job(2, "failures.py", "shape", "30")
    assert r.returncode != 0
    assert "differ at collective 0" in r.stderr and max(_stopped(r.stdout).values()) < 10
    assert "all_reduce_sum {'size': 2} <f4(4,)" in r.stderr and "all_reduce_sum {'size': 2} <f4(5,)" in r.stderr


def test_asking_for_another_world_size_says_how_to_start_the_job():
    r = run_job(2, "failures.py", "size")
    assert r.returncode != 0
    assert ("init_process_group asks for rank 0 of 3, but this process is rank 0 of 2 processes: start the job "
            "with `mpiexec -n 3 python ...`") in r.stderr


def test_the_launcher_runs_a_function_on_every_rank_and_reports_failures():
    mpiexec()
    r = subprocess.run([sys.executable, f"{JOBS}/launch.py"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    first, second, third = (json.loads(line) for line in r.stdout.splitlines())
    assert first == [{"rank": k, "size": 2, "total": 5, "label": "x", "backend": "mpi"} for k in (0, 1)]
    assert second == [[0, 0, 1, 1, 2, 2]] * 3
    error = third["error"]
    assert error.startswith("the distributed run of failing failed (mpiexec exited with status 1):")
    where = _line("launch.py", "raise ValueError")
    assert f"rank 1: ValueError: rank one gives up (at {where})" in error
    assert f"rank 0: RemoteRankError: rank 1 failed: ValueError: rank one gives up (at {where})" in error
