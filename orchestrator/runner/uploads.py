"""Host folders → S3: a job's model and output artifacts, and its checkpoint sync (spec §3.1
R4, §5). Downloads and the S3 client are `staging.S3Stager`'s.

An object below boto3's multipart threshold (8 MiB, `TransferConfig`'s default) goes up as
one PutObject read straight from the file: boto3's managed `upload_file`/`upload_fileobj`
start a transfer thread pool on every call, and that was most of the server's CPU while 500
short jobs uploaded their small model.tar.gz/output.tar.gz (issue 15, load). Larger files keep
the managed multipart transfer. Neither leaves a partial object at the key: S3 stores a
PutObject only when its whole body (Content-Length) arrived, and a multipart upload only when
it is completed. The client's retries (standard mode, 3 attempts) rewind the body and send it
again, as they did for the managed transfer's own PutObject.

Uploads open only regular files that really are inside their folder (`confined`, issue 16):
symlinks are never followed (kept as links inside a tar, sent as nothing otherwise).
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from orchestrator.runner import confined
from orchestrator.runner.staging import S3Stager, StagingError, split_s3_uri

MULTIPART_THRESHOLD = TransferConfig().multipart_threshold
_FAILURES = (ClientError, BotoCoreError, boto3.exceptions.S3UploadFailedError)


def upload_tar(stager: S3Stager, sources: list[Path], uri: str, region: str,
               scratch: Path) -> None:
    """tar.gz of the merged trees (first source wins on equal paths), entries at the root."""
    bucket, key = split_s3_uri(uri)
    scratch.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(suffix=".tar.gz", dir=scratch)
    os.close(fd)
    try:
        with tarfile.open(name, "w:gz", compresslevel=6) as tar:
            for source, node in merged_nodes(sources):
                _add_to_tar(tar, source, node)
        _upload_own(stager.client(region), Path(name), bucket, key)
    finally:
        os.unlink(name)


def upload_files(stager: S3Stager, sources: list[Path], uri_prefix: str, region: str) -> None:
    """Every file as its own object under `uri_prefix/` (CompressionType NONE)."""
    bucket, prefix = split_s3_uri(uri_prefix.rstrip("/") + "/")
    for source, node in merged_nodes(sources):
        if node.kind == "file":
            upload_confined(stager, source, node.rel, bucket, prefix + node.rel, region)


def sync_checkpoints(stager: S3Stager, sources: list[Path], uri: str, region: str) -> None:
    """Local checkpoint files → `uri` uncompressed; objects deleted locally are deleted."""
    CheckpointSync(stager, sources, uri, region).sync()


def upload_confined(stager: S3Stager, root: Path, rel: str, bucket: str, key: str,
                    region: str) -> bool:
    """Regular file `root/rel` (never through a link) to S3; False when it is no longer
    a regular file inside `root` (removed, or swapped for a link since it was listed)."""
    handle = confined.open_file(root, rel)
    if handle is None:
        return False
    try:
        with handle:
            _upload_handle(stager.client(region), handle, bucket, key)
    except _FAILURES as exc:
        raise StagingError(f"uploading s3://{bucket}/{key} failed: {exc}") from exc
    except OSError as exc:
        raise StagingError(f"reading {rel} for s3://{bucket}/{key} failed: {exc}") from exc
    return True


def _upload_own(client: Any, path: Path, bucket: str, key: str) -> None:
    """A file we wrote and nobody changes (a tar): streamed with its size as Content-Length."""
    try:
        size = path.stat().st_size
        if size >= MULTIPART_THRESHOLD:
            client.upload_file(str(path), bucket, key)
            return
        with path.open("rb") as body:
            client.put_object(Bucket=bucket, Key=key, Body=body, ContentLength=size)
    except _FAILURES as exc:
        raise StagingError(f"uploading s3://{bucket}/{key} failed: {exc}") from exc


def _upload_handle(client: Any, handle: BinaryIO, bucket: str, key: str) -> None:
    """A file the training may still be writing (a checkpoint): read below the threshold, so
    the Content-Length sent is the length read even if the file grows meanwhile."""
    data = handle.read(MULTIPART_THRESHOLD)
    if len(data) < MULTIPART_THRESHOLD:
        client.put_object(Bucket=bucket, Key=key, Body=data)
        return
    handle.seek(0)
    client.upload_fileobj(handle, bucket, key)


class CheckpointSync:
    """Incremental one-way sync of the checkpoint folders to `CheckpointConfig.S3Uri`.

    SageMaker syncs the local checkpoint path to S3 while training runs, uncompressed, and
    deletions propagate (spec §5; AWS "Use checkpoints in Amazon SageMaker"). A file is sent
    again only when its (size, mtime) changed since we last sent it, so the final sync after
    periodic ones uploads nothing twice. Trees merge as in `upload_tar` (first source wins).

    `state_file` keeps what was sent across a server restart (a re-adopted job resumes
    without re-uploading). `sync()` is serialised; call it from any thread.
    """

    def __init__(
        self,
        stager: S3Stager,
        sources: list[Path],
        uri: str,
        region: str,
        state_file: Path | None = None,
    ) -> None:
        self._stager, self._sources, self._region = stager, list(sources), region
        self._uri = uri
        self._bucket, prefix = split_s3_uri(uri)
        self._prefix = prefix.rstrip("/") + "/" if prefix else ""
        self._state_file = state_file
        self._sent: dict[str, list] = {}  # relative name -> [size, mtime_ns, source folder]
        self._lock = threading.Lock()
        if state_file is not None:
            try:
                loaded = json.loads(state_file.read_text())
                if isinstance(loaded, dict):
                    self._sent = loaded
            except (OSError, ValueError):
                pass

    def mark_current(self) -> None:
        """The local files are what S3 holds (just restored from it): nothing to send."""
        with self._lock:
            self._sent = {rel: sig for rel, sig in self._local().items() if sig is not None}
            self._save()

    def sync(self) -> tuple[int, int]:
        """Upload new or changed files, delete objects whose file is gone; (sent, deleted).

        A file removed (or replaced by something that is not a regular file) between listing
        and upload is skipped: the training is still writing, and the next sync deletes its
        object."""
        with self._lock:
            local = self._local()
            remote = set(
                self._stager.list_keys(f"s3://{self._bucket}/{self._prefix}", self._region)
            )
            sent = 0
            for rel, sig in local.items():
                key = self._prefix + rel
                if self._sent.get(rel) == sig and key in remote:
                    continue
                if not upload_confined(
                    self._stager, Path(sig[2]), rel, self._bucket, key, self._region
                ):
                    continue
                self._sent[rel] = sig
                sent += 1
            stale = sorted(remote - {self._prefix + rel for rel in local})
            self._delete(stale)
            for key in stale:
                self._sent.pop(key[len(self._prefix) :], None)
            for rel in set(self._sent) - set(local):
                del self._sent[rel]
            if sent or stale:
                self._save()
            return sent, len(stale)

    def _local(self) -> dict[str, list]:
        return {
            node.rel: [node.size, node.mtime_ns, str(source)]
            for source, node in merged_nodes(self._sources)
            if node.kind == "file"
        }

    def _delete(self, keys: list[str]) -> None:
        client = self._stager.client(self._region)
        try:
            for start in range(0, len(keys), 1000):
                batch = [{"Key": k} for k in keys[start : start + 1000]]
                client.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True}
                )
        except (ClientError, BotoCoreError) as exc:
            raise StagingError(
                f"deleting stale checkpoints under {self._uri} failed: {exc}"
            ) from exc

    def _save(self) -> None:
        if self._state_file is None:
            return
        tmp = self._state_file.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self._sent))
            os.replace(tmp, self._state_file)
        except OSError:  # only costs a re-upload after a restart
            pass


def merged_nodes(sources: Iterable[Path]) -> Iterable[tuple[Path, confined.Node]]:
    """(source folder, node) over several trees, the first tree winning on equal names."""
    seen: set[str] = set()
    for source in sources:
        for node in confined.iter_tree(source):
            if node.rel not in seen:
                seen.add(node.rel)
                yield source, node


def _add_to_tar(tar: tarfile.TarFile, source: Path, node: confined.Node) -> None:
    """A folder or link as its own entry (a link's text, never its target's content); a
    regular file through a descriptor opened without following links."""
    if node.kind == "file":
        handle = confined.open_file(source, node.rel)
        if handle is None:  # gone, or swapped for a link since the walk
            return
        with handle:
            tar.addfile(tar.gettarinfo(arcname=node.rel, fileobj=handle), handle)
        return
    info = tarfile.TarInfo(node.rel)
    info.mode = stat.S_IMODE(node.mode)
    info.mtime = node.mtime_ns // 1_000_000_000
    if node.kind == "dir":
        info.type = tarfile.DIRTYPE
    else:
        info.type, info.linkname = tarfile.SYMTYPE, node.target or ""
    tar.addfile(info)
