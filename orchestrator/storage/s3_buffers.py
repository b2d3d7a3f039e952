"""Key bodies of the embedded S3 that moto reads without holding a copy in memory.

moto keeps each key's bytes in `FakeKey._value_buffer` (a SpooledTemporaryFile). These
file-like stand-ins serve them from elsewhere: `DiskView` from a durable body file (shared,
reference-counted, deleted once superseded and unread), `ConcatBuffer` from the parts of a
completed multipart upload, read in sequence.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from moto.s3.models import FakeKey
from moto.settings import get_s3_default_key_buffer_size

CHUNK = 1 << 20


class BodyFile:
    """A durable body file shared by the buffers that read it; deleted when superseded and
    no longer read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._readers = 0
        self._superseded = False
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            self._readers += 1

    def release(self) -> None:
        with self._lock:
            self._readers -= 1
            gone = self._readers == 0 and self._superseded
        if gone:
            self.path.unlink(missing_ok=True)

    def supersede(self) -> None:
        with self._lock:
            self._superseded = True
            gone = self._readers == 0
        if gone:
            self.path.unlink(missing_ok=True)


class _ReadOnlyBuffer:
    """File-like stand-in for `FakeKey._value_buffer` (seek/tell/read/write/truncate/close).

    Reads come from `_read_at`; a write (moto does not rewrite stored keys, but may) first moves
    the content into a private temp file."""

    length = 0

    def __init__(self) -> None:
        self._pos = 0
        self._spool: Any = None
        self._closed = False

    def _read_at(self, pos: int, n: int) -> bytes:
        raise NotImplementedError

    def _release(self) -> None:
        pass

    def seek(self, pos: int, whence: int = 0) -> int:
        if self._spool is not None:
            return self._spool.seek(pos, whence)
        base = {0: 0, 1: self._pos, 2: self.length}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self) -> int:
        return self._spool.tell() if self._spool is not None else self._pos

    def read(self, n: int | None = -1) -> bytes:
        if self._closed:
            raise ValueError("read of closed buffer")
        if self._spool is not None:
            return self._spool.read(n)
        remaining = max(0, self.length - self._pos)
        n = remaining if n is None or n < 0 else min(n, remaining)
        data = self._read_at(self._pos, n) if n else b""
        self._pos += len(data)
        return data

    def write(self, data: bytes) -> int:
        return self._writable().write(data)

    def truncate(self, size: int | None = None) -> int:
        return self._writable().truncate(size)

    def _writable(self) -> Any:
        if self._spool is None:
            spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - owned until close()
                max_size=get_s3_default_key_buffer_size()
            )
            pos, self._pos = self._pos, 0
            while chunk := self.read(CHUNK):
                spool.write(chunk)
            spool.seek(pos)
            self._spool = spool
            self._release()
        return self._spool

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._spool is not None:
            self._spool.close()
        else:
            self._release()


class DiskView(_ReadOnlyBuffer):
    """Bytes [offset, offset + length) of a durable body file."""

    def __init__(self, body: BodyFile, offset: int, length: int) -> None:
        super().__init__()
        body.acquire()
        self._body, self._offset, self.length = body, offset, length

    def _read_at(self, pos: int, n: int) -> bytes:
        with open(self._body.path, "rb") as f:
            f.seek(self._offset + pos)
            return f.read(n)

    def _release(self) -> None:
        self._body.release()


class ConcatBuffer(_ReadOnlyBuffer):
    """The parts of a completed multipart upload, read in sequence (no concatenated copy)."""

    def __init__(self, parts: list[FakeKey]) -> None:
        super().__init__()
        self.parts = parts
        self.length = sum(p.contentsize for p in parts)

    def _read_at(self, pos: int, n: int) -> bytes:
        out = bytearray()
        start = 0
        for part in self.parts:
            end = start + part.contentsize
            if pos < end and len(out) < n:
                with part.lock:
                    part._value_buffer.seek(pos - start)
                    chunk = part._value_buffer.read(min(n - len(out), end - pos))
                out += chunk
                pos += len(chunk)
            start = end
        return bytes(out)


def set_buffer(key: FakeKey, buffer: Any, size: int) -> None:
    """Make `buffer` the body of `key`, closing the one it replaces."""
    with key.lock:
        old, key._value_buffer = key._value_buffer, buffer
        key.contentsize = size
    old.close()


def attach_disk_body(key: FakeKey, body: BodyFile, size: int, parts: list[FakeKey]) -> None:
    """Serve `key` (and the multipart parts it was assembled from) from the durable file,
    freeing moto's temp copies."""
    set_buffer(key, DiskView(body, 0, size), size)
    offset = 0
    for part in parts:
        set_buffer(part, DiskView(body, offset, part.contentsize), part.contentsize)
        offset += part.contentsize
