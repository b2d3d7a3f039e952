"""Embedded S3: moto's S3 server app, made durable under a directory.

moto keeps S3 in memory. `EmbeddedS3` writes through: every request that mutated a bucket or an
object is followed, before its response leaves, by writing the touched bucket/object to disk
atomically (temp file, fsync, rename; the object's JSON metadata file is the commit point), so
whatever a client saw acknowledged survives a clean stop or `kill -9`. On start the directory
is loaded back into moto; object bodies stay on disk and are read on demand.

Layout under `data_dir`:
    buckets/<bucket>/bucket.json               name, account, region, creation date, versioning
    buckets/<bucket>/objects/<sha256>.json     key name, etag, size, metadata, tags, checksums
    buckets/<bucket>/objects/<sha256>.<id>.body
Orphans (a body written but not committed, a temp file) are removed at start.

How moto is bent, and why (all confined to moto's S3 backend; nothing is mocked or patched in
botocore, and no `mock_aws` is active):
- `s3_backends` builds `_DurableBackend`, a subclass that reports each mutation to the request
  that caused it, and completes multipart uploads by *referencing* the parts instead of
  concatenating them (moto's `FakeMultipart.complete` builds the object twice in memory, and its
  FULL_OBJECT checksum a third time).
- moto's model instance tracking (`BaseModel.instances_tracked`, for its dashboard) keeps every
  key ever created, and with it every temp file: disabled for S3 models.
- After a commit, a key's body buffer is switched to a read-only view of the durable file, so
  the temp copy moto made is freed. A superseded durable file is deleted once no in-memory key
  (an older version, a reader mid-request) still reads it.
Limits: only the latest version of a key is durable; in-progress multipart uploads, ACLs,
bucket policies/CORS/lifecycle and bucket tags are not.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import uuid
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from moto.core.compat import HAS_CRT
from moto.core.model_instances import model_data
from moto.moto_server.werkzeug_app import create_backend_app
from moto.s3 import models as s3_models
from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
from moto.s3.models import FakeKey, MultipartChecksumBuilder, S3Backend, s3_backends
from moto.settings import get_s3_default_key_buffer_size

log = logging.getLogger("smlocal.s3")

_CHUNK = 1 << 20
_MUTATING = frozenset({"PUT", "POST", "DELETE"})
_SAFE_DIR = re.compile(r"[a-z0-9][a-z0-9.\-]{0,254}")
_tracking = threading.local()
_install_lock = threading.Lock()


def _touched(bucket: str, key: str | None) -> None:
    pending = getattr(_tracking, "pending", None)
    if pending is not None:
        pending.append((bucket, key))


# -- key bodies -----------------------------------------------------------------------------


class _BodyFile:
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
            while chunk := self.read(_CHUNK):
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


class _DiskView(_ReadOnlyBuffer):
    """Bytes [offset, offset + length) of a durable body file."""

    def __init__(self, body: _BodyFile, offset: int, length: int) -> None:
        super().__init__()
        body.acquire()
        self._body, self._offset, self.length = body, offset, length

    def _read_at(self, pos: int, n: int) -> bytes:
        with open(self._body.path, "rb") as f:
            f.seek(self._offset + pos)
            return f.read(n)

    def _release(self) -> None:
        self._body.release()


class _ConcatBuffer(_ReadOnlyBuffer):
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


def _set_buffer(key: FakeKey, buffer: Any, size: int) -> None:
    with key.lock:
        old, key._value_buffer = key._value_buffer, buffer
        key.contentsize = size
    old.close()


# -- moto backend ---------------------------------------------------------------------------


class _FullObjectChecksum:
    """Incremental twin of moto's `compute_checksum` (same algorithms and fallbacks)."""

    def __init__(self, algorithm: str) -> None:
        self._algorithm = algorithm
        self._hash = hashlib.sha1() if algorithm == "SHA1" else None
        if algorithm not in ("SHA1", "CRC32", "CRC32C", "CRC64NVME"):
            self._hash = hashlib.sha256()
        self._crc = 0
        self._crt = algorithm == "CRC64NVME" and HAS_CRT

    def update(self, data: bytes) -> None:
        if self._hash is not None:
            self._hash.update(data)
        elif self._crt:
            from awscrt import checksums

            self._crc = checksums.crc64nvme(data, self._crc)
        else:  # CRC32, and moto's CRC32 fallback for CRC32C/CRC64NVME without the libraries
            self._crc = binascii.crc32(data, self._crc)

    def digest(self) -> str:
        if self._hash is not None:
            raw = self._hash.digest()
        else:
            raw = self._crc.to_bytes(8 if self._crt else 4, "big")
        return base64.b64encode(raw).decode()


