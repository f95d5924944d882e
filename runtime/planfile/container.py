"""The plan-file container: a checksummed JSON header followed by raw little-endian arrays.

Layout (integers little-endian), safetensors-like so no pickle or zip parser is involved:

    offset 0    8 bytes   magic b"\\x89GCPLAN\\n"
    offset 8    8 bytes   header length H (uint64)
    offset 16  32 bytes   sha256 of the header bytes
    offset 48   H bytes   the header: UTF-8 JSON; its "arrays" table lists each array's dtype, shape,
                          offset, nbytes and sha256
    offset 48+H           the arrays' bytes back to back in table order (offsets relative to here);
                          the file ends exactly after the last one

Every byte is covered by a checksum (the header's, or an array's), and the declared sizes are
checked against the real file size before any array buffer is allocated.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from graphc.ir.errors import PlanFormatError

from ..files import atomic_write
from .checks import (
    MAX_HEADER_BYTES,
    MAX_LIST,
    check_dict,
    check_dtype,
    check_int,
    check_list,
    check_shape,
    check_str,
    refuse,
)

MAGIC = b"\x89GCPLAN\n"
PREAMBLE = 48
_READ_CHUNK = 16 << 20
Dest = str | os.PathLike | BinaryIO


class ArraySpec:
    """One entry of the array table, validated: dtype, shape, where its bytes are, their sha256."""

    __slots__ = ("dtype", "shape", "offset", "nbytes", "sha256")

    def __init__(self, dtype: np.dtype, shape: tuple[int, ...], offset: int, nbytes: int,
                 sha256: str) -> None:
        self.dtype, self.shape, self.offset, self.nbytes, self.sha256 = dtype, shape, offset, nbytes, sha256


# ---- writing ---------------------------------------------------------------------------------------------

def _le_bytes(a: np.ndarray) -> np.ndarray:
    """The array's elements as contiguous little-endian bytes (a uint8 view, no copy when possible)."""
    a = np.asarray(a)
    return np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"), copy=False)).reshape(-1).view(np.uint8)


def encode(header: dict, arrays: list[np.ndarray]) -> tuple[bytes, list[np.ndarray]]:
    """Fill header["arrays"] from `arrays`; return the preamble+header bytes and the array data to follow."""
    datas, table, offset = [], [], 0
    for a in arrays:
        d = _le_bytes(a)
        table.append({"dtype": str(np.dtype(a.dtype)), "shape": list(np.shape(a)), "offset": offset,
                      "nbytes": d.nbytes, "sha256": hashlib.sha256(d).hexdigest()})
        datas.append(d)
        offset += d.nbytes
    header = dict(header, arrays=table)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      ensure_ascii=False).encode("utf-8")
    if len(text) > MAX_HEADER_BYTES:
        refuse(f"the plan's description is {len(text)} bytes, over the limit of {MAX_HEADER_BYTES}")
    pre = MAGIC + struct.pack("<Q", len(text)) + hashlib.sha256(text).digest()
    return pre + text, datas


def _chunks(head: bytes, datas: list[np.ndarray]) -> Iterator[bytes | np.ndarray]:
    yield head
    yield from datas


def write(dest: Dest, header: dict, arrays: list[np.ndarray]) -> None:
    """Write a plan file; to a path atomically (runtime/files.py: a new temporary, fsync, rename), refusing
    a path that names a directory or holds anything but a regular file."""
    head, datas = encode(header, arrays)
    if not isinstance(dest, (str, os.PathLike)):
        for c in _chunks(head, datas):
            dest.write(c)
        return
    atomic_write(os.fspath(dest), _chunks(head, datas))


# ---- reading ---------------------------------------------------------------------------------------------

def _no_duplicates(pairs: list) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        refuse("the plan's description repeats a field name")
    return d


def _no_constant(name: str) -> None:
    refuse(f"the plan's description holds the non-JSON number {name}")


