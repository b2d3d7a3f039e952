"""The state disk full (issue 15): the state dir on a 20 MiB tmpfs. Requests that would write get
an AWS-shaped error at once (no hang, no traceback); what was stored before stays readable and
consistent, during and after (space freed, server restarted); no failed S3 write is ever
visible, complete or truncated, and none leaves a temp file behind."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from tests.fake_backed import start_app
from tests.integration.e2e import wait_for

pytestmark = [pytest.mark.slow]

MIB = 1024 * 1024
JOB = {
    "AlgorithmSpecification": {"TrainingImage": "smlocal/any:latest",
                               "TrainingInputMode": "File"},
    "RoleArn": "arn:aws:iam::123456789012:role/any",
    "OutputDataConfig": {"S3OutputPath": "s3://kept/out/"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
    "StoppingCondition": {"MaxRuntimeInSeconds": 60},
}


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 20 MiB tmpfs (root only), unmounted whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _clients(url: str):
    config = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"},
                                    read_timeout=20, connect_timeout=5)
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
              aws_secret_access_key="x", config=config)
    return boto3.client("sagemaker", **kw), boto3.client("s3", **kw)


def _fill(disk: Path) -> Path:
    """Take every free byte of the disk; returns the file to delete to free it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (MIB, 4096, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def _error(call) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    err = caught.value.response
    message = err["Error"].get("Message", "")
    assert "Traceback" not in message and "File \"" not in message, message
    assert err["ResponseMetadata"]["HTTPStatusCode"] >= 400
    return caught.value


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".tmp") or ".tmp-" in p.name]


def test_a_full_state_disk_gives_errors_and_loses_nothing(small_disk) -> None:
    state = small_disk / "state"
    app = start_app(state)
    try:
        sm, s3 = _clients(app.url)
        s3.create_bucket(Bucket="kept")
        kept = {f"data/{i}": os.urandom(MIB) for i in range(3)}
        for key, body in kept.items():
            s3.put_object(Bucket="kept", Key=key, Body=body)
        sm.create_training_job(TrainingJobName="kept-job", **JOB)

        # A PUT larger than the space left: an error, and no trace of it in S3 or on disk.
        big = os.urandom(30 * MIB)
        err = _error(lambda: s3.put_object(Bucket="kept", Key="big", Body=big))
        assert err.response["Error"]["Code"] == "InternalError"
        assert "No space left on device" in err.response["Error"]["Message"]
        assert _error(lambda: s3.head_object(Bucket="kept", Key="big"))
        # Overwriting a kept key with what does not fit leaves the old body in place.
        _error(lambda: s3.put_object(Bucket="kept", Key="data/0", Body=big))
        assert s3.get_object(Bucket="kept", Key="data/0")["Body"].read() == kept["data/0"]
        assert _temp_files(state / "s3") == []

        filler = _fill(small_disk)
        # Every kind of write fails with an AWS-shaped error, at once.
        _error(lambda: s3.put_object(Bucket="kept", Key="small", Body=b"x" * 100_000))
        _error(lambda: s3.create_bucket(Bucket="new-bucket"))
        sm_err = _error(lambda: sm.create_training_job(TrainingJobName="new-job", **JOB))
        assert sm_err.response["Error"]["Code"] == "ServiceUnavailable"
        assert "state disk is full" in sm_err.response["Error"]["Message"]
        # Writes of the other services too: the job's tags, a stop.
        _error(lambda: sm.add_tags(ResourceArn=sm.describe_training_job(
            TrainingJobName="kept-job")["TrainingJobArn"], Tags=[{"Key": "k", "Value": "v"}]))
        # What was stored stays readable meanwhile.
        for key, body in kept.items():
            assert s3.get_object(Bucket="kept", Key=key)["Body"].read() == body
        assert sm.describe_training_job(TrainingJobName="kept-job")["TrainingJobName"]
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["kept"]
        _error(lambda: s3.head_object(Bucket="kept", Key="small"))

        filler.unlink()  # space again: writes work, the failed ones never happened
        s3.put_object(Bucket="kept", Key="after", Body=b"after")
        sm.create_training_job(TrainingJobName="after-job", **JOB)
        assert _temp_files(state / "s3") == []
    finally:
        app.stop()

    app = start_app(state)  # and all of it as it was after a restart
    try:
        sm, s3 = _clients(app.url)
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="kept")["Contents"])
        assert keys == ["after", *sorted(kept)]
        for key, body in kept.items():
            assert s3.get_object(Bucket="kept", Key=key)["Body"].read() == body
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["kept"]
        names = {j["TrainingJobName"] for j in sm.list_training_jobs()["TrainingJobSummaries"]}
        assert names == {"kept-job", "after-job"}
    finally:
        app.stop()


def test_a_put_cut_short_is_never_visible(tmp_path) -> None:
    """A client that dies mid-body (no disk involved): no object, truncated or not."""
    app = start_app(tmp_path / "state")
    try:
        _sm, s3 = _clients(app.url)
        s3.create_bucket(Bucket="cut")
        s3.put_object(Bucket="cut", Key="model.tar.gz", Body=b"old" * 1000)
        host, port = app.url.removeprefix("http://").split(":")
        # Over an existing key, a new key, a small body: the stream ends before the body does.
        for key, size, sent in (("model.tar.gz", 4 * MIB, MIB), ("new.tar.gz", 4 * MIB, MIB),
                                ("small.txt", 1000, 100)):
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(f"PUT /cut/{key} HTTP/1.1\r\nHost: {host}\r\n"
                             f"Content-Length: {size}\r\n\r\n".encode() + b"x" * sent)
        def keys() -> list[str]:
            return [o["Key"] for o in s3.list_objects_v2(Bucket="cut").get("Contents", [])]

        # The server thread notices the cut on its own.
        wait_for(lambda: keys() == ["model.tar.gz"], timeout=10, every=0.1,
                 what="only the old object to be listed")
        assert keys() == ["model.tar.gz"]
        assert s3.get_object(Bucket="cut", Key="model.tar.gz")["Body"].read() == b"old" * 1000
        assert _temp_files(tmp_path / "state" / "s3") == []
    finally:
        app.stop()
