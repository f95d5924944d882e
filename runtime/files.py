"""Files graphc writes and trusts: atomic replacement, private directories, leftovers of killed writers.

A file is replaced through a new temporary in the same directory, created with O_EXCL (so a file or
symbolic link planted under that name is never followed), locked while it is written, synced and then
renamed over the target. Temporaries carry TMP_SUFFIX; one whose lock is free and that is older than a
grace period was left by a killed writer, and the next write to that directory removes it.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable

try:
    import fcntl
except ImportError:      # not on Windows: no locks, and leftovers are not recognized there
    fcntl = None

TMP_SUFFIX = ".graphc-tmp"
STALE_AFTER = 60.0          # seconds: a temporary this old whose lock is free was left by a killed writer


def trusted(st: os.stat_result) -> str | None:
    """Why a file or directory with this status must not be trusted (None: it may be): it must belong to
    this user and be writable by nobody else."""
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        return "it belongs to another user"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "other users may write to it"
    return None


def private_dir(path: str) -> str:
    """`path` as a directory only this user can change: created 0700 when missing; an existing one is
    refused (PermissionError) unless it is this user's and writable by nobody else."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.stat(path)
    why = "it is not a directory" if not stat.S_ISDIR(st.st_mode) else trusted(st)
    if why:
        raise PermissionError(errno.EPERM, f"refusing to use this directory: {why}", path)
    return path


def check_target(path: str) -> str:
    """The absolute path a write may replace, or an OSError naming `path`: the name must be a file name and
    anything already there a regular file (never a device, FIFO, directory or symbolic link)."""
    if not path or path.endswith((os.sep, "/")) or os.path.basename(path) in (".", ".."):
        raise IsADirectoryError(errno.EISDIR, "a file name is needed, not a directory", path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(errno.ENOENT, "its directory does not exist", path) from None
        return os.path.abspath(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a directory", path)
    if not stat.S_ISREG(st.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file (a device or FIFO)"
        raise FileExistsError(errno.EEXIST, f"refusing to replace it: it is {kind}", path)
    return os.path.abspath(path)


def atomic_write(path: str, chunks: Iterable, mode: int = 0o666) -> None:
    """Replace the file at `path` by the bytes of `chunks` (bytes or arrays), atomically.

    A new file gets `mode` less the umask; a replaced one keeps its permissions. Errors name `path`, never
    the temporary."""
    target = check_target(path)
    folder = os.path.dirname(target)
    remove_stale(folder)
    try:
        fd, tmp = _create_temporary(folder, os.path.basename(target), mode)
    except OSError as e:
        raise _naming(e, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            _lock(f.fileno())
            if os.path.exists(target) and hasattr(os, "fchmod"):   # replacing a file keeps its permissions
                os.fchmod(f.fileno(), stat.S_IMODE(os.stat(target).st_mode))
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, target)        # still locked: a cleaner never takes it for a leftover
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _naming(e, path) from e
        raise
    _fsync_dir(folder)


def temporary_dir(prefix: str, parent: str | None = None) -> tuple[str, int | None]:
    """A new private directory (0700) and the locked descriptor that marks it in use (close it when done,
    after removing the directory); leftovers of killed processes in `parent` are removed first."""
    parent = parent or tempfile.gettempdir()
    remove_stale(parent, prefix)
    path = tempfile.mkdtemp(prefix=prefix, suffix=TMP_SUFFIX, dir=parent)
    if fcntl is None:
        return path, None
    fd = os.open(path, os.O_RDONLY)
    _lock(fd)
    return path, fd


def remove_stale(folder: str, prefix: str = ".") -> None:
    """Remove this user's temporaries (files or directories named prefix...TMP_SUFFIX) in `folder` that no
    live writer holds and that are older than STALE_AFTER seconds."""
    if fcntl is None:
        return
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix) and e.name.endswith(TMP_SUFFIX)]
    except OSError:
        return
    now = time.time()
    for e in entries:
        try:
            fd = os.open(e.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if trusted(st) or now - st.st_mtime < STALE_AFTER:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue                    # its writer is alive
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(e.path, ignore_errors=True)
            elif os.lstat(e.path).st_ino == st.st_ino:
                os.unlink(e.path)
        except OSError:
            pass
        finally:
            os.close(fd)


def _create_temporary(folder: str, base: str, mode: int) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(16):
        tmp = os.path.join(folder, f".{base[:100]}.{secrets.token_hex(6)}{TMP_SUFFIX}")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "could not create a temporary file", folder)


def _lock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)


def _naming(e: OSError, path: str) -> OSError:
    """The same error about the user's path (not the hidden temporary)."""
    if e.errno is None:
        return e
    return type(e)(e.errno, e.strerror, os.fspath(path))


def _fsync_dir(folder: str) -> None:
    """Make the rename durable (not possible on every platform)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
