"""Write-through of moto's S3 state to disk, and its reload into moto at start.

`DurableStore.write_through` writes each bucket and object a request touched (the layout and
commit point are `s3_disk`'s). After a commit, a key's body buffer is switched to a read-only
view of the durable file, so the temp copy moto made is freed. A superseded durable file is
deleted once no in-memory key (an older version, a reader mid-request) still reads it.
Limits: only the latest version of a key is durable; in-progress multipart uploads, ACLs,
bucket policies/CORS/lifecycle and bucket tags are not.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.s3.models import FakeKey, S3Backend, s3_backends

from orchestrator.storage.s3_buffers import BodyFile, ConcatBuffer, attach_disk_body
from orchestrator.storage.s3_disk import Disk, copy_body, fsync_dir, write_json
from orchestrator.storage.s3_moto import backend, backend_of, find_bucket, latest_key

log = logging.getLogger("smlocal.s3")

_KEY_ATTRS = (
    "checksum_algorithm",
    "checksum_value",
    "checksum_type",
    "checksum_parts",
    "website_redirect_location",
)


@dataclass
class _Entry:
    meta: dict
    body: BodyFile
    key: weakref.ref  # the in-memory FakeKey this entry was written from


class DurableStore:
    """What of moto's S3 state is on disk under `data_dir`, kept in step with moto."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._disk = Disk(data_dir)
        self._lock = threading.RLock()
        self._buckets: dict[str, dict] = {}
        self._objects: dict[tuple[str, str], _Entry] = {}

    def clear(self) -> None:
        """Forget the in-memory state (the disk keeps everything)."""
        self._objects.clear()
        self._buckets.clear()

    # -- write-through --------------------------------------------------------------------

    def write_through(self, touched: list[tuple[str, str | None]]) -> None:
        """Make the current moto state of each touched (bucket, key or None) durable. When a
        write fails (disk full), moto's state of that bucket or key goes back to what is
        durable, so nothing a client was refused is visible; the first OSError is raised."""
        failure: OSError | None = None
        for bucket_name, key_name in dict.fromkeys(touched):
            bucket = find_bucket(bucket_name)
            try:
                if key_name is None:
                    self._sync_bucket(bucket_name, bucket)
                elif bucket is not None:
                    self._sync_bucket(bucket_name, bucket)
                    self._sync_key(bucket, key_name)
            except OSError as exc:
                failure = failure or exc
                self._revert(bucket_name, key_name)
        if failure is not None:
            raise failure

    def _revert(self, bucket_name: str, key_name: str | None) -> None:
        """Put moto's bucket (a new one: dropped) or key back to its durable state."""
        with self._lock:
            bucket = find_bucket(bucket_name)
            if bucket_name not in self._buckets:  # never made durable: it does not exist
                if bucket is not None:
                    backend_of(bucket).buckets.pop(bucket_name, None)
                    s3_backends.bucket_accounts.pop(bucket_name, None)
                return
            if key_name is None or bucket is None:
                return
            entry = self._objects.get((bucket_name, key_name))
            if entry is not None and entry.key() is latest_key(bucket, key_name):
                return  # the durable key is the one moto serves
            if key_name in bucket.keys:
                bucket.keys.pop(key_name)
            if entry is not None:
                self._restore(backend_of(bucket), bucket, entry.meta, entry.body.path)

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
        key = latest_key(bucket, key_name)
        ref = (bucket.name, key_name)
        if key is None:
            with self._lock:
                entry = self._objects.pop(ref, None)
                if entry is not None:
                    self._disk.meta_path(bucket.name, key_name).unlink(missing_ok=True)
                    fsync_dir(self._disk.objects_dir(bucket.name))
                    entry.body.supersede()
            return
        entry = self._objects.get(ref)
        if entry is not None and entry.key() is key:
            with self._lock:
                meta = _key_meta(bucket, key, entry.body.path.name)
                if meta != entry.meta:
                    write_json(self._disk.meta_path(bucket.name, key_name), meta)
                    entry.meta = meta
            return
        self._persist(bucket, key)

    def _persist(self, bucket: Any, key: FakeKey) -> None:
        tmp = self._disk.temp_path(bucket.name)
        buffer = key._value_buffer
        parts = list(buffer.parts) if isinstance(buffer, ConcatBuffer) else []
        size = copy_body(key, tmp)  # outside the lock: large bodies do not stall other writes
        with self._lock:
            if latest_key(bucket, key.name) is not key:
                tmp.unlink(missing_ok=True)  # superseded meanwhile; its own request persists it
                return
            body_path = self._disk.body_path(bucket.name, key.name)
            os.replace(tmp, body_path)
            meta = _key_meta(bucket, key, body_path.name)
            try:
                write_json(self._disk.meta_path(bucket.name, key.name), meta)  # commit
            except OSError:
                body_path.unlink(missing_ok=True)  # never committed
                raise
            body = BodyFile(body_path)
            old = self._objects.get((bucket.name, key.name))
            self._track(bucket.name, key, meta, body)
            if old is not None:
                old.body.supersede()
        attach_disk_body(key, body, size, parts)

    def _track(self, bucket_name: str, key: FakeKey, meta: dict, body: BodyFile) -> None:
        self._objects[(bucket_name, key.name)] = _Entry(meta, body, weakref.ref(key))

    # -- start-up -------------------------------------------------------------------------

    def load(self) -> None:
        """Recreate in moto every bucket and object committed to disk."""
        buckets = objects = 0
        for info, stored in self._disk.load():
            owner = backend(info["account_id"], info["partition"])
            bucket = owner.create_bucket(info["name"], info["region"])
            bucket.creation_date = dt.datetime.fromisoformat(info["creation_date"])
            for meta, body_path in stored:
                self._restore(owner, bucket, meta, body_path)
                objects += 1
            bucket.versioning_status = info.get("versioning")
            self._buckets[bucket.name] = info
            buckets += 1
        log.info(
            "S3 state loaded from %s: %d buckets, %d objects", self.data_dir, buckets, objects
        )

    def _restore(self, owner: S3Backend, bucket: Any, meta: dict, body_path: Path) -> None:
        key = owner.put_object(
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
            owner.put_object_tagging(key, meta["tags"])
        body = BodyFile(body_path)
        attach_disk_body(key, body, meta["size"], [])
        self._track(bucket.name, key, meta, body)


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
    tags = backend_of(bucket).tagger.get_tag_dict_for_resource(key.arn)
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
