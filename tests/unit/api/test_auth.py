"""SigV4 verification (`api.auth`) against AWS's own worked example of a streaming upload
(AmazonS3/latest/API/sigv4-streaming.html): the seed signature over the headers and the chained
chunk signatures, with the documented key pair, date and values."""

from __future__ import annotations

import calendar
import io
from typing import Any

from orchestrator.api.auth import Authenticator

KEY_ID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"]
SIGNED_HEADERS = ("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                  "x-amz-decoded-content-length;x-amz-storage-class")


def chunked(data: list[bytes], signatures: list[str]) -> bytes:
    return b"".join(f"{len(d):x};chunk-signature={s}\r\n".encode() + d + b"\r\n"
                    for d, s in zip(data, signatures, strict=True))


def call(body: bytes, *, seed: str = SEED, minutes_later: int = 1) -> tuple[str, bytes, Any]:
    seen: dict[str, bytes] = {}

    def inner(environ: dict, start_response: Any) -> list[bytes]:
        seen["body"] = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b"ok"]

    now = calendar.timegm((2013, 5, 24, 0, 0, 0)) + 60 * minutes_later
    auth = Authenticator(inner, {KEY_ID: SECRET}, now=lambda: now)
    environ = {
        "REQUEST_METHOD": "PUT", "PATH_INFO": "/examplebucket/chunkObject.txt",
        "RAW_URI": "/examplebucket/chunkObject.txt", "QUERY_STRING": "",
        "HTTP_HOST": "s3.amazonaws.com", "HTTP_X_AMZ_DATE": "20130524T000000Z",
        "HTTP_X_AMZ_STORAGE_CLASS": "REDUCED_REDUNDANCY",
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20130524/us-east-1/s3/"
                              f"aws4_request,SignedHeaders={SIGNED_HEADERS},Signature={seed}",
        "HTTP_X_AMZ_CONTENT_SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "HTTP_CONTENT_ENCODING": "aws-chunked", "HTTP_X_AMZ_DECODED_CONTENT_LENGTH": "66560",
        "CONTENT_LENGTH": "66824", "wsgi.input": io.BytesIO(body),
    }
    status: list[str] = []
    answer = b"".join(auth(environ, lambda s, h: status.append(s)))
    return status[0], answer, seen.get("body")


EXAMPLE = chunked([b"a" * 65536, b"a" * 1024, b""], CHUNK_SIGNATURES)


def test_awss_streaming_example_passes_with_its_body_unchanged() -> None:
    assert len(EXAMPLE) == 66824
    status, answer, body = call(EXAMPLE)
    assert (status, answer, body) == ("200 OK", b"ok", EXAMPLE)


def test_a_changed_chunk_or_seed_is_refused() -> None:
    tampered = chunked([b"a" * 65535 + b"b", b"a" * 1024, b""], CHUNK_SIGNATURES)
    status, answer, body = call(tampered)
    assert status.startswith("403") and b"<Code>SignatureDoesNotMatch</Code>" in answer
    assert body is None
    status, answer, _ = call(EXAMPLE, seed="0" * 64)
    assert status.startswith("403") and b"SignatureDoesNotMatch" in answer


def test_a_request_signed_over_15_minutes_ago_is_too_skewed() -> None:
    status, answer, _ = call(EXAMPLE, minutes_later=16)
    assert status.startswith("403") and b"<Code>RequestTimeTooSkewed</Code>" in answer