class Reader:
    """Reads one plan file: the header first (checked), then each array (checked) on request."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.size = _size(f)
        pre = self._read(PREAMBLE, "its preamble")
        if pre[:8] != MAGIC:
            refuse("this is not a graphc plan file (bad magic bytes)")
        (hlen,) = struct.unpack("<Q", pre[8:16])
        if hlen > MAX_HEADER_BYTES:
            refuse(f"the plan's description claims {hlen} bytes, over the limit of {MAX_HEADER_BYTES}")
        if self.size is not None and PREAMBLE + hlen > self.size:
            refuse(f"the plan file is truncated: {self.size} bytes, its description alone needs "
                   f"{PREAMBLE + hlen}")
        text = self._read(hlen, "its description")
        if hashlib.sha256(text).digest() != pre[16:48]:
            refuse("the plan's description does not match its checksum (the file is corrupted)")
        try:
            self.header = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates,
                                     parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            if isinstance(e, PlanFormatError):   # a repeated field name
                raise
            refuse(f"the plan's description is not valid JSON ({type(e).__name__})")
        if not isinstance(self.header, dict):
            refuse("the plan's description is not a JSON object")
        self.data_start = PREAMBLE + hlen
        self.specs = self._table()

    def _table(self) -> list[ArraySpec]:
        specs, total = parse_table(self.header.get("arrays"))
        if self.size is not None and self.data_start + total != self.size:
            how = "truncated" if self.data_start + total > self.size else "followed by extra bytes"
            refuse(f"the plan file is {how}: it has {self.size} bytes, its description accounts for "
                   f"{self.data_start + total}")
        self.data_nbytes = total
        return specs

    def arrays(self) -> list[np.ndarray]:
        """Read, checksum and decode every array of the table, in order (the file position follows)."""
        out = []
        for i, s in enumerate(self.specs):
            buf = self._read(s.nbytes, f"array {i}")
            if hashlib.sha256(buf).hexdigest() != s.sha256:
                refuse(f"array {i} does not match its checksum (the file is corrupted)")
            a = np.frombuffer(buf, dtype=s.dtype.newbyteorder("<"))
            if s.dtype.kind == "b" and s.nbytes and np.frombuffer(buf, np.uint8).max() > 1:
                refuse(f"array {i} of dtype bool holds bytes other than 0 and 1")
            out.append(a.astype(s.dtype, copy=False).reshape(s.shape))
        if self.size is None and self.f.read(1):
            refuse("the plan file is followed by extra bytes")
        return out

    def _read(self, n: int, what: str) -> bytearray:
        """Exactly n bytes, read in chunks so a lying size never allocates more than the file holds."""
        buf = bytearray()
        while len(buf) < n:
            chunk = self.f.read(min(_READ_CHUNK, n - len(buf)))
            if not chunk:
                refuse(f"the plan file is truncated: it ends inside {what}")
            buf += chunk
        return buf


def parse_table(table: object) -> tuple[list[ArraySpec], int]:
    """The checked array table, and the number of data bytes it accounts for."""
    specs, offset = [], 0
    for i, e in enumerate(check_list(table, "the array table", MAX_LIST)):
        what = f"array {i}"
        check_dict(e, what, {"dtype", "shape", "offset", "nbytes", "sha256"})
        dt = check_dtype(e["dtype"], what)
        shape = check_shape(e["shape"], what)
        n = math.prod(shape) * dt.itemsize
        if check_int(e["nbytes"], f"{what}'s size", 0) != n:
            refuse(f"{what} declares {e['nbytes']} bytes, but {dt}{list(shape)} takes {n}")
        if check_int(e["offset"], f"{what}'s offset", 0) != offset:
            refuse(f"{what} starts at byte {e['offset']}, expected {offset} (arrays are stored back to back)")
        sha = check_str(e["sha256"], f"{what}'s checksum", 64)
        if len(sha) != 64 or sha.strip("0123456789abcdef"):
            refuse(f"{what}'s checksum is not a sha256 hex digest")
        specs.append(ArraySpec(dt, shape, offset, n, sha))
        offset += n
    return specs, offset


def _size(f: BinaryIO) -> int | None:
    """The stream's total size when it can tell (files, BytesIO), else None."""
    try:
        if isinstance(f, io.BufferedReader) or hasattr(f, "fileno"):
            return os.fstat(f.fileno()).st_size - f.tell()
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
    try:
        pos = f.tell()
        end = f.seek(0, os.SEEK_END)
        f.seek(pos)
        return end - pos
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None