def _assemble(multipart: Any, body: Iterable[tuple[int, str]]) -> tuple[list, str, tuple]:
    """moto's `FakeMultipart.complete` checks, returning the parts instead of their bytes."""
    algorithm = multipart.metadata.get("x-amz-checksum-algorithm")
    builder = MultipartChecksumBuilder(algorithm, multipart.metadata.get("x-amz-checksum-type"))
    full = _FullObjectChecksum(builder.checksum_algorithm)
    composite = builder.checksum_type == "COMPOSITE"
    parts: list[FakeKey] = []
    md5s = bytearray()
    for number, etag in body:
        part = multipart.parts.get(number)
        if part is None or part.etag.strip('"') != etag.strip('"'):
            raise InvalidPart()
        if parts and parts[-1].contentsize < s3_models.S3_UPLOAD_PART_MIN_SIZE:
            raise EntityTooSmall()
        md5s += bytes.fromhex(part.etag.strip('"'))
        value = part.value  # one part (≤ a few MiB as clients upload) at a time
        builder.addPart(value) if composite else full.update(value)
        parts.append(part)
    if not parts:
        raise MalformedXML()
    checksum = builder.build() if composite else (builder.checksum_type, full.digest(), 1)
    etag = f"{hashlib.md5(bytes(md5s), usedforsecurity=False).hexdigest()}-{len(parts)}"
    return parts, etag, checksum


