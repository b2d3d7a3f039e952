"""Malformed S3 requests never get a 5xx, and do not damage what is stored.

moto's S3 parsers raise on much malformed input (bad XML, missing elements, odd query strings);
the embedded S3 answers those with an S3-shaped 400 `InvalidRequest`.
"""

from __future__ import annotations

import http.client
import random
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from orchestrator.api.server import ApiServer
from tests.fake_backed import running_app

PATHS = [
    "/",
    "/fuzz",
    "/fuzz/",
    "/fuzz/k",
    "/fuzz/a/b",
    "/nobucket/k",
    "/x",
    "//",
    "/%ff",
    "/fuzz/%00",
]
QUERIES = [
    "",
    "?x",
    "?uploads",
    "?uploadId=abc",
    "?uploadId=abc&partNumber=1",
    "?partNumber=0&uploadId=x",
    "?tagging",
    "?acl",
    "?versioning",
    "?delete",
    "?list-type=2&max-keys=-1",
    "?list-type=2&max-keys=abc",
    "?versionId=zz",
    "?location",
    "?cors",
    "?policy",
    "?lifecycle",
    "?restore",
    "?select&select-type=2",
    "?retention",
    "?legal-hold",
    "?encryption",
    "?website",
    "?notification",
    "?logging",
    "?ownershipControls",
    "?attributes",
    "?list-type=2&continuation-token=%%%",
]
BODIES = [
    b"",
    b"<xml",
    b"\xff" * 10,
    b"{}",
    b"<?xml version='1.0'?><Delete><Object><Key>k</Key></Object></Delete>",
    b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>",
    b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>",
    b"<VersioningConfiguration><Status>Bogus</Status></VersioningConfiguration>",
]
HEADERS = [
    {},
    {"Range": "bytes=5-1"},
    {"Range": "bytes=abc"},
    {"Content-MD5": "bad"},
    {"x-amz-copy-source": "/fuzz/nokey"},
    {"x-amz-copy-source": "garbage"},
    {"x-amz-checksum-crc32": "zz"},
    {"If-Match": "x"},
    {"x-amz-tagging": "a&&=b"},
    {"x-amz-storage-class": "BOGUS"},
    {"x-amz-copy-source-range": "bytes=9-1", "x-amz-copy-source": "/fuzz/k"},
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    with running_app(tmp_path / "state") as app:
        yield app.server


def test_malformed_s3_requests_never_get_5xx(server: ApiServer) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    s3.create_bucket(Bucket="fuzz")
    s3.put_object(Bucket="fuzz", Key="keep", Body=b"precious")
    rng = random.Random(5)
    for _ in range(800):
        method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD"])
        path = rng.choice(PATHS) + rng.choice(QUERIES)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.request(method, path, body=rng.choice(BODIES), headers=rng.choice(HEADERS))
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        assert resp.status < 500, (method, path, data[:300])
    assert s3.get_object(Bucket="fuzz", Key="keep")["Body"].read() == b"precious"
