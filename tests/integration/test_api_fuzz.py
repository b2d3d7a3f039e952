"""No request, however malformed, makes the SageMaker endpoint answer 5xx.

Seeded random requests over real HTTP: byte garbage, truncated and mutated JSON of the spec
examples sent to every supported operation, odd headers and methods. Every answer must be a 2xx
or an AWS-shaped 4xx (`__type` + `message`).
"""

from __future__ import annotations

import copy
import http.client
import json
import random
from collections.abc import Iterator

import pytest

from orchestrator.api.server import ApiServer, make_app
from tests.fake_backed import OPERATIONS, running_app
from tests.fixtures import SPEC_EXAMPLES

EXAMPLES = SPEC_EXAMPLES
SEED_BODIES = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))] or [{}]
JUNK = [
    None,
    0,
    -1,
    2**63,
    -(2**70),
    1.5,
    1e308,
    "",
    "x" * 3000,
    "\u0000",
    "\U0001f600",
    [],
    {},
    True,
    [None],
    {"Bogus": 1},
    "Grid",
    "arn:aws:sagemaker:us-east-1:1:x/y",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The real service on the fake backend, so fuzzed bodies that pass validation reach its
    rules and state; SageMaker only (no S3), as the answers must all be AWS JSON."""
    with running_app(tmp_path_factory.mktemp("state")) as app, ApiServer(
            make_app(app.service, None, max_body_bytes=64 * 1024), port=0) as srv:
        yield srv


def send(server: ApiServer, method: str, headers: dict, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, "/", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def mutate(rng: random.Random, value: object, depth: int = 0) -> object:
    if isinstance(value, dict) and value and rng.random() < 0.85:
        key = rng.choice(list(value))
        if rng.random() < 0.1:
            del value[key]
        else:
            value[key] = mutate(rng, value[key], depth + 1)
        return value
    if isinstance(value, list) and value and rng.random() < 0.85:
        i = rng.randrange(len(value))
        value[i] = mutate(rng, value[i], depth + 1)
        return value
    return copy.deepcopy(rng.choice(JUNK))


def random_body(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    body = json.dumps(mutate(rng, copy.deepcopy(rng.choice(SEED_BODIES)))).encode()
    if roll < 0.2:
        return body[: rng.randrange(len(body) + 1)]
    if roll < 0.25:
        return b"[" * 5000 + b"]" * 5000
    return body


def random_headers(rng: random.Random) -> dict[str, str]:
    op = rng.choice(sorted(OPERATIONS) + ["CreateEndpoint", "", "Nope"])
    target = rng.choice([f"SageMaker.{op}", f"SageMaker.{op}", f"Other.{op}", op, "."])
    content_type = rng.choice(
        ["application/x-amz-json-1.1"] * 4 + ["", "text/plain", "application/json"]
    )
    headers = {"X-Amz-Target": target}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def assert_not_5xx(status: int, data: bytes) -> None:
    assert status < 500, data[:300]
    if status >= 400:
        error = json.loads(data)
        assert error["__type"] and isinstance(error["message"], str)


def test_fuzzed_requests_never_get_5xx(server: ApiServer) -> None:
    rng = random.Random(20240601)
    for _ in range(400):
        status, data = send(server, "POST", random_headers(rng), random_body(rng))
        assert_not_5xx(status, data)


def test_fuzzed_bodies_for_every_operation(server: ApiServer) -> None:
    rng = random.Random(7)
    for op in sorted(OPERATIONS):
        headers = {"X-Amz-Target": f"SageMaker.{op}", "Content-Type": "application/x-amz-json-1.1"}
        for _ in range(40):
            status, data = send(server, "POST", headers, random_body(rng))
            assert_not_5xx(status, data)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_other_methods_with_a_target(server: ApiServer, method: str) -> None:
    status, data = send(server, method, {"X-Amz-Target": "SageMaker.ListTrainingJobs"}, b"{}")
    assert 400 <= status < 500
    if method != "HEAD":
        assert json.loads(data)["__type"] == "MethodNotAllowed"
