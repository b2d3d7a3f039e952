"""CloudWatch Logs (AWS JSON 1.1, `X-Amz-Target: Logs_20140328.<Operation>`) on the same port.

Wire only: decode, hand to `service.handle(operation, request)`, encode; domain errors become
`{"__type", "message"}` envelopes. With `AWS_ENDPOINT_URL` pointing at smlocal, the SageMaker
SDK's log tailing (`Estimator.fit()`, `Estimator.logs()`) reads training-job logs from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from orchestrator.api import protocol
from orchestrator.api.aws_endpoint import read_body
from orchestrator.api.envelope import json_call

TARGET_PREFIX = "Logs_20140328."
MAX_BODY_BYTES = 64 * 1024  # the reads' requests are a few hundred bytes


class LogsService(Protocol):
    supported_operations: frozenset[str]

    def handle(self, operation: str, request: dict) -> dict: ...


class LogsEndpoint:
    def __init__(self, service: LogsService) -> None:
        self._service = service

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return json_call(start_response, lambda: protocol.encode(self._handle(environ)),
                         where=environ.get("HTTP_X_AMZ_TARGET") or "?",
                         internal_code="ServiceUnavailableException")

    def _handle(self, environ: dict) -> dict[str, Any]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(TARGET_PREFIX):
            raise protocol.WireError(
                "UnknownOperationException",
                f"CloudWatch Logs requests need X-Amz-Target: {TARGET_PREFIX}<Operation> "
                f"(got {target or 'none'}).")
        operation = target[len(TARGET_PREFIX):]
        if environ.get("REQUEST_METHOD") != "POST":
            raise protocol.WireError("MethodNotAllowed", "Requests must use POST /.", status=405)
        raw = read_body(environ, MAX_BODY_BYTES)
        if raw is None:
            raise protocol.too_large(MAX_BODY_BYTES)
        body = protocol.decode_body(raw)
        return self._service.handle(operation, body)
