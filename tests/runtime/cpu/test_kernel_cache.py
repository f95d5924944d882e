"""The compiled-kernel cache under hostile and broken conditions (issue 15 items 2, 3 and 10): a private
directory, entries checked against their recorded sha256 before loading, nothing planted ever loaded or
followed, and a cache that cannot be used, a corrupt entry or a hanging compiler never breaking a call."""
from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tempfile
import time

import numpy as np
import pytest

import graphc.runtime.cpu.c_kernel as cpu_c
import graphc.runtime.files as files
from graphc.config import config
from graphc.ir import Graph, building, emit
from graphc.passes.fuse import fuse
from graphc.runtime.lower import lower

pytestmark = pytest.mark.skipif(cpu_c.compiler() is None, reason="no C compiler")
F64 = np.dtype(np.float64)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh kernel cache, nothing built in this process yet, no warning given yet."""
    d = tmp_path / "cache"
    monkeypatch.setattr(config, "cache_dir", str(d))
    monkeypatch.setattr(cpu_c, "_warned", set(), raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))    # where builds make their directories
    cpu_c._build.cache_clear()
    yield d
    cpu_c._build.cache_clear()


def _node(scale: float = 3.0):
    g = Graph()
    x = g.add_input((64,), F64)
    with building(g):
        g.outputs = [emit("exp", [x]) * scale]
    fuse(g)
    return g.nodes[0]


def _run(node, scale: float = 3.0) -> None:
    x = np.linspace(0, 1, 64)
    np.testing.assert_allclose(cpu_c.CFusedKernel(node)(x), np.exp(x) * scale, rtol=1e-12)


def _entry(cache) -> str:
    (so,) = cache.glob("fused-*.so")
    return str(so)


def _evil_library(tmp_path, marker) -> bytes:
    """A shared library whose constructor creates `marker` (what a planted file would do)."""
    src = tmp_path / "evil.c"
    src.write_text('#include <stdio.h>\n__attribute__((constructor)) static void run(void) '
                   f'{{ FILE* f = fopen("{marker}", "w"); if (f) fclose(f); }}\n')
    out = tmp_path / "evil.so"
    subprocess.run([cpu_c.compiler(), "-shared", "-fPIC", str(src), "-o", str(out)], check=True)
    return out.read_bytes()


def test_the_cache_is_private_and_entries_carry_their_sha256(cache):
    _run(_node())
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    so = _entry(cache)
    assert open(so + ".sha256").read() == hashlib.sha256(open(so, "rb").read()).hexdigest()
    assert stat.S_IMODE(os.stat(so).st_mode) == 0o600
    assert sorted(os.listdir(cache)) == [os.path.basename(so), os.path.basename(so) + ".sha256"]


def test_a_planted_library_is_never_loaded(cache, tmp_path):
    """Item 2: a file under a kernel's (predictable) name ran its constructor in the loading process."""
    node = _node()
    _run(node)
    so = _entry(cache)
    marker = tmp_path / "owned"
    evil = _evil_library(tmp_path, marker)
    for sidecar in (None, "0" * 64, hashlib.sha256(b"something else").hexdigest()):
        with open(so, "wb") as f:
            f.write(evil)
        if sidecar is None:
            os.unlink(so + ".sha256")
        else:
            open(so + ".sha256", "w").write(sidecar)
        cpu_c._build.cache_clear()
        _run(node)
        assert not marker.exists()
        assert open(so, "rb").read() != evil                 # the entry was rebuilt
    assert open(so + ".sha256").read() == hashlib.sha256(open(so, "rb").read()).hexdigest()


def test_entries_of_another_user_or_writable_by_others_are_not_trusted(cache, tmp_path, monkeypatch):
    node = _node()
    _run(node)
    so = _entry(cache)
    marker = tmp_path / "owned"
    evil = _evil_library(tmp_path, marker)
    with open(so, "wb") as f:                                 # with a matching sha256 beside it ...
        f.write(evil)
    open(so + ".sha256", "w").write(hashlib.sha256(evil).hexdigest())
    os.chmod(so, 0o666)                                       # ... but writable by others
    cpu_c._build.cache_clear()
    _run(node)
    assert not marker.exists()


