"""Request bodies over the size limit (issue 15): SageMaker and the other JSON/query services
answer 413 at once, from the headers or after reading no more than the limit, so an absurd body
is never buffered whole; S3 PUTs are not limited; the server keeps serving."""

from __future__ import annotations

import json
import resource
import socket
import time
from collections.abc import Iterator

import pytest

from orchestrator.api.server import DEFAULT_MAX_BODY_BYTES
from tests.fake_backed import start_app

GIB = 1024**3
SAGEMAKER = {"Content-Type": "application/x-amz-json-1.1",
             "X-Amz-Target": "SageMaker.ListTrainingJobs"}
LOGS = {"Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Logs_20140328.GetLogEvents"}
STS = {"Content-Type": "application/x-www-form-urlencoded",  # signed: routed by its scope
       "Authorization": "AWS4-HMAC-SHA256 Credential=x/20250101/us-east-1/sts/aws4_request, "
                        "SignedHeaders=host, Signature=0"}


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator:
    app = start_app(tmp_path_factory.mktemp("bodies"))
    yield app
    app.stop()


def _send(app, headers: dict[str, str], first: bytes, *, length: int | None = None,
          chunks: Iterator[bytes] | None = None) -> tuple[int, bytes, float]:
    """Send the headers and `first` bytes (and more `chunks` while the server reads); returns
    (status, body, seconds until the answer)."""
    host, port = app.url.removeprefix("http://").split(":")
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    framing = (f"Content-Length: {length}\r\n" if length is not None
               else "Transfer-Encoding: chunked\r\n")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(f"POST / HTTP/1.1\r\nHost: {host}\r\n{head}{framing}\r\n".encode() + first)
        try:
            for chunk in chunks or ():
                sock.sendall(chunk)
        except OSError:  # the server answered and closed: it stopped reading, as it should
            pass
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected(data):
            more = sock.recv(65536)
            if not more:
                break
            data += more
    elapsed = time.monotonic() - started
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1], elapsed


def _expected(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return 1 << 62


@pytest.mark.parametrize("headers", [SAGEMAKER, LOGS, STS], ids=["sagemaker", "logs", "sts"])
def test_a_declared_huge_body_is_refused_before_it_is_sent(app, headers) -> None:
    status, body, seconds = _send(app, headers, b"{", length=GIB)  # 1 GiB announced, 1 sent
    assert status == 413, body
    assert seconds < 5  # answered from the headers: it never waited for the gigabyte
    if headers is not STS:
        assert json.loads(body)["__type"] in ("RequestEntityTooLarge", "ValidationException")
    else:
        assert b"<Code>" in body


def test_a_chunked_body_over_the_limit_is_cut_off_without_buffering_it(app) -> None:
    piece = b"a" * 65536
    total = 256 * 1024 * 1024  # 64 times the limit, streamed without a Content-Length
    chunks = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
              for _ in range(total // len(piece)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    status, body, _ = _send(app, SAGEMAKER, b'1\r\n{\r\n', chunks=chunks)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert status == 413, body
    assert json.loads(body)["__type"] == "RequestEntityTooLarge"
    assert grown < total // 4, grown  # the peak RSS of this process (server and client)


def test_the_server_keeps_serving_and_s3_puts_are_not_limited(app) -> None:
    import boto3

    kw = dict(endpoint_url=app.url, region_name="us-east-1", aws_access_key_id="x",
              aws_secret_access_key="x")
    sm, s3 = boto3.client("sagemaker", **kw), boto3.client("s3", **kw)
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []
    s3.create_bucket(Bucket="big")
    body = b"z" * (2 * DEFAULT_MAX_BODY_BYTES)
    s3.put_object(Bucket="big", Key="k", Body=body)
    assert s3.head_object(Bucket="big", Key="k")["ContentLength"] == len(body)
