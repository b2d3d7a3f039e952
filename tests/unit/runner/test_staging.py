"""S3 staging against a real (moto) S3 server: downloads, sharding, uploads, checkpoints."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import socket
import tarfile
import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from orchestrator.runner.base import Channel
from orchestrator.runner.staging import (
    S3Stager,
    StagingError,
    StopRequested,
    _copy_tree,
    artifact_prefix,
    relative_key,
    shard,
)
from orchestrator.runner.uploads import (
    MULTIPART_THRESHOLD,
    CheckpointSync,
    sync_checkpoints,
    upload_files,
    upload_tar,
)

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_url, request):
    client = boto3.client(
        "s3",
        endpoint_url=s3_url,
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    # Parametrized tests share a name prefix: a short unique suffix keeps buckets apart.
    stem = re.sub(r"[^a-z0-9-]", "-", request.node.originalname.replace("_", "-").lower())
    bucket = f"{stem[:50].strip('-')}-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    client.bucket = bucket
    return client


def put(s3, key: str, body: bytes = b"data") -> None:
    s3.put_object(Bucket=s3.bucket, Key=key, Body=body)


def never() -> bool:
    return False


def test_key_helpers() -> None:
    assert relative_key("data/train/a/b.csv", "data/train/") == "a/b.csv"
    assert relative_key("data/train/a/b.csv", "data/train") == "a/b.csv"
    assert relative_key("data/one.csv", "data/one.csv") == "one.csv"
    assert shard(["c", "a", "d", "b"], 0, 2) == ["a", "c"]
    assert shard(["c", "a", "d", "b"], 1, 2) == ["b", "d"]
    assert artifact_prefix("s3://b/out/", "j") == "s3://b/out/j/output"
    assert artifact_prefix("s3://b", "j") == "s3://b/j/output"


def test_channel_download_keeps_nested_keys_relative_to_the_prefix(s3, s3_url, tmp_path) -> None:
    for key in ("train/a.csv", "train/sub/dir/b.csv", "train/", "other/c.csv"):
        put(s3, key, key.encode())
    dests = [tmp_path / "h1", tmp_path / "h2"]
    S3Stager(s3_url).download_channel(
        Channel("train", f"s3://{s3.bucket}/train/"), dests, REGION, never
    )
    for dest in dests:
        files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
        assert files == ["a.csv", "sub/dir/b.csv"]
        assert (dest / "sub/dir/b.csv").read_bytes() == b"train/sub/dir/b.csv"
    # Replicas are copies: one host changing its file must not change another's.
    assert (dests[0] / "a.csv").stat().st_ino != (dests[1] / "a.csv").stat().st_ino


def test_a_uri_naming_one_object_downloads_it_by_its_name(s3, s3_url, tmp_path) -> None:
    put(s3, "data/train.csv")
    S3Stager(s3_url).download_channel(
        Channel("train", f"s3://{s3.bucket}/data/train.csv"), [tmp_path], REGION, never
    )
    assert (tmp_path / "train.csv").read_bytes() == b"data"


def test_sharded_by_s3_key_splits_objects_across_hosts(s3, s3_url, tmp_path) -> None:
    for i in range(5):
        put(s3, f"shards/part-{i}")
    dests = [tmp_path / "h1", tmp_path / "h2"]
    channel = Channel("train", f"s3://{s3.bucket}/shards/", distribution="ShardedByS3Key")
    S3Stager(s3_url).download_channel(channel, dests, REGION, never)
    got = [sorted(p.name for p in d.iterdir()) for d in dests]
    assert got == [["part-0", "part-2", "part-4"], ["part-1", "part-3"]]


def test_manifest_file_lists_keys_under_a_prefix(s3, s3_url, tmp_path) -> None:
    put(s3, "m/x/1.csv", b"1")
    put(s3, "m/x/2.csv", b"2")
    manifest = [{"prefix": f"s3://{s3.bucket}/m/"}, "x/1.csv", "x/2.csv"]
    put(s3, "manifest.json", json.dumps(manifest).encode())
    channel = Channel("train", f"s3://{s3.bucket}/manifest.json", s3_data_type="ManifestFile")
    S3Stager(s3_url).download_channel(channel, [tmp_path], REGION, never)
    assert (tmp_path / "x/2.csv").read_bytes() == b"2"


def test_empty_prefix_or_missing_bucket_is_a_client_error(s3, s3_url, tmp_path) -> None:
    stager = S3Stager(s3_url)
    for uri in (f"s3://{s3.bucket}/nothing/", "s3://no-such-bucket-here/x/"):
        with pytest.raises(StagingError, match="No S3 objects found") as info:
            stager.download_channel(Channel("train", uri), [tmp_path], REGION, never)
        assert not info.value.retryable


def test_unreachable_s3_is_retryable(tmp_path) -> None:
    stager = S3Stager(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StagingError) as info:
        stager.download_channel(Channel("train", "s3://b/x/"), [tmp_path], REGION, never)
    assert info.value.retryable


def test_stop_interrupts_a_download(s3, s3_url, tmp_path) -> None:
    put(s3, "s/a")
    put(s3, "s/b")
    with pytest.raises(StopRequested):
        S3Stager(s3_url).download_channel(
            Channel("train", f"s3://{s3.bucket}/s/"), [tmp_path], REGION, lambda: True
        )


def read_tar(s3, key: str) -> dict[str, bytes]:
    body = s3.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_upload_tar_merges_hosts_with_entries_at_the_root(s3, s3_url, tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "sub").mkdir(parents=True)
    (b).mkdir()
    (a / "model.bin").write_bytes(b"A")
    (a / "sub" / "x").write_bytes(b"AX")
    (b / "model.bin").write_bytes(b"B")
    (b / "extra").write_bytes(b"BE")
    uri = f"s3://{s3.bucket}/out/job/output/model.tar.gz"
    upload_tar(S3Stager(s3_url), [a, b], uri, REGION, tmp_path / "scratch")
    assert read_tar(s3, "out/job/output/model.tar.gz") == {
        "model.bin": b"A",
        "sub/x": b"AX",
        "extra": b"BE",
    }
    assert list((tmp_path / "scratch").iterdir()) == []


def test_empty_model_still_gives_a_valid_tar(s3, s3_url, tmp_path) -> None:
    (tmp_path / "m").mkdir()
    upload_tar(S3Stager(s3_url), [tmp_path / "m"], f"s3://{s3.bucket}/m.tar.gz", REGION,
               tmp_path)
    assert read_tar(s3, "m.tar.gz") == {}


def test_uncompressed_upload(s3, s3_url, tmp_path) -> None:
    (tmp_path / "m" / "d").mkdir(parents=True)
    (tmp_path / "m" / "d" / "w.bin").write_bytes(b"W")
    upload_files(S3Stager(s3_url), [tmp_path / "m"], f"s3://{s3.bucket}/o/j/output/model",
                 REGION)
    assert s3.get_object(Bucket=s3.bucket, Key="o/j/output/model/d/w.bin")["Body"].read() == b"W"


@pytest.mark.parametrize("size", [MULTIPART_THRESHOLD - 1, MULTIPART_THRESHOLD + 1])
def test_uploads_below_and_above_the_multipart_threshold(s3, s3_url, tmp_path, size) -> None:
    # Below: one PutObject from the file; above: boto3's multipart transfer. Random bytes keep
    # the tar.gz about as large as its content, so it lands on the same side.
    data = os.urandom(size)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.bin").write_bytes(data)
    stager = S3Stager(s3_url)
    upload_files(stager, [tmp_path / "m"], f"s3://{s3.bucket}/f", REGION)
    upload_tar(stager, [tmp_path / "m"], f"s3://{s3.bucket}/m.tar.gz", REGION, tmp_path / "t")
    head = s3.head_object(Bucket=s3.bucket, Key="f/w.bin")
    # A multipart object's ETag is "<md5 of the parts' md5s>-<parts>".
    assert head["ContentLength"] == size
    assert ("-" in head["ETag"]) == (size > MULTIPART_THRESHOLD)
    assert s3.get_object(Bucket=s3.bucket, Key="f/w.bin")["Body"].read() == data
    assert read_tar(s3, "m.tar.gz") == {"w.bin": data}


def test_checkpoint_restore_and_sync_propagate_deletions(s3, s3_url, tmp_path) -> None:
    put(s3, "ckpt/step-1", b"1")
    put(s3, "ckpt/sub/step-2", b"2")
    put(s3, "ckpt-other/keep", b"k")
    stager = S3Stager(s3_url)
    dests = [tmp_path / "h1", tmp_path / "h2"]
    stager.restore_checkpoints(f"s3://{s3.bucket}/ckpt", dests, REGION, never)
    for dest in dests:
        assert (dest / "sub" / "step-2").read_bytes() == b"2"
    (dests[0] / "step-1").unlink()
    (dests[0] / "step-3").write_bytes(b"3")
    (dests[1] / "step-1").unlink()
    sync_checkpoints(stager, dests, f"s3://{s3.bucket}/ckpt", REGION)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s3.bucket)["Contents"]}
    assert keys == {"ckpt/sub/step-2", "ckpt/step-3", "ckpt-other/keep"}


def test_restore_from_an_empty_checkpoint_prefix_is_fine(s3, s3_url, tmp_path) -> None:
    S3Stager(s3_url).restore_checkpoints(f"s3://{s3.bucket}/none/", [tmp_path], REGION, never)
    assert list(tmp_path.iterdir()) == []


def keys_under(s3, prefix: str) -> set[str]:
    return {
        o["Key"] for o in s3.list_objects_v2(Bucket=s3.bucket, Prefix=prefix).get("Contents", [])
    }


def test_checkpoint_sync_sends_only_what_changed_and_propagates_deletions(
    s3, s3_url, tmp_path
) -> None:
    put(s3, "inc/stale", b"s")  # an object without a local file goes
    src = tmp_path / "h1"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_bytes(b"a")
    (src / "sub" / "b").write_bytes(b"b")
    sync = CheckpointSync(S3Stager(s3_url), [src], f"s3://{s3.bucket}/inc/", REGION)
    assert sync.sync() == (2, 1)
    assert keys_under(s3, "inc/") == {"inc/a", "inc/sub/b"}
    assert sync.sync() == (0, 0)  # unchanged: nothing sent again
    (src / "a").write_bytes(b"a2")
    (src / "sub" / "b").unlink()
    assert sync.sync() == (1, 1)
    assert keys_under(s3, "inc/") == {"inc/a"}
    assert s3.get_object(Bucket=s3.bucket, Key="inc/a")["Body"].read() == b"a2"
    s3.delete_object(Bucket=s3.bucket, Key="inc/a")  # gone from S3 behind our back: resent
    assert sync.sync() == (1, 0)


def test_restored_checkpoints_are_not_sent_back(s3, s3_url, tmp_path) -> None:
    put(s3, "rest/x", b"x")
    put(s3, "rest/y", b"y")
    stager, dest = S3Stager(s3_url), tmp_path / "h1"
    stager.restore_checkpoints(f"s3://{s3.bucket}/rest", [dest], REGION, never)
    sync = CheckpointSync(stager, [dest], f"s3://{s3.bucket}/rest", REGION)
    sync.mark_current()
    (dest / "y").write_bytes(b"changed")
    assert sync.sync() == (1, 0)


def test_checkpoint_sync_state_survives_a_restart(s3, s3_url, tmp_path) -> None:
    src, state = tmp_path / "h1", tmp_path / "sent.json"
    src.mkdir()
    (src / "c").write_bytes(b"c")
    uri = f"s3://{s3.bucket}/st"
    assert CheckpointSync(S3Stager(s3_url), [src], uri, REGION, state_file=state).sync() == (1, 0)
    again = CheckpointSync(S3Stager(s3_url), [src], uri, REGION, state_file=state)
    assert again.sync() == (0, 0)
    state.write_text("not json")  # a damaged record only costs a re-upload
    assert CheckpointSync(S3Stager(s3_url), [src], uri, REGION, state_file=state).sync() == (1, 0)


# ---- issue 16: nothing is written outside a job's folders, no link is followed out ----------

CLIMB = "../" * 12 + "escaped.txt"


def assert_nothing_escaped(tmp_path) -> None:
    assert [p for p in tmp_path.parent.rglob("escaped*")] == []
    assert not (tmp_path.parent.parent / "escaped.txt").exists()


@pytest.mark.parametrize(
    "key",
    ["train/" + CLIMB, "train/sub/" + CLIMB, "train/..", "train/a/./b"],
)
def test_a_channel_key_that_leaves_the_folder_fails_before_anything_is_written(
    s3, s3_url, tmp_path, key
) -> None:
    put(s3, "train/a.csv")
    put(s3, key, b"escaped")
    dest = tmp_path / "h1"
    with pytest.raises(StagingError) as info:
        S3Stager(s3_url).download_channel(
            Channel("train", f"s3://{s3.bucket}/train/"), [dest], REGION, never
        )
    assert not info.value.retryable
    assert str(info.value).startswith(f'ClientError: S3 object "s3://{s3.bucket}/{key}"')
    assert "/opt/ml/input/data/train" in str(info.value)
    assert not dest.exists() or list(dest.rglob("*")) == []  # not even a.csv
    assert_nothing_escaped(tmp_path)


def test_a_key_that_is_both_a_file_and_a_folder_fails_cleanly(s3, s3_url, tmp_path) -> None:
    put(s3, "train/a")
    put(s3, "train/a/b")
    with pytest.raises(StagingError, match="'a' would be both a file and the folder") as info:
        S3Stager(s3_url).download_channel(
            Channel("train", f"s3://{s3.bucket}/train/"), [tmp_path / "h"], REGION, never
        )
    assert not info.value.retryable


@pytest.mark.parametrize("rel", [CLIMB, "/tmp/escaped.txt", "a//b"])
def test_a_manifest_entry_that_leaves_the_folder_fails(s3, s3_url, tmp_path, rel) -> None:
    put(s3, "m/ok.csv")
    put(s3, "m/" + rel, b"escaped")
    manifest = [{"prefix": f"s3://{s3.bucket}/m/"}, "ok.csv", rel]
    put(s3, "manifest.json", json.dumps(manifest).encode())
    channel = Channel("train", f"s3://{s3.bucket}/manifest.json", s3_data_type="ManifestFile")
    with pytest.raises(StagingError, match="ClientError: S3 object") as info:
        S3Stager(s3_url).download_channel(channel, [tmp_path / "h"], REGION, never)
    assert not info.value.retryable
    assert_nothing_escaped(tmp_path)


@pytest.mark.parametrize("rel", [CLIMB, "/escaped.txt"])
def test_a_checkpoint_key_that_leaves_the_folder_fails(s3, s3_url, tmp_path, rel) -> None:
    put(s3, "ck/ok")
    put(s3, "ck/" + rel, b"escaped")
    with pytest.raises(StagingError, match="cannot be downloaded into /ckpt") as info:
        S3Stager(s3_url).restore_checkpoints(
            f"s3://{s3.bucket}/ck", [tmp_path / "h"], REGION, never, "/ckpt"
        )
    assert not info.value.retryable
    assert_nothing_escaped(tmp_path)


def planted(tmp_path):
    """A host folder as a container may leave it: a real file, links to a secret outside,
    a link in place of a folder, a FIFO. Returns (folder, secret)."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"SECRET-CONTENT")
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "real.txt").write_bytes(b"real")
    (src / "leak.txt").symlink_to(secret)
    (src / "sub" / "leak2.txt").symlink_to(secret)
    (src / "dirlink").symlink_to(tmp_path)
    os.mkfifo(src / "fifo")
    return src, secret