@pytest.mark.parametrize("how", ["other user", "writable by others"])
def test_a_cache_directory_that_is_not_private_is_not_used(cache, monkeypatch, how):
    os.makedirs(cache)
    if how == "other user":
        uid = os.geteuid()
        monkeypatch.setattr(files.os, "geteuid", lambda: uid + 1)
    else:
        os.chmod(cache, 0o777)
    with pytest.warns(RuntimeWarning, match="not using the kernel cache.*refusing to use this directory"):
        _run(_node())
    assert os.listdir(cache) == []                            # nothing read from it or written to it
    _run(_node(4.0), 4.0)                                          # one warning, not one per kernel


def test_temporaries_are_never_followed_through_planted_links(cache, tmp_path, monkeypatch):
    """Item 3: the built library was copied to `<entry>.<pid>.tmp`, following a symlink planted there."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    node = _node()
    _run(node)
    so = _entry(cache)
    os.unlink(so)
    os.unlink(so + ".sha256")
    first_try = os.path.join(cache, f".{os.path.basename(so)}.planted.graphc-tmp")
    for link in (f"{so}.{os.getpid()}.tmp", first_try):      # the old name, and the first name tried now
        os.symlink(victim, link)
    names = iter(["planted"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(names, os.urandom(n).hex()))
    cpu_c._build.cache_clear()
    _run(node)
    assert victim.read_bytes() == b"precious"
    assert os.path.islink(first_try) and not os.path.islink(so)


def test_a_corrupt_entry_is_rebuilt(cache):
    """Item 10: a truncated library failed on every run and was never rebuilt."""
    node = _node()
    _run(node)
    so = _entry(cache)
    size = os.path.getsize(so)
    with open(so, "r+b") as f:
        f.truncate(size // 3)
    cpu_c._build.cache_clear()
    _run(node)
    assert os.path.getsize(so) == size


def test_a_cache_that_cannot_be_used_falls_back_with_one_warning(cache, tmp_path, monkeypatch):
    """Item 10: an unusable or full cache made traced calls raise PermissionError/OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(config, "cache_dir", str(blocker / "cache"))     # cannot be created
    with pytest.warns(RuntimeWarning, match="not using the kernel cache"):
        _run(_node())
    monkeypatch.setattr(config, "cache_dir", str(cache))
    monkeypatch.setattr(cpu_c, "_warned", set(), raising=False)

    def full(path, chunks, mode=0o666):
        raise OSError(28, "No space left on device", path)
    monkeypatch.setattr(cpu_c, "atomic_write", full)
    with pytest.warns(RuntimeWarning, match="not cached .*No space left"):
        _run(_node(5.0), 5.0)


def test_a_hanging_compiler_times_out_and_the_group_runs_on_numpy(cache, tmp_path, monkeypatch):
    """Item 10: a compiler that never returns hung the call."""
    cc = tmp_path / "slowcc"
    cc.write_text("#!/bin/sh\nsleep 30\n")
    cc.chmod(0o755)
    monkeypatch.setattr(config, "cc", str(cc))
    monkeypatch.setattr(config, "cc_timeout", 0.3)
    monkeypatch.setattr(config, "inline_max", 0)
    node = _node(6.0)
    t0 = time.perf_counter()
    with pytest.warns(RuntimeWarning, match="did not finish in 0.3 s"):
        with pytest.raises(cpu_c.Unsupported, match="timed out"):
            cpu_c.CFusedKernel(node)
    assert time.perf_counter() - t0 < 10
    g = Graph()
    x = g.add_input((64,), F64)
    with building(g):
        g.outputs = [emit("exp", [x]) * 7.0]
    plan = lower(_fused(g))
    a = np.linspace(0, 1, 64)
    np.testing.assert_allclose(plan(a)[0], np.exp(a) * 7.0, rtol=1e-12)


def _fused(g: Graph) -> Graph:
    fuse(g)
    return g


def test_leftovers_of_killed_builds_and_saves_are_removed(cache, tmp_path):
    """Item 10: a killed build left its temporary directory behind; a live one (locked) or a young one is kept."""
    alive, lock = files.temporary_dir("graphc-build-")
    stale = tmp_path / "graphc-build-dead.graphc-tmp"
    stale.mkdir()
    (stale / "k.c").write_text("")
    old = time.time() - 2 * files.STALE_AFTER
    for d in (stale, alive):
        os.utime(d, (old, old))
    young = tmp_path / "graphc-build-young.graphc-tmp"
    young.mkdir()
    _run(_node())
    assert not stale.exists() and os.path.isdir(alive) and young.exists()
    os.close(lock)
