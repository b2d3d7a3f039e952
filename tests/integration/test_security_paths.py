"""Issue 16 end to end: hostile S3 keys and hostile containers against the real server
(SageMaker + S3 on one port, real boto3) and real Docker.

- Objects whose keys climb out of a channel prefix, a checkpoint URI or a manifest's prefix:
  the job fails with a `ClientError:` FailureReason naming the key, before any container
  starts, and no file appears anywhere under the temporary root the test made (which holds
  the server's whole state directory).
- A container that plants symlinks (to a host file outside its folders) in /opt/ml/model,
  /opt/ml/output/data and the checkpoint folder, a FIFO, a device node, an output folder
  replaced by a link, a failure file that is a link: the host file's content appears in no
  S3 object (tar members included) and no FailureReason, and each job ends as it would have.
- Keys over 1,024 bytes: KeyTooLongError.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orchestrator.app import SmlocalApp
from orchestrator.config import Settings
from tests.integration.e2e import clients, wait_for

pytestmark = [pytest.mark.docker]

BUCKET = "security"
CLIMB = "../" * 40  # from any folder under the state dir up to / (and no further)
# ContainerEntrypoint members are at most 256 characters without newlines: the shell script
# travels as the hyperparameter `script` (one line) and this runs it.
RUN_SCRIPT = ("import json,os;s=json.load(open('/opt/ml/input/config/hyperparameters.json'))"
              "['script'];os.execvp('sh',['sh','-c',s])")


@pytest.fixture(scope="module")
def served(tmp_path_factory, smlocal_image):
    root = tmp_path_factory.mktemp("security-root")
    app = SmlocalApp(
        settings=Settings(state_dir=root / "state", stop_grace_seconds=2.0), port=0
    ).start()
    sm, s3 = clients(app.url)
    s3.create_bucket(Bucket=BUCKET)
    yield root, sm, s3, smlocal_image("probe")
    app.stop()


def job_request(image: str, script: str, **extra: Any) -> dict[str, Any]:
    request = {
        "TrainingJobName": f"sec-{uuid.uuid4().hex[:10]}",
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "ContainerEntrypoint": ["python3", "-c", RUN_SCRIPT],
            "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}],
        },
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
        "HyperParameters": {"script": script},
    }
    request.update(extra)
    return request


def run(sm: Any, request: dict[str, Any]) -> dict[str, Any]:
    sm.create_training_job(**request)
    name = request["TrainingJobName"]

    def ended() -> dict[str, Any] | None:
        d = sm.describe_training_job(TrainingJobName=name)
        return d if d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") else None

    return wait_for(ended, timeout=180, what=f"{name} to end")


def escaped_files(root: Path, marker: str) -> list[Path]:
    """Files carrying `marker` in their name anywhere under the test's root. S3 bodies are
    stored under hashed names, so only a file the staging wrote could match."""
    return [p for p in root.rglob(f"*{marker}*")]


def channel(name: str, uri: str, data_type: str = "S3Prefix") -> dict[str, Any]:
    return {"ChannelName": name,
            "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": uri,
                                            "S3DataDistributionType": "FullyReplicated"}}}


def assert_failed_before_training(job: dict[str, Any], key: str) -> None:
    assert job["TrainingJobStatus"] == "Failed", job.get("FailureReason")
    reason = job["FailureReason"]
    assert reason.startswith("ClientError: S3 object "), reason
    assert f"s3://{BUCKET}/{key}" in reason
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert "Training" not in statuses, statuses  # no container was started


def test_channel_key_climbing_out_fails_the_job_and_writes_nothing(served) -> None:
    root, sm, s3, image = served
    marker = f"escaped-{uuid.uuid4().hex[:8]}"
    key = f"chan/{CLIMB}{str(root).lstrip('/')}/{marker}.txt"
    s3.put_object(Bucket=BUCKET, Key="chan/ok.csv", Body=b"1,2")
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"escaped")
    assert key in [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    job = run(sm, job_request(image, "echo loss=0.5",
                              InputDataConfig=[channel("train", f"s3://{BUCKET}/chan/")]))
    assert_failed_before_training(job, key)
    assert "/opt/ml/input/data/train" in job["FailureReason"]
    assert escaped_files(root, marker) == []


def test_checkpoint_key_climbing_out_or_absolute_fails_the_job(served) -> None:
    root, sm, s3, image = served
    for rel in (f"{CLIMB}{str(root).lstrip('/')}/", f"/{str(root).lstrip('/')}/"):
        marker = f"escaped-{uuid.uuid4().hex[:8]}"
        prefix = f"ckpt-{uuid.uuid4().hex[:6]}"
        key = f"{prefix}/{rel}{marker}.bin"
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"escaped")
        job = run(sm, job_request(
            image, "echo loss=0.5",
            CheckpointConfig={"S3Uri": f"s3://{BUCKET}/{prefix}",
                              "LocalPath": "/opt/ml/checkpoints"}))
        assert_failed_before_training(job, key)
        assert escaped_files(root, marker) == []


def test_manifest_entry_climbing_out_fails_the_job(served) -> None:
    root, sm, s3, image = served
    marker = f"escaped-{uuid.uuid4().hex[:8]}"
    rel = f"{CLIMB}{str(root).lstrip('/')}/{marker}.csv"
    s3.put_object(Bucket=BUCKET, Key="man/ok.csv", Body=b"1,2")
    s3.put_object(Bucket=BUCKET, Key="man/" + rel, Body=b"escaped")
    manifest = [{"prefix": f"s3://{BUCKET}/man/"}, "ok.csv", rel]
    s3.put_object(Bucket=BUCKET, Key="man.manifest", Body=json.dumps(manifest).encode())
    job = run(sm, job_request(image, "echo loss=0.5", InputDataConfig=[
        channel("train", f"s3://{BUCKET}/man.manifest", "ManifestFile")]))
    assert_failed_before_training(job, "man/" + rel)
    assert escaped_files(root, marker) == []


def every_object(s3: Any) -> dict[str, bytes]:
    """Every object of the bucket; a .tar.gz also as its decompressed stream (member data)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    found = {}
    for key in (o["Key"] for page in pages for o in page.get("Contents", [])):
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        found[key] = gzip.decompress(body) if key.endswith(".tar.gz") else body
    return found


