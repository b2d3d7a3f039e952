"""The embedded S3's on-disk layout and its atomic file operations.

Layout under `data_dir`:
    buckets/<bucket>/bucket.json               name, account, region, creation date, versioning
    buckets/<bucket>/objects/<sha256>.json     key name, etag, size, metadata, tags, checksums
    buckets/<bucket>/objects/<sha256>.<id>.body
An object's JSON metadata file is its commit point: a body is written (temp file, fsync,
rename) before the metadata that names it. Orphans (a body written but not committed, a temp
file) are removed at load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from moto.s3.models import FakeKey

from orchestrator.storage.s3_buffers import CHUNK

log = logging.getLogger("smlocal.s3")

_SAFE_DIR = re.compile(r"[a-z0-9][a-z0-9.\-]{0,254}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data: dict) -> None:
    """Atomic replace: a reader (or a restart after kill -9) sees the old or the new file."""
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # e.g. ENOSPC: no half-written temp file stays behind
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _object_id(key_name: str) -> str:
    return hashlib.sha256(key_name.encode("utf-8", "surrogatepass")).hexdigest()


def copy_body(key: FakeKey, dest: Path) -> int:
    """Write `key`'s body to `dest` and fsync it; returns its size."""
    size = 0
    try:
        with key.lock, open(dest, "wb") as out:
            buffer = key._value_buffer
            buffer.seek(0)
            while chunk := buffer.read(CHUNK):
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:  # e.g. ENOSPC: the partial copy goes at once
        dest.unlink(missing_ok=True)
        raise
    return size


class Disk:
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
        write_json(self.bucket_dir(info["name"]) / "bucket.json", info)

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
