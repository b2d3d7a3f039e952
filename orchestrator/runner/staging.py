"""S3 ↔ host folders: channel download, checkpoint restore/sync, artifact upload (spec §3.1 R4, §5).

Runs in the backend (never in the container), against our S3 endpoint with dummy credentials.
Errors become `StagingError`; `retryable` says whether RetryStrategy may try again (R7).

Every host folder is touched only through `confined` (issue 16): an S3 key that would leave
its folder fails the job before anything is written, and uploads open only regular files that
really are inside the folder (symlinks are never followed: kept as links inside a tar, sent as
nothing otherwise; FIFOs and devices are skipped).
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from orchestrator.runner import confined
from orchestrator.runner.base import Channel

DUMMY_CREDENTIALS = {"aws_access_key_id": "smlocal", "aws_secret_access_key": "smlocal"}
_DOWNLOAD_WORKERS = 8
_CHUNK = 1024 * 1024


class StagingError(Exception):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class StopRequested(Exception):
    """Raised inside staging when the job was asked to stop."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise StagingError(f"not an S3 URI: {uri!r}", retryable=False)
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def relative_key(key: str, prefix: str) -> str:
    """Key relative to the channel prefix; a URI naming one object keeps its base name."""
    rel = key[len(prefix) :].lstrip("/")
    return rel or key.rsplit("/", 1)[-1]


def shard(keys: list[str], host_index: int, host_count: int) -> list[str]:
    """ShardedByS3Key: objects in key order, dealt round-robin to the hosts."""
    return sorted(keys)[host_index::host_count]


def artifact_prefix(output_s3_path: str, job_name: str) -> str:
    """`<S3OutputPath without trailing '/'>/<job>/output` (spec §2.8)."""
    return f"{output_s3_path.rstrip('/')}/{job_name}/output"