def tar_members(s3: Any, key: str) -> dict[str, tarfile.TarInfo]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


@pytest.fixture
def secret(served) -> tuple[Path, bytes]:
    root = served[0]
    token = f"SMLOCAL-SECRET-{uuid.uuid4().hex}".encode()
    path = root / f"secret-{uuid.uuid4().hex[:6]}.txt"
    path.write_bytes(token + b"\n")
    return path, token


def test_planted_symlinks_fifos_and_devices_are_never_followed(served, secret) -> None:
    root, sm, s3, image = served
    path, token = secret
    script = "; ".join([
        "set -e", "cd /opt/ml",
        "echo model > model/real.txt", "echo out > output/data/real.txt",
        "echo ck > checkpoints/real.txt",
        f"for d in model output/data checkpoints; do ln -s {path} $d/leak.txt",
        f"mkdir -p $d/sub && ln -s {path} $d/sub/leak2.txt",
        f"ln -s {root} $d/rootlink", "mkfifo $d/fifo; done",
        "mknod model/zero c 1 5 || echo 'no mknod here'",
        "echo loss=0.25",
    ])
    prefix = f"ck-{uuid.uuid4().hex[:6]}"
    job = run(sm, job_request(image, script, CheckpointConfig={
        "S3Uri": f"s3://{BUCKET}/{prefix}", "LocalPath": "/opt/ml/checkpoints"}))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["FinalMetricDataList"][0]["Value"] == 0.25
    name = job["TrainingJobName"]
    objects = every_object(s3)
    assert not [k for k, body in objects.items() if token in body]
    assert sorted(k for k in objects if k.startswith(prefix + "/")) == [f"{prefix}/real.txt"]
    model = tar_members(s3, f"out/{name}/output/model.tar.gz")
    assert model["real.txt"].isfile()
    assert model["leak.txt"].issym() and model["leak.txt"].linkname == str(path)
    assert "zero" not in model and "fifo" not in model
    assert tar_members(s3, f"out/{name}/output/output.tar.gz")["real.txt"].isfile()


def test_uncompressed_model_and_a_linked_output_folder_send_no_host_file(served, secret) -> None:
    root, sm, s3, image = served
    path, token = secret
    script = "; ".join([
        "set -e", "cd /opt/ml",
        "echo model > model/real.txt",
        f"ln -s {path} model/leak.txt", f"ln -s {root} model/rootlink",
        "mknod model/zero c 1 5 || echo 'no mknod here'",
        f"rm -rf output/data && ln -s {root} output/data",
        "echo loss=0.5",
    ])
    job = run(sm, job_request(image, script, OutputDataConfig={
        "S3OutputPath": f"s3://{BUCKET}/out", "CompressionType": "NONE"}))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    name = job["TrainingJobName"]
    objects = every_object(s3)
    assert not [k for k, body in objects.items() if token in body]
    assert sorted(k for k in objects if k.startswith(f"out/{name}/")) == [
        f"out/{name}/output/model/real.txt", f"out/{name}/output/output.tar.gz"]
    assert tar_members(s3, f"out/{name}/output/output.tar.gz") == {}


@pytest.mark.parametrize("plant", ["ln -s {path} output/failure", "mkfifo output/failure"])
def test_a_failure_file_that_is_a_link_or_fifo_is_not_read(served, secret, plant) -> None:
    _root, sm, _s3, image = served
    path, token = secret
    script = f"cd /opt/ml && {plant.format(path=path)} && exit 3"
    job = run(sm, job_request(image, script))
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: Exit Code: 3"
    assert token.decode() not in job["FailureReason"]


def test_keys_over_1024_utf8_bytes_get_key_too_long(served) -> None:
    _root, _sm, s3, _image = served
    s3.put_object(Bucket=BUCKET, Key="k" * 1024, Body=b"x")
    for key in ("k" * 1025, "é" * 513):  # 1,025 and 1,026 bytes in UTF-8
        with pytest.raises(ClientError) as info:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
        assert info.value.response["Error"]["Code"] == "KeyTooLongError"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError, match="KeyTooLongError"):
        s3.create_multipart_upload(Bucket=BUCKET, Key="m" * 1025)
    with pytest.raises(ClientError, match="KeyTooLongError"):
        s3.copy_object(Bucket=BUCKET, Key="c" * 1025,
                       CopySource={"Bucket": BUCKET, "Key": "k" * 1024})
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert max(len(k.encode()) for k in keys) <= 1024
