"""The embedded S3 through real boto3 clients on the same port as SageMaker: object operations,
both addressing styles, durability across clean restarts and `kill -9`, large multipart uploads
without the body held twice in memory."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from tests.fake_backed import start_app

LAUNCHER = Path(__file__).with_name("smlocal_test_server.py")
MiB = 1 << 20


def client(url: str, service: str = "s3"):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


class Served:
    """The real app (its EmbeddedS3 + SageMaker, fake backend) in this process; `restart()`
    reloads from the same state dir. `data_dir` is the S3 data under it."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._start()

    def _start(self) -> None:
        self.app = start_app(self.state_dir)
        self.data_dir = self.app.settings.s3_dir
        self.server = self.app.server
        self.url = self.server.url
        self.client = client(self.url)

    def restart(self) -> None:
        self.stop()
        self._start()

    def stop(self) -> None:
        self.app.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path / "state")
    yield s
    s.stop()


class Subprocess:
    """The launcher in its own process, so that it can be killed with SIGKILL."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc: subprocess.Popen | None = None

    def start(self) -> str:
        self.proc = subprocess.Popen(
            [sys.executable, str(LAUNCHER), str(self.data_dir)], stdout=subprocess.PIPE, text=True
        )
        url = self.proc.stdout.readline().strip()
        assert url.startswith("http://"), "launcher did not start"
        return url

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def peak_rss_mib(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
        raise AssertionError("no VmHWM")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Subprocess]:
    proc = Subprocess(tmp_path / "state")
    yield proc
    proc.stop()


def test_object_operations(served: Served) -> None:
    s3 = served.client
    s3.create_bucket(Bucket="data")
    s3.put_object(
        Bucket="data",
        Key="train/a.csv",
        Body=b"1,2\n",
        ContentType="text/csv",
        Metadata={"origin": "test"},
    )
    s3.put_object(Bucket="data", Key="train/b.csv", Body=b"3,4\n")
    s3.put_object(Bucket="data", Key="test/c.csv", Body=b"5,6\n")
    got = s3.get_object(Bucket="data", Key="train/a.csv")
    assert got["Body"].read() == b"1,2\n"
    assert got["ContentType"] == "text/csv" and got["Metadata"] == {"origin": "test"}
    listed = s3.list_objects_v2(Bucket="data", Prefix="train/")
    assert [o["Key"] for o in listed["Contents"]] == ["train/a.csv", "train/b.csv"]
    prefixes = s3.list_objects_v2(Bucket="data", Delimiter="/")["CommonPrefixes"]
    assert [p["Prefix"] for p in prefixes] == ["test/", "train/"]
    s3.copy_object(
        Bucket="data", Key="copy.csv", CopySource={"Bucket": "data", "Key": "test/c.csv"}
    )
    assert s3.get_object(Bucket="data", Key="copy.csv")["Body"].read() == b"5,6\n"
    s3.delete_object(Bucket="data", Key="train/b.csv")
    s3.delete_objects(Bucket="data", Delete={"Objects": [{"Key": "test/c.csv"}]})
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="data")["Contents"]]
    assert keys == ["copy.csv", "train/a.csv"]
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket="data", Key="train/b.csv")
    assert info.value.response["Error"]["Code"] == "NoSuchKey"


def test_sagemaker_and_s3_share_the_port(served: Served) -> None:
    served.client.create_bucket(Bucket="shared-port")
    sm = client(served.url, "sagemaker")
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []
    assert served.client.list_buckets()["Buckets"][0]["Name"] == "shared-port"


def test_virtual_host_style_requests(served: Served) -> None:
    """boto3 with virtual-host addressing: bucket in the Host header (`<bucket>.localhost`).
    `*.localhost` need not resolve here, so the connection goes to 127.0.0.1 with that Host."""
    port = served.server.port
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://localhost:{port}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(s3={"addressing_style": "virtual"}),
    )
    hosts = []

    def to_loopback(request, **_: object) -> None:
        parts = urlsplit(request.url)
        hosts.append(parts.netloc)
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))

    s3.meta.events.register("before-send.s3", to_loopback)
    s3.create_bucket(Bucket="vhost")
    s3.put_object(Bucket="vhost", Key="dir/obj.txt", Body=b"virtual")
    assert s3.get_object(Bucket="vhost", Key="dir/obj.txt")["Body"].read() == b"virtual"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="vhost")["Contents"]] == ["dir/obj.txt"]
    assert hosts[-1] == f"vhost.localhost:{port}"
    # ... and the same object through path-style addressing.
    assert served.client.get_object(Bucket="vhost", Key="dir/obj.txt")["Body"].read() == b"virtual"


def test_state_survives_a_clean_restart(served: Served) -> None:
    s3 = served.client
    s3.create_bucket(Bucket="keep")
    s3.create_bucket(Bucket="gone")
    s3.put_object(
        Bucket="keep",
        Key="a",
        Body=b"A",
        ContentType="text/plain",
        Metadata={"k": "v"},
        Tagging="team=ml",
    )
    s3.put_object(Bucket="keep", Key="b", Body=b"B1")
    s3.put_object(Bucket="keep", Key="b", Body=b"B2")  # overwrite
    s3.put_object(Bucket="keep", Key="c", Body=b"C")
    s3.delete_object(Bucket="keep", Key="c")
    s3.delete_bucket(Bucket="gone")
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="versioned", Key="v", Body=b"one")
    s3.put_object(Bucket="versioned", Key="v", Body=b"two")
    etag = s3.head_object(Bucket="keep", Key="a")["ETag"]

    served.restart()
    s3 = served.client
    assert sorted(b["Name"] for b in s3.list_buckets()["Buckets"]) == ["keep", "versioned"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="keep")["Contents"]] == ["a", "b"]
    got = s3.get_object(Bucket="keep", Key="a")
    assert got["Body"].read() == b"A" and got["ETag"] == etag
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"k": "v"}
    assert s3.get_object_tagging(Bucket="keep", Key="a")["TagSet"] == [
        {"Key": "team", "Value": "ml"}
    ]
    assert s3.get_object(Bucket="keep", Key="b")["Body"].read() == b"B2"
    assert s3.get_bucket_versioning(Bucket="versioned")["Status"] == "Enabled"
    assert s3.get_object(Bucket="versioned", Key="v")["Body"].read() == b"two"
    # Only the latest body of each key is kept on disk.
    bodies = list((served.data_dir / "buckets" / "keep").rglob("*.body"))
    assert len(bodies) == 2


def test_start_removes_uncommitted_files(served: Served) -> None:
    served.client.create_bucket(Bucket="tidy")
    served.client.put_object(Bucket="tidy", Key="k", Body=b"kept")
    served.stop()
    objects = served.data_dir / "buckets" / "tidy" / "objects"
    (objects / ".tmp-crashed").write_bytes(b"half")
    (objects / ("0" * 64 + ".deadbeef0000.body")).write_bytes(b"orphan")
    served._start()
    assert sorted(p.name.split(".")[-1] for p in objects.iterdir()) == ["body", "json"]
    assert served.client.get_object(Bucket="tidy", Key="k")["Body"].read() == b"kept"


def test_no_mocking_leaks_into_the_process(served: Served) -> None:
    """Real botocore calls elsewhere still go to the network (no mock_aws is active)."""
    other = client("http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(EndpointConnectionError):
        other.list_buckets()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))


def test_kill_9_loses_nothing_acknowledged(launcher: Subprocess, tmp_path: Path) -> None:
    s3 = client(launcher.start())
    s3.create_bucket(Bucket="durable")
    s3.create_bucket(Bucket="dropped")
    s3.delete_bucket(Bucket="dropped")
    for i in range(30):
        s3.put_object(Bucket="durable", Key=f"small/{i:03d}", Body=f"object {i}".encode())
    s3.delete_object(Bucket="durable", Key="small/007")
    s3.put_object(Bucket="durable", Key="small/008", Body=b"overwritten")
    medium = tmp_path / "medium.bin"
    _write_random(medium, 24 * MiB)
    s3.upload_file(str(medium), "durable", "medium.bin")  # multipart (8 MiB parts)
    etag = s3.head_object(Bucket="durable", Key="medium.bin")["ETag"]
    sm = client(s3.meta.endpoint_url, "sagemaker")
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []

    launcher.kill9()
    s3 = client(launcher.start())
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["durable"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="durable", MaxKeys=1000)["Contents"]]
    assert len(keys) == 30 and "small/007" not in keys
    assert s3.get_object(Bucket="durable", Key="small/029")["Body"].read() == b"object 29"
    assert s3.get_object(Bucket="durable", Key="small/008")["Body"].read() == b"overwritten"
    assert s3.head_object(Bucket="durable", Key="medium.bin")["ETag"] == etag
    out = tmp_path / "medium.out"
    s3.download_file("durable", "medium.bin", str(out))
    assert _sha256(out) == _sha256(medium)


@pytest.mark.slow
def test_300_mib_multipart_upload_is_streamed(launcher: Subprocess, tmp_path: Path) -> None:
    """A 300 MiB multipart upload never holds the object in memory: the server's peak RSS grows
    by far less than the object (it grows with part size x concurrency), and the object is
    intact after `kill -9`."""
    big = tmp_path / "big.bin"
    _write_random(big, 300 * MiB)
    s3 = client(launcher.start())
    s3.create_bucket(Bucket="large")
    before = launcher.peak_rss_mib()
    s3.upload_file(str(big), "large", "big.bin", Config=TransferConfig(max_concurrency=4))
    growth = launcher.peak_rss_mib() - before
    assert growth < 150, f"server peak RSS grew by {growth} MiB for a 300 MiB upload"

    launcher.kill9()
    s3 = client(launcher.start())
    head = s3.head_object(Bucket="large", Key="big.bin")
    assert head["ContentLength"] == 300 * MiB
    with open(big, "rb") as f:
        f.seek(123 * MiB + 17)
        expected = f.read(4096)
    ranged = s3.get_object(
        Bucket="large", Key="big.bin", Range=f"bytes={123 * MiB + 17}-{123 * MiB + 17 + 4095}"
    )
    assert ranged["Body"].read() == expected
    out = tmp_path / "big.out"
    s3.download_file("large", "big.bin", str(out))
    assert _sha256(out) == _sha256(big)
