"""S3 → host folders: channel download and checkpoint restore (spec §3.1 R4, §5); the S3
client the uploads use too (artifacts and checkpoint sync: `uploads`).

Runs in the backend (never in the container), against our S3 endpoint with dummy credentials.
Errors become `StagingError`; `retryable` says whether RetryStrategy may try again (R7).

Every host folder is touched only through `confined` (issue 16): an S3 key that would leave
its folder fails the job before anything is written.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
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