class S3Stager:
    def __init__(self, endpoint_url: str, credentials: dict[str, str] | None = None) -> None:
        self.endpoint_url = endpoint_url
        # The server's key for jobs when it authenticates requests (`Settings.access_key`).
        self.credentials = credentials or DUMMY_CREDENTIALS
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()

    def client(self, region: str):
        with self._lock:
            if region not in self._clients:
                self._clients[region] = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    region_name=region,
                    config=Config(
                        s3={"addressing_style": "path"},
                        retries={"max_attempts": 3, "mode": "standard"},
                        max_pool_connections=32,
                    ),
                    **self.credentials,
                )
            return self._clients[region]

    # ---- download -------------------------------------------------------------------------

    def list_keys(self, uri: str, region: str) -> list[str]:
        bucket, prefix = split_s3_uri(uri)
        keys: list[str] = []
        try:
            paginator = self.client(region).get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                keys.extend(
                    o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")
                )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                raise StagingError(_no_objects(uri, region), retryable=False) from exc
            raise StagingError(f"listing {uri} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StagingError(f"listing {uri} failed: {exc}") from exc
        return keys

    def download_channel(
        self,
        channel: Channel,
        destinations: list[Path],
        region: str,
        should_stop: Callable[[], bool],
    ) -> None:
        """Every object of the channel into each host's channel folder (sharded if asked)."""
        bucket, prefix = split_s3_uri(channel.s3_uri)
        if channel.s3_data_type == "ManifestFile":
            pairs = self._manifest_pairs(channel.s3_uri, region)
        elif channel.s3_data_type == "S3Prefix":
            pairs = [
                (bucket, key, relative_key(key, prefix))
                for key in self.list_keys(channel.s3_uri, region)
            ]
        else:
            raise StagingError(
                f"S3DataType {channel.s3_data_type} of channel {channel.name} is not supported "
                "locally (use S3Prefix or ManifestFile)",
                retryable=False,
            )
        if not pairs:
            raise StagingError(_no_objects(channel.s3_uri, region), retryable=False)
        folder = f"/opt/ml/input/data/{channel.name}"
        planned = _confine(pairs, folder)
        count = len(destinations)
        if channel.distribution == "ShardedByS3Key" and count > 1:
            by_key = {key: (b, parts) for b, key, parts in planned}
            jobs = []
            for index, dest in enumerate(destinations):
                for key in shard(list(by_key), index, count):
                    b, parts = by_key[key]
                    jobs.append((b, key, dest, parts))
            self._download_all(jobs, region, should_stop)
            return
        first = destinations[0]
        self._download_all([(b, k, first, p) for b, k, p in planned], region, should_stop)
        for dest in destinations[1:]:  # replicas: one download, local copies
            _copy_tree(first, dest, link=channel.input_mode == "FastFile")

    def restore_checkpoints(
        self,
        uri: str,
        destinations: list[Path],
        region: str,
        should_stop: Callable[[], bool],
        local_path: str = "/opt/ml/checkpoints",
    ) -> None:
        """Checkpoints under `uri` into every host's checkpoint folder (none is fine)."""
        bucket, prefix = split_s3_uri(uri)
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        try:
            keys = self.list_keys(f"s3://{bucket}/{prefix}", region)
        except StagingError as exc:
            if not exc.retryable:  # no bucket: nothing to restore
                return
            raise
        planned = _confine([(bucket, key, key[len(prefix) :]) for key in keys], local_path)
        first = destinations[0]
        self._download_all([(b, k, first, p) for b, k, p in planned], region, should_stop)
        for dest in destinations[1:]:
            _copy_tree(destinations[0], dest)

    def _manifest_pairs(self, uri: str, region: str) -> list[tuple[str, str, str]]:
        bucket, key = split_s3_uri(uri)
        try:
            body = self.client(region).get_object(Bucket=bucket, Key=key)["Body"].read()
            manifest = json.loads(body)
            base_bucket, base_prefix = split_s3_uri(manifest[0]["prefix"])
            return [(base_bucket, base_prefix + rel, rel) for rel in manifest[1:]]
        except (ClientError, BotoCoreError) as exc:
            raise StagingError(f"reading manifest {uri} failed: {exc}") from exc
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise StagingError(
                f"manifest {uri} is not a SageMaker manifest "
                '([{"prefix": "s3://..."}, "relative/key", ...]): ' + str(exc),
                retryable=False,
            ) from exc

    def _download_all(
        self, jobs: list[_Download], region: str, should_stop: Callable[[], bool]
    ) -> None:
        client = self.client(region)

        def fetch(job: _Download) -> None:
            if should_stop():
                raise StopRequested()
            bucket, key, root, parts = job
            try:
                body = client.get_object(Bucket=bucket, Key=key)["Body"]
                with confined.create_file(root, parts) as handle:
                    for chunk in iter(lambda: body.read(_CHUNK), b""):
                        handle.write(chunk)
            except (ClientError, BotoCoreError) as exc:
                raise StagingError(f"downloading s3://{bucket}/{key} failed: {exc}") from exc
            except OSError as exc:
                raise StagingError(
                    f"writing s3://{bucket}/{key} to {'/'.join(parts)} failed: {exc}"
                ) from exc

        if len(jobs) <= 1:
            for job in jobs:
                fetch(job)
            return
        with ThreadPoolExecutor(max_workers=_DOWNLOAD_WORKERS) as pool:
            for future in [pool.submit(fetch, job) for job in jobs]:
                future.result()

    # ---- upload ---------------------------------------------------------------------------

    def upload_tar(self, sources: list[Path], uri: str, region: str, scratch: Path) -> None:
        """tar.gz of the merged trees (first source wins on equal paths), entries at the root."""
        bucket, key = split_s3_uri(uri)
        scratch.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(suffix=".tar.gz", dir=scratch)
        os.close(fd)
        try:
            with tarfile.open(name, "w:gz", compresslevel=6) as tar:
                for source, node in _merged_nodes(sources):
                    _add_to_tar(tar, source, node)
            self._upload_file(Path(name), bucket, key, region)
        finally:
            os.unlink(name)

    def upload_files(self, sources: list[Path], uri_prefix: str, region: str) -> None:
        """Every file as its own object under `uri_prefix/` (CompressionType NONE)."""
        bucket, prefix = split_s3_uri(uri_prefix.rstrip("/") + "/")
        for source, node in _merged_nodes(sources):
            if node.kind == "file":
                self._upload_confined(source, node.rel, bucket, prefix + node.rel, region)

    def sync_checkpoints(self, sources: list[Path], uri: str, region: str) -> None:
        """Local checkpoint files → `uri` uncompressed; objects deleted locally are deleted."""
        CheckpointSync(self, sources, uri, region).sync()

    def _upload_file(self, path: Path, bucket: str, key: str, region: str) -> None:
        """Our own file (a tar we wrote) to S3."""
        try:
            self.client(region).upload_file(str(path), bucket, key)
        except (ClientError, BotoCoreError, boto3.exceptions.S3UploadFailedError) as exc:
            raise StagingError(f"uploading s3://{bucket}/{key} failed: {exc}") from exc

    def _upload_confined(self, root: Path, rel: str, bucket: str, key: str, region: str) -> bool:
        """Regular file `root/rel` (never through a link) to S3; False when it is no longer
        a regular file inside `root` (removed, or swapped for a link since it was listed)."""
        handle = confined.open_file(root, rel)
        if handle is None:
            return False
        try:
            with handle:
                self.client(region).upload_fileobj(handle, bucket, key)
        except (ClientError, BotoCoreError, boto3.exceptions.S3UploadFailedError) as exc:
            raise StagingError(f"uploading s3://{bucket}/{key} failed: {exc}") from exc
        except OSError as exc:
            raise StagingError(f"reading {rel} for s3://{bucket}/{key} failed: {exc}") from exc
        return True


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
                if not self._stager._upload_confined(
                    Path(sig[2]), rel, self._bucket, key, self._region
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
            for source, node in _merged_nodes(self._sources)
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


def _no_objects(uri: str, region: str) -> str:
    # The real service's wording for an empty or missing channel prefix.
    return (
        f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. '
        f"Please ensure that the bucket exists in the selected region ({region}) and that "
        "objects exist under that S3 prefix."
    )


_Download = tuple[str, str, Path, tuple[str, ...]]  # bucket, key, folder, path segments


def _confine(
    pairs: list[tuple[str, str, str]], folder: str
) -> list[tuple[str, str, tuple[str, ...]]]:
    """(bucket, key, relative name) → (bucket, key, path segments), every name checked before
    anything is written: one key that would leave `folder` fails the job (not retryable)."""
    planned = []
    for bucket, key, rel in pairs:
        try:
            planned.append((bucket, key, confined.confined_parts(rel)))
        except confined.UnsafeName as exc:
            raise StagingError(
                f'ClientError: S3 object "s3://{bucket}/{key}" cannot be downloaded into '
                f"{folder}: {exc} (it must stay inside that folder). Rename or remove the "
                "object.",
                retryable=False,
            ) from exc
    try:
        confined.check_no_conflicts(["/".join(parts) for _b, _k, parts in planned])
    except confined.UnsafeName as exc:
        raise StagingError(
            f"ClientError: the S3 objects for {folder} cannot all be downloaded: {exc}. "
            "Rename or remove one of them.",
            retryable=False,
        ) from exc
    return planned


def _merged_nodes(sources: Iterable[Path]) -> Iterable[tuple[Path, confined.Node]]:
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


def _copy_tree(source: Path, dest: Path, *, link: bool = False) -> None:
    """Replicate a downloaded tree for another host. Hard links only for read-only data:
    each instance must be free to modify its own copy, as on separate machines."""
    for node in confined.iter_tree(source):
        handle = confined.open_file(source, node.rel) if node.kind == "file" else None
        if handle is None:
            continue
        parts = tuple(node.rel.split("/"))
        with handle:
            if link:
                confined.link_or_copy(handle, dest, parts)
                continue
            with confined.create_file(dest, parts) as out:
                while chunk := handle.read(_CHUNK):
                    out.write(chunk)
