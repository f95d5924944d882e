"""Replacing files atomically without trusting what is already there (issue 15 items 3 and 4): plan-file
saves and kernel-cache entries both go through runtime/files.py."""
from __future__ import annotations

import os
import stat
import time

import pytest
from plan_helpers import mlp_predict

import graphc.runtime.files as files
from graphc.runtime.files import STALE_AFTER, TMP_SUFFIX, atomic_write
from graphc.runtime.planfile import container


@pytest.fixture(scope="module")
def predict():
    fn, x = mlp_predict()
    fn(x)
    return fn


def test_saving_refuses_targets_that_are_not_regular_files(tmp_path, predict):
    """Item 4: dump("/dev/null") as root turned the device into a regular file; FIFOs and links were replaced."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    link = tmp_path / "link.gcplan"
    link.symlink_to(victim)
    with pytest.raises(FileExistsError, match=f"not a regular file.*{fifo}"):
        predict.dump(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    with pytest.raises(FileExistsError, match="a symbolic link"):
        predict.dump(link)
    assert link.is_symlink() and victim.read_bytes() == b"precious"
    with pytest.raises(IsADirectoryError, match="it is a directory"):
        predict.dump(tmp_path)
    with pytest.raises(IsADirectoryError, match="a file name is needed"):
        predict.dump(str(tmp_path / "newdir") + os.sep)
    with pytest.raises(IsADirectoryError, match="a file name is needed"):
        predict.dump("")
    with pytest.raises(FileNotFoundError, match=f"its directory does not exist: '{tmp_path / 'no' / 'p.gcplan'}'"):
        predict.dump(tmp_path / "no" / "p.gcplan")
    assert sorted(os.listdir(tmp_path)) == ["fifo", "link.gcplan", "victim"]
    predict.dump(tmp_path / "p.gcplan")
    assert (tmp_path / "p.gcplan").stat().st_size > 0


def test_errors_name_the_users_path_never_the_temporary(tmp_path, predict, monkeypatch):
    """Item 4: an error while saving names the path the user gave."""
    def full(head, datas):
        yield head[:10]
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(container, "_chunks", full)
    target = tmp_path / "p.gcplan"
    with pytest.raises(OSError) as e:
        predict.dump(target)
    assert e.value.filename == str(target) and TMP_SUFFIX not in str(e.value) and "No space" in str(e.value)
    assert os.listdir(tmp_path) == []


def test_planted_links_at_temporary_names_are_never_followed(tmp_path, monkeypatch):
    """Item 3: temporaries are created with O_EXCL, so a link planted under the name tried is not written through."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    planted = tmp_path / f".out.bin.planted{TMP_SUFFIX}"
    planted.symlink_to(victim)
    names = iter(["planted"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(names, os.urandom(n).hex()))
    atomic_write(str(tmp_path / "out.bin"), [b"new"])
    assert victim.read_bytes() == b"precious" and (tmp_path / "out.bin").read_bytes() == b"new"
    assert planted.is_symlink()


def test_temporaries_of_killed_saves_are_removed_by_the_next_save(tmp_path, predict):
    """Item 4: a save killed midway left its hidden temporary; the next save to the directory removes it, but
    not one a live writer holds, nor a young one, nor another user's."""
    old = time.time() - 2 * STALE_AFTER
    dead = tmp_path / f".p.gcplan.0123456789ab{TMP_SUFFIX}"
    dead.write_bytes(b"partial")
    young = tmp_path / f".q.gcplan.0123456789ab{TMP_SUFFIX}"
    young.write_bytes(b"partial")
    held = tmp_path / f".r.gcplan.0123456789ab{TMP_SUFFIX}"
    held.write_bytes(b"partial")
    os.utime(dead, (old, old))
    os.utime(held, (old, old))
    with open(held, "rb") as f:
        files._lock(f.fileno())
        predict.dump(tmp_path / "p.gcplan")
    assert not dead.exists() and young.exists() and held.exists()
    assert sorted(os.listdir(tmp_path)) == sorted(["p.gcplan", young.name, held.name])
