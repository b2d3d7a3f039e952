"""moto's S3 backend as the embedded S3 bends it, and the moto state it reads.

All of it is confined to moto's S3 backend; nothing is mocked or patched in botocore, and no
`mock_aws` is active:
- `s3_backends` builds `_DurableBackend`, a subclass that reports each mutation to the request
  that caused it (`recorded_mutations`), and completes multipart uploads by *referencing* the
  parts instead of concatenating them (moto's `FakeMultipart.complete` builds the object twice
  in memory, and its FULL_OBJECT checksum a third time).
- moto's model instance tracking (`BaseModel.instances_tracked`, for its dashboard) keeps every
  key ever created, and with it every temp file: disabled for S3 models.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.compat import HAS_CRT
from moto.core.model_instances import model_data
from moto.s3 import models as s3_models
from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML, S3ClientError
from moto.s3.models import FakeKey, MultipartChecksumBuilder, S3Backend, s3_backends
from moto.settings import get_s3_default_key_buffer_size

from orchestrator.storage.s3_buffers import ConcatBuffer, set_buffer

_tracking = threading.local()
_install_lock = threading.Lock()


@contextmanager
def recorded_mutations() -> Iterator[list[tuple[str, str | None]]]:
    """(bucket, key, or None for the bucket itself) of each mutation made on this thread
    inside the block, in order, possibly repeated."""
    _tracking.pending = pending = []
    try:
        yield pending
    finally:
        _tracking.pending = None


def _touched(bucket: str, key: str | None) -> None:
    pending = getattr(_tracking, "pending", None)
    if pending is not None:
        pending.append((bucket, key))


# "The name for a key is a sequence of Unicode characters whose UTF-8 encoding is at most
# 1,024 bytes long." [DOC AmazonS3/latest/userguide/object-keys.html]
MAX_KEY_BYTES = 1024


class KeyTooLongError(S3ClientError):
    """AWS's answer (400, code and message as AWS words them) to a write whose key is over
    `MAX_KEY_BYTES`. AWS adds Size and MaxSizeAllowed elements; moto's serializer writes only
    the members its model knows, so the size is in the message instead."""

    code = "KeyTooLongError"

    def __init__(self, size: int) -> None:
        super().__init__(
            "KeyTooLongError",
            f"Your key is too long ({size} bytes in UTF-8; at most {MAX_KEY_BYTES} allowed)",
        )


def _check_key(key_name: str) -> None:
    """Refuse over-long keys in client requests only: state written by an older version is
    still loaded (a request is under way exactly when mutations are being recorded)."""
    if getattr(_tracking, "pending", None) is None:
        return
    size = len(key_name.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        raise KeyTooLongError(size)


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
        _check_key(key_name)  # PutObject, CopyObject and multipart completion come here
        key = super().put_object(bucket_name, key_name, _held(value), *args, **kwargs)
        _spill(key, value)
        _touched(bucket_name, key_name)
        return key

    def create_multipart_upload(self, bucket_name: str, key_name: str, *args: Any, **kw: Any) -> Any:
        _check_key(key_name)  # refused at the start, not after every part was sent
        return super().create_multipart_upload(bucket_name, key_name, *args, **kw)

    def upload_part(self, bucket_name: str, multipart_id: str, part_id: int, value: bytes) -> Any:
        part = super().upload_part(bucket_name, multipart_id, part_id, _held(value))
        _spill(part, value)
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
        set_buffer(key, ConcatBuffer(parts), sum(p.contentsize for p in parts))
        key.set_metadata(multipart.metadata)
        if multipart.metadata.get("x-amz-checksum-algorithm") or checksum:
            key.checksum_algorithm = multipart.metadata.get("x-amz-checksum-algorithm")
            key.checksum_type, key.checksum_value, key.checksum_parts = checksum
        self.put_object_tagging(key, multipart.tags)
        self.put_object_acl(bucket_name, key.name, multipart.acl, disable_notification=True)
        return key


def _is_large(value: Any) -> bool:
    return isinstance(value, bytes) and len(value) > get_s3_default_key_buffer_size()


def _held(value: Any) -> Any:
    """What moto may buffer itself: a small body, but not a large one. A SpooledTemporaryFile
    copies a large first write into memory before rolling over to disk."""
    return b"" if _is_large(value) else value


def _spill(key: FakeKey, value: Any) -> None:
    """Write a large body (withheld by `_held`) straight to a temp file owned by `key`."""
    if not _is_large(value):
        return
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the key until disposed
    spool.write(value)
    set_buffer(key, spool, len(value))


class _Untracked(list):
    def append(self, item: Any) -> None:
        pass


def install_backend() -> None:
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


def backend(account_id: str, partition: str) -> S3Backend:
    return s3_backends[account_id][partition]


def find_bucket(name: str) -> Any:
    location = s3_backends.bucket_accounts.get(name)
    if location is None:
        return None
    partition, account = location
    return backend(account, partition).buckets.get(name)


def backend_of(bucket: Any) -> S3Backend:
    return backend(bucket.account_id, bucket.partition)


def latest_key(bucket: Any, key_name: str) -> FakeKey | None:
    key = bucket.keys.get(key_name)
    return key if isinstance(key, FakeKey) else None