def all_bodies(s3) -> bytes:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return b"".join(s3.get_object(Bucket=s3.bucket, Key=k)["Body"].read() for k in keys)


def test_uncompressed_upload_sends_no_link_target(s3, s3_url, tmp_path) -> None:
    src, _ = planted(tmp_path)
    upload_files(S3Stager(s3_url), [src], f"s3://{s3.bucket}/o/model", REGION)
    assert keys_under(s3, "o/") == {"o/model/real.txt"}
    assert b"SECRET" not in all_bodies(s3)


def test_tar_keeps_links_as_links_and_never_their_targets(s3, s3_url, tmp_path) -> None:
    src, secret = planted(tmp_path)
    upload_tar(S3Stager(s3_url), [src], f"s3://{s3.bucket}/m.tar.gz", REGION, tmp_path / "t")
    body = s3.get_object(Bucket=s3.bucket, Key="m.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["dirlink", "leak.txt", "real.txt", "sub", "sub/leak2.txt"]
        assert members["leak.txt"].issym() and members["leak.txt"].linkname == str(secret)
        assert tar.extractfile("real.txt").read() == b"real"
    assert b"SECRET" not in gzip.decompress(body)


def test_checkpoint_sync_and_replicas_send_no_link_target(s3, s3_url, tmp_path) -> None:
    src, _ = planted(tmp_path)
    assert CheckpointSync(S3Stager(s3_url), [src], f"s3://{s3.bucket}/c", REGION).sync() == (1, 0)
    assert keys_under(s3, "c/") == {"c/real.txt"}
    assert b"SECRET" not in all_bodies(s3)
    _copy_tree(src, tmp_path / "replica")
    assert sorted(p.name for p in (tmp_path / "replica").rglob("*")) == ["real.txt"]


def test_an_output_folder_replaced_by_a_link_uploads_nothing(s3, s3_url, tmp_path) -> None:
    (tmp_path / "secret.txt").write_bytes(b"SECRET-CONTENT")
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "data").symlink_to(tmp_path)
    stager = S3Stager(s3_url)
    upload_tar(stager, [tmp_path / "output" / "data"], f"s3://{s3.bucket}/o.tar.gz", REGION,
                      tmp_path / "t")
    assert read_tar(s3, "o.tar.gz") == {}
    upload_files(stager, [tmp_path / "output" / "data"], f"s3://{s3.bucket}/f", REGION)
    assert keys_under(s3, "f/") == set()
