"""smlocal's extension operations (`X-Amz-Target: SmLocal.<Op>`): the registry, the wire
(validation, errors, gzip bodies, routing beside SageMaker) and authentication, through the
client helper `orchestrator.client.extensions.call` against a real server on the fake backend."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from werkzeug.test import Client

from orchestrator.api.extensions import ExtensionEndpoint, build_model
from orchestrator.app import SmlocalApp
from orchestrator.client import extensions
from orchestrator.clock import FakeClock
from orchestrator.config import Settings
from orchestrator.controller.extensions import Extension, discover
from orchestrator.credentials import AccessKey
from orchestrator.errors import ResourceInUse
from orchestrator.runner.fake import FakeBackend
from tests.fake_backed import START, running_app, silent


def _walk(shape: Any, seen: set[str]) -> None:
    if shape.name in seen:
        return
    seen.add(shape.name)
    for member in getattr(shape, "members", {}).values():
        _walk(member, seen)
    for attr in ("member", "key", "value"):
        if hasattr(shape, attr):
            _walk(getattr(shape, attr), seen)


def test_every_discovered_operation_has_resolvable_shapes() -> None:
    ops = discover()
    assert "DescribeServer" in [e.name for e in ops]
    model = build_model(ops)
    for name in model.operation_names:
        op = model.operation_model(name)
        seen: set[str] = set()
        _walk(op.input_shape, seen)  # a dangling shape reference raises here
        _walk(op.output_shape, seen)
        assert op.metadata["targetPrefix"] == "SmLocal"


def test_a_shape_over_a_sagemaker_one_or_a_missing_one_is_refused() -> None:
    clash = Extension("Clash", {"ClashRequest": {"type": "structure", "members": {}},
                                "ClashResponse": {"type": "structure", "members": {}},
                                "TagList": {"type": "list", "member": {"shape": "Tag"}}},
                      lambda ctx, req: {})
    with pytest.raises(ValueError, match="TagList is already defined"):
        build_model([clash])
    missing = Extension("Half", {"HalfRequest": {"type": "structure", "members": {}}},
                        lambda ctx, req: {})
    with pytest.raises(ValueError, match="HalfResponse is missing"):
        build_model([missing])


def test_describe_server_through_the_client_helper(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        out = extensions.call(app.url, "DescribeServer")
        assert out["Region"] == app.settings.region
        assert out["AccountId"] == app.settings.account_id
        assert "DescribeServer" in out["ExtensionOperations"]


def test_wire_errors_are_aws_shaped_4xx(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        with pytest.raises(ClientError) as err:
            extensions.call(app.url, "NoSuchThing")
        assert err.value.response["Error"]["Code"] == "UnknownOperationException"
        assert "SmLocal.DescribeServer" in err.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as err:
            extensions.call(app.url, "DescribeServer", {"Bogus": 1})
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert "Unknown parameter 'Bogus'" in err.value.response["Error"]["Message"]
        # SageMaker on the same port is untouched
        sm_ops = _raw(app.url, "SageMaker.ListHyperParameterTuningJobs", b"{}")
        assert sm_ops[0] == 200
        assert _raw(app.url, "SmLocal.DescribeServer", b"[1]")[0] == 400
        status, body = _raw(app.url, "SmLocal.DescribeServer", b"not gzip",
                            {"Content-Encoding": "gzip"})
        assert status == 400 and body["__type"] == "SerializationException"
        status, body = _raw(app.url, "SmLocal.DescribeServer", gzip.compress(b"{}"),
                            {"Content-Encoding": "gzip"})
        assert status == 200 and body["Region"] == app.settings.region
        status, body = _raw(app.url, "SmLocal.DescribeServer", b"{}",
                            {"Content-Encoding": "br"})
        assert status == 400 and "not supported" in body["message"]


def _raw(url: str, target: str, body: bytes,
         headers: dict[str, str] | None = None) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url + "/", data=body, method="POST", headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1",
        **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_handler_errors_are_encoded_and_bugs_are_500_not_crashes() -> None:
    shapes = {"PingRequest": {"type": "structure", "required": ["Name"], "members": {
                  "Name": {"shape": "HyperParameterTuningJobName"},
                  "When": {"shape": "Timestamp"}}},
              "PingResponse": {"type": "structure", "members": {"Seen": {"shape": "Timestamp"}}}}
    calls: list[dict] = []

    def ping(ctx: Any, request: dict) -> dict:
        calls.append(request)
        if request["Name"] == "taken":
            raise ResourceInUse("taken already")
        if request["Name"] == "bug":
            raise RuntimeError("boom")
        return {"Seen": request.get("When"), "Extra": "dropped"}

    class Handler:
        supported_operations = frozenset({"Ping"})

        def handle(self, operation: str, request: dict) -> dict:
            return ping(None, request)

    client = Client(ExtensionEndpoint(Handler(), [Extension("Ping", shapes, ping)]))

    def post(body: Any) -> tuple[int, dict]:
        resp = client.post("/", data=json.dumps(body), headers={
            "X-Amz-Target": "SmLocal.Ping", "Content-Type": "application/x-amz-json-1.1"})
        return resp.status_code, json.loads(resp.data)

    status, body = post({"Name": "ok", "When": "2026-12-01T00:00:00Z"})
    assert (status, body) == (200, {"Seen": 1796083200.0})
    assert calls[-1]["When"] == 1796083200.0  # normalized to epoch seconds before the handler
    status, body = post({"Name": "bad name!"})
    assert status == 400 and body["__type"] == "ValidationException"
    assert ("Value 'bad name!' at 'name' failed to satisfy constraint: Member must satisfy "
            "regular expression pattern") in body["message"]
    assert post({})[1]["message"].startswith("1 validation error detected")
    assert post({"Name": "taken"}) == (400, {"__type": "ResourceInUse",
                                             "message": "taken already"})
    status, body = post({"Name": "bug"})
    assert status == 500 and body["__type"] == "InternalFailure"
    resp = client.get("/", headers={"X-Amz-Target": "SmLocal.Ping"})
    assert resp.status_code == 405


def test_authentication_applies_to_extension_calls(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    key = AccessKey("AKIAEXTENSIONTEST", "s3cr3t-extension-test")
    clock = FakeClock(START)
    settings = Settings(state_dir=tmp_path, backend="fake", access_key=key)
    app = SmlocalApp(settings=settings, port=0, clock=clock,
                     backend=FakeBackend(silent, clock)).start()
    try:
        monkeypatch.setenv("SMLOCAL_ACCESS_KEY_ID", key.access_key_id)
        monkeypatch.setenv("SMLOCAL_SECRET_ACCESS_KEY", key.secret_access_key)
        assert extensions.call(app.url, "DescribeServer")["AccountId"] == settings.account_id
        monkeypatch.setenv("SMLOCAL_SECRET_ACCESS_KEY", "wrong")
        with pytest.raises(ClientError) as err:
            extensions.call(app.url, "DescribeServer")
        assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
        status, body = _raw(app.url, "SmLocal.DescribeServer", b"{}")
        assert status == 403 and body["__type"] == "MissingAuthenticationToken"
    finally:
        app.stop()


def test_an_unreachable_endpoint_is_a_botocore_error() -> None:
    with pytest.raises(EndpointConnectionError):
        extensions.call("http://127.0.0.1:9", "DescribeServer", timeout=2)
