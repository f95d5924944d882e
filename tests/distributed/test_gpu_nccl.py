"""graphc.distributed on a CUDA GPU (skipped without one): NCCL for one rank per GPU, its traced step still
replayed as one CUDA graph; two ranks sharing a GPU fall back to MPI on host buffers with a warning."""
from __future__ import annotations

from gpu_device import cupy_and_marks
from mpi_jobs import run_job

cupy, pytestmark = cupy_and_marks()


def test_nccl_collectives_and_a_captured_step():
    r = run_job(1, "gpu.py", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert "rank 0 backend nccl warnings []" in r.stdout
    assert "rank 0 values ok, captured True, refused None" in r.stdout


def test_ranks_sharing_a_gpu_go_through_host_buffers_with_a_warning():
    r = run_job(2, "gpu.py", "shared", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    for rank in (0, 1):
        assert (f"rank {rank} backend mpi warnings ['graphc.distributed: collectives go through MPI on host "
                "buffers: ranks 0 and 1 share GPU 0 on") in r.stdout
        assert (f"rank {rank} values ok, captured False, refused its collectives go through MPI on host "
                "buffers") in r.stdout
