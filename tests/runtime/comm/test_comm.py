"""What ranks decide alone: the report when they disagree, and NCCL or MPI for a GPU group."""
from __future__ import annotations

from graphc.runtime.comm.agreement import first_difference, mismatch_report
from graphc.runtime.comm.backend import choose_gpu_backend

A = ["all_reduce_sum(float32[10]; size=2)  @ train.py:30", "all_reduce_sum(float32[2410]; size=2)  @ train.py:30"]
B = ["all_reduce_sum(float32[10]; size=2)  @ train.py:30", "broadcast(float32[4]; root=0, size=2)  @ train.py:41",
     "all_reduce_sum(float32[2410]; size=2)  @ train.py:30"]


def test_the_first_difference_ignores_source_lines():
    moved = [line.replace("train.py:30", "other.py:1") for line in A]
    assert first_difference(A, moved) == 2
    assert first_difference(A, B) == 1
    assert first_difference(A, A[:1]) == 1


def test_the_report_shows_both_ranks_lists_with_the_difference_marked():
    text = mismatch_report(0, [b"a", b"b", b"a"], ["\n".join(A), "\n".join(B), "\n".join(A)], "a plan")
    head, *lines = text.splitlines()
    assert "rank 0 and rank 1 differ at collective 1" in head and "what rank 0 runs: 0, 2" in head
    assert lines[0] == "rank 0 starts 2:"
    assert lines[2] == "  > 1: " + A[1]
    assert "rank 1 starts 3:" in lines
    assert "  > 1: " + B[1] in lines


def test_a_rank_with_fewer_collectives_is_shown_ending():
    text = mismatch_report(1, [b"a", b"b"], ["\n".join(B), "\n".join(B[:1])], "a plan")
    assert "  > 1: (nothing: this rank's list ends here)" in text


def test_long_lists_are_cut_around_the_difference():
    many = [f"all_reduce_sum(float32[{i}]; size=2)" for i in range(40)]
    changed = many[:20] + ["broadcast(float32[1]; root=0, size=2)"] + many[21:]
    text = mismatch_report(0, [b"a", b"b"], ["\n".join(many), "\n".join(changed)], "a plan")
    assert "... 17 before" in text and "  > 20: broadcast" in text and "more" in text
    assert len(text.splitlines()) < 40


def test_nccl_serves_ranks_with_a_gpu_each():
    assert choose_gpu_backend([("a", 0), ("a", 1), ("b", 0)], None) == ("nccl", None)


def test_ranks_sharing_a_gpu_fall_back_to_mpi():
    use, why = choose_gpu_backend([("a", 0), ("a", 1), ("a", 0)], None)
    assert use == "mpi" and why.startswith("ranks 0 and 2 share GPU 0 on a, which NCCL refuses")


def test_missing_nccl_falls_back_to_mpi():
    assert choose_gpu_backend([("a", 0), ("b", 0)], "no NCCL here") == ("mpi", "no NCCL here")