class _DurableBackend(S3Backend):
    """moto's S3 backend, reporting mutations and completing multipart uploads by reference."""

    def create_bucket(self, bucket_name: str, *args: Any, **kwargs: Any) -> Any:
        bucket = super().create_bucket(bucket_name, *args, **kwargs)
        _touched(bucket_name, None)
        return bucket

    def delete_bucket(self, bucket_name: str) -> Any:
        result = super().delete_bucket(bucket_name)
        _touched(bucket_name, None)
        return result

    def put_bucket_versioning(self, bucket_name: str, status: str) -> None:
        super().put_bucket_versioning(bucket_name, status)
        _touched(bucket_name, None)

    def put_object(
        self, bucket_name: str, key_name: str, value: bytes, *args: Any, **kwargs: Any
    ) -> Any:
        # A SpooledTemporaryFile copies a large first write into memory before rolling over to
        # disk; write large bodies straight to a temp file instead.
        large = _is_large(value)
        key = super().put_object(bucket_name, key_name, b"" if large else value, *args, **kwargs)
        if large:
            _set_buffer(key, _temp_file(value), len(value))
        _touched(bucket_name, key_name)
        return key

    def upload_part(self, bucket_name: str, multipart_id: str, part_id: int, value: bytes) -> Any:
        large = _is_large(value)
        part = super().upload_part(bucket_name, multipart_id, part_id, b"" if large else value)
        if large:
            _set_buffer(part, _temp_file(value), len(value))
        return part

    def delete_object(self, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        result = super().delete_object(bucket_name, key_name, *args, **kwargs)
        _touched(bucket_name, key_name)
        return result

    def put_object_tagging(self, key: FakeKey, tags: Any) -> Any:
        result = super().put_object_tagging(key, tags)
        _touched(key.bucket_name, key.name)
        return result

    def delete_object_tagging(
        self, bucket_name: str, key_name: str, *args: Any, **kw: Any
    ) -> None:
        super().delete_object_tagging(bucket_name, key_name, *args, **kw)
        _touched(bucket_name, key_name)

    def complete_multipart_upload(
        self, bucket_name: str, multipart_id: str, body: Iterator[tuple[int, str]]
    ) -> FakeKey | None:
        bucket = self.get_bucket(bucket_name)
        multipart = bucket.multiparts[multipart_id]
        parts, etag, checksum = _assemble(multipart, body)
        # dict's own delete: MultipartDict's would dispose the parts the new key reads from.
        dict.__delitem__(bucket.multiparts, multipart_id)
        key = self.put_object(
            bucket_name,
            multipart.key_name,
            b"",
            storage=multipart.storage,
            etag=etag,
            multipart=multipart,
            encryption=multipart.sse_encryption,
            kms_key_id=multipart.kms_key_id,
        )
        _set_buffer(key, _ConcatBuffer(parts), sum(p.contentsize for p in parts))
        key.set_metadata(multipart.metadata)
        if multipart.metadata.get("x-amz-checksum-algorithm") or checksum:
            key.checksum_algorithm = multipart.metadata.get("x-amz-checksum-algorithm")
            key.checksum_type, key.checksum_value, key.checksum_parts = checksum
        self.put_object_tagging(key, multipart.tags)
        self.put_object_acl(bucket_name, key.name, multipart.acl, disable_notification=True)
        return key


def _is_large(value: Any) -> bool:
    return isinstance(value, bytes) and len(value) > get_s3_default_key_buffer_size()


def _temp_file(value: bytes) -> Any:
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the key until disposed
    spool.write(value)
    return spool


class _Untracked(list):
    def append(self, item: Any) -> None:
        pass


def _install_backend() -> None:
    """Make moto's S3 backends `_DurableBackend`s and start from empty state."""
    with _install_lock:
        for account in list(s3_backends.values()):
            account.reset()
        s3_backends.clear()
        s3_backends.bucket_accounts.clear()
        s3_backends.backend = _DurableBackend
        for model in model_data["s3"].values():
            model.instances_tracked = _Untracked()
        # Keys replaced by a newer upload are freed by the garbage collector, which moto flags.
        warnings.filterwarnings("ignore", "S3 key was not disposed", ResourceWarning)


def _find_bucket(name: str) -> Any:
    location = s3_backends.bucket_accounts.get(name)
    if location is None:
        return None
    partition, account = location
    return s3_backends[account][partition].buckets.get(name)


def _backend_of(bucket: Any) -> S3Backend:
    return s3_backends[bucket.account_id][bucket.partition]


def _latest_key(bucket: Any, key_name: str) -> FakeKey | None:
    key = bucket.keys.get(key_name)
    return key if isinstance(key, FakeKey) else None


# -- disk -----------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, data: dict) -> None:
    """Atomic replace: a reader (or a restart after kill -9) sees the old or the new file."""
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _object_id(key_name: str) -> str:
    return hashlib.sha256(key_name.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class _Entry:
    meta: dict
    body: _BodyFile
    key: weakref.ref  # the in-memory FakeKey this entry was written from


class _Disk:
    """Paths and atomic file operations of the layout in the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root / "buckets"
        self.root.mkdir(parents=True, exist_ok=True)

    def bucket_dir(self, name: str) -> Path:
        safe = _SAFE_DIR.fullmatch(name) and not name.startswith(".")
        return self.root / (name if safe else "_" + _object_id(name))

    def objects_dir(self, bucket: str) -> Path:
        path = self.bucket_dir(bucket) / "objects"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_bucket(self, info: dict) -> None:
        self.objects_dir(info["name"])
        _write_json(self.bucket_dir(info["name"]) / "bucket.json", info)

    def remove_bucket(self, name: str) -> None:
        path = self.bucket_dir(name)
        (path / "bucket.json").unlink(missing_ok=True)  # the commit point goes first
        shutil.rmtree(path, ignore_errors=True)

    def meta_path(self, bucket: str, key_name: str) -> Path:
        return self.objects_dir(bucket) / f"{_object_id(key_name)}.json"

    def temp_path(self, bucket: str) -> Path:
        return self.objects_dir(bucket) / f".tmp-{uuid.uuid4().hex}"

    def body_path(self, bucket: str, key_name: str) -> Path:
        return self.objects_dir(bucket) / f"{_object_id(key_name)}.{uuid.uuid4().hex[:12]}.body"

    def load(self) -> Iterator[tuple[dict, list[tuple[dict, Path]]]]:
        """Committed buckets and objects; removes what no commit references."""
        for bucket_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            info = _read_json(bucket_dir / "bucket.json")
            if info is None:
                log.warning("ignoring %s: no readable bucket.json", bucket_dir)
                continue
            yield info, self._load_objects(bucket_dir / "objects")

    def _load_objects(self, objects: Path) -> list[tuple[dict, Path]]:
        found, referenced = [], set()
        if not objects.is_dir():
            return found
        for meta_path in sorted(objects.glob("*.json")):
            meta = _read_json(meta_path)
            body = objects / meta["body"] if meta else None
            if meta is None or not body.is_file() or body.stat().st_size != meta["size"]:
                log.warning("ignoring damaged object record %s", meta_path)
                continue
            found.append((meta, body))
            referenced.add(body.name)
        for path in objects.iterdir():
            if path.name.startswith(".tmp-") or (
                path.suffix == ".body" and path.name not in referenced
            ):
                path.unlink(missing_ok=True)
        return found


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _copy_body(key: FakeKey, dest: Path) -> int:
    size = 0
    with key.lock, open(dest, "wb") as out:
        buffer = key._value_buffer
        buffer.seek(0)
        while chunk := buffer.read(_CHUNK):
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size


# -- the embedded S3 ------------------------------------------------------------------------


class EmbeddedS3:
    """moto's S3 as a WSGI app (`wsgi_app`), durable under `data_dir`.

    One instance per process: moto's S3 state is process-global, and creating an instance
    starts that state afresh from `data_dir`.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._disk = _Disk(self.data_dir)
        self._lock = threading.RLock()
        self._buckets: dict[str, dict] = {}
        self._objects: dict[tuple[str, str], _Entry] = {}
        _install_backend()
        self._moto_app = create_backend_app("s3")
        # moto turns Flask's debug mode on; its debug helpers put every request in a reference
        # cycle, which kept each request body alive until a full garbage collection.
        self._moto_app.debug = False
        self._moto_app.config["PROPAGATE_EXCEPTIONS"] = True  # errors reach the API's guard
        self._load()

    @property
    def wsgi_app(self) -> Callable:
        return self._app

    def close(self) -> None:
        """Drop the in-memory state (the disk keeps everything)."""
        _install_backend()
        self._objects.clear()
        self._buckets.clear()

    # -- requests -------------------------------------------------------------------------

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if method in _MUTATING:
            _read_body_once(environ)
        captured: list = []

        def hold(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured[:] = [status, headers]
            return _no_write

        _tracking.pending = pending = []
        try:
            body = self._moto_app(environ, hold)
        except Exception as exc:  # moto's parsers raise on malformed or unsupported input
            log.warning("S3 %s %s not processed", method, environ.get("PATH_INFO"), exc_info=True)
            body, captured = None, [f"{type(exc).__name__}: {exc}"]
        finally:
            _tracking.pending = None
        try:
            self._write_through(pending)  # before the client can see an acknowledgement
        except OSError:
            log.exception("S3 state could not be written to %s", self.data_dir)
            return _s3_error(
                start_response,
                method,
                500,
                "InternalError",
                "The change could not be written to disk.",
            )
        if body is None:
            return _s3_error(
                start_response,
                method,
                400,
                "InvalidRequest",
                f"smlocal's S3 could not process this request ({captured[0]}).",
            )
        start_response(*captured)
        return body

    def _write_through(self, touched: list[tuple[str, str | None]]) -> None:
        for bucket_name, key_name in dict.fromkeys(touched):
            bucket = _find_bucket(bucket_name)
            if key_name is None:
                self._sync_bucket(bucket_name, bucket)
            elif bucket is not None:
                self._sync_bucket(bucket_name, bucket)
                self._sync_key(bucket, key_name)

    def _sync_bucket(self, name: str, bucket: Any) -> None:
        with self._lock:
            if bucket is None:
                if self._buckets.pop(name, None) is not None:
                    for ref in [k for k in self._objects if k[0] == name]:
                        self._objects.pop(ref).body.supersede()
                    self._disk.remove_bucket(name)
                return
            info = _bucket_info(bucket)
            if self._buckets.get(name) != info:
                self._disk.write_bucket(info)
                self._buckets[name] = info

    def _sync_key(self, bucket: Any, key_name: str) -> None:
        key = _latest_key(bucket, key_name)
        ref = (bucket.name, key_name)
        if key is None:
            with self._lock:
                entry = self._objects.pop(ref, None)
                if entry is not None:
                    self._disk.meta_path(bucket.name, key_name).unlink(missing_ok=True)
                    _fsync_dir(self._disk.objects_dir(bucket.name))
                    entry.body.supersede()
            return
        entry = self._objects.get(ref)
        if entry is not None and entry.key() is key:
            with self._lock:
                meta = _key_meta(bucket, key, entry.body.path.name)
                if meta != entry.meta:
                    _write_json(self._disk.meta_path(bucket.name, key_name), meta)
                    entry.meta = meta
            return
        self._persist(bucket, key)

    def _persist(self, bucket: Any, key: FakeKey) -> None:
        tmp = self._disk.temp_path(bucket.name)
        buffer = key._value_buffer
        parts = list(buffer.parts) if isinstance(buffer, _ConcatBuffer) else []
        size = _copy_body(key, tmp)  # outside the lock: large bodies do not stall other writes
        with self._lock:
            if _latest_key(bucket, key.name) is not key:
                tmp.unlink(missing_ok=True)  # superseded meanwhile; its own request persists it
                return
            body_path = self._disk.body_path(bucket.name, key.name)
            os.replace(tmp, body_path)
            meta = _key_meta(bucket, key, body_path.name)
            _write_json(self._disk.meta_path(bucket.name, key.name), meta)  # commit
            body = _BodyFile(body_path)
            old = self._objects.get((bucket.name, key.name))
            self._objects[(bucket.name, key.name)] = _Entry(meta, body, weakref.ref(key))
            if old is not None:
                old.body.supersede()
        _attach_disk_body(key, body, size, parts)

    # -- start-up -------------------------------------------------------------------------

    def _load(self) -> None:
        buckets = objects = 0
        for info, stored in self._disk.load():
            backend = s3_backends[info["account_id"]][info["partition"]]
            bucket = backend.create_bucket(info["name"], info["region"])
            bucket.creation_date = dt.datetime.fromisoformat(info["creation_date"])
            for meta, body_path in stored:
                self._restore(backend, bucket, meta, body_path)
                objects += 1
            bucket.versioning_status = info.get("versioning")
            self._buckets[bucket.name] = info
            buckets += 1
        log.info(
            "S3 state loaded from %s: %d buckets, %d objects", self.data_dir, buckets, objects
        )

    def _restore(self, backend: S3Backend, bucket: Any, meta: dict, body_path: Path) -> None:
        key = backend.put_object(
            bucket.name,
            meta["key"],
            b"",
            storage=meta.get("storage_class"),
            etag=meta["etag"],
            encryption=meta.get("encryption"),
            kms_key_id=meta.get("kms_key_id"),
            disable_notification=True,
        )
        key.last_modified = dt.datetime.fromisoformat(meta["last_modified"])
        key.set_metadata(dict(meta["metadata"]))
        key._version_id = meta.get("version_id")
        for attr in _KEY_ATTRS:
            setattr(key, attr, meta.get(attr))
        if meta.get("tags"):
            backend.put_object_tagging(key, meta["tags"])
        body = _BodyFile(body_path)
        _set_buffer(key, _DiskView(body, 0, meta["size"]), meta["size"])
        self._objects[(bucket.name, key.name)] = _Entry(meta, body, weakref.ref(key))


_KEY_ATTRS = (
    "checksum_algorithm",
    "checksum_value",
    "checksum_type",
    "checksum_parts",
    "website_redirect_location",
)


def _read_body_once(environ: dict) -> None:
    """Read a large request body into one bytes object that werkzeug and moto then share.

    moto needs the whole body of a PUT (it is `request.data`); werkzeug's own read would join
    64 KiB chunks into a second copy. Multipart parts and SageMaker JSON are small, so this
    matters for single large PUTs: they are held in memory once, then spooled to disk."""
    length = environ.get("CONTENT_LENGTH") or ""
    if not length.isdigit() or int(length) <= _CHUNK:
        return
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return
    data = environ["wsgi.input"].read(int(length))
    environ["wsgi.input"] = io.BytesIO(data)  # BytesIO shares `data`; read() returns it as is
    environ["wsgi.input_terminated"] = True


def _s3_error(
    start_response: Callable, method: str, status: int, code: str, message: str
) -> list[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{xml_escape(message[:500])}</Message></Error>"
    ).encode()
    reason = "Bad Request" if status == 400 else "Internal Server Error"
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    start_response(f"{status} {reason}", headers)
    return [b""] if method == "HEAD" else [body]


def _no_write(data: bytes) -> None:
    raise RuntimeError("moto's app must return its body, not write it")


def _bucket_info(bucket: Any) -> dict:
    return {
        "name": bucket.name,
        "account_id": bucket.account_id,
        "partition": bucket.partition,
        "region": bucket.region_name,
        "creation_date": bucket.creation_date.isoformat(),
        "versioning": bucket.versioning_status,
    }


def _key_meta(bucket: Any, key: FakeKey, body_name: str) -> dict:
    tags = _backend_of(bucket).tagger.get_tag_dict_for_resource(key.arn)
    meta = {
        "key": key.name,
        "body": body_name,
        "size": key.size,
        "etag": key.etag.strip('"'),
        "last_modified": key.last_modified.isoformat(),
        "metadata": dict(key.metadata),
        "storage_class": key.storage_class,
        "encryption": key.encryption,
        "kms_key_id": key.kms_key_id,
        "version_id": key._version_id,
        "tags": tags,
    }
    meta.update({attr: getattr(key, attr, None) for attr in _KEY_ATTRS})
    return meta


def _attach_disk_body(key: FakeKey, body: _BodyFile, size: int, parts: list[FakeKey]) -> None:
    """Serve `key` (and the multipart parts it was assembled from) from the durable file,
    freeing moto's temp copies."""
    _set_buffer(key, _DiskView(body, 0, size), size)
    offset = 0
    for part in parts:
        _set_buffer(part, _DiskView(body, offset, part.contentsize), part.contentsize)
        offset += part.contentsize
