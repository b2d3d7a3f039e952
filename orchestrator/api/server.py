"""The one HTTP endpoint: SageMaker (AWS JSON 1.1) and S3 on the same host and port.

Routing (`api.routing`): by the SigV4 credential scope's service, else by the protocol an
unsigned request declares; S3 only for requests that are S3's, and a request for a service not
served gets an error in its own protocol. Besides SageMaker, S3 and CloudWatch Logs, other
services (STS, IAM, CloudWatch metrics) are `AwsEndpoint`s passed in by signing name. SageMaker
calls are wire-only here: decode, validate against botocore's input shape, hand the request to
`service.handle(operation, request)`, shape the result to the output shape. Domain errors
(`orchestrator.errors`) become AWS error envelopes only here.

`ApiServer` runs the WSGI app on werkzeug's threaded server in daemon threads, optionally on
several addresses with the same port (loopback by default; the Docker bridge gateway is added by
the caller so that training containers reach S3).
"""

from __future__ import annotations

import io
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qs

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from orchestrator import sagemaker_model
from orchestrator.api import protocol, routing
from orchestrator.api.aws_endpoint import read_body, respond
from orchestrator.api.cloudwatch_logs import LogsEndpoint, LogsService
from orchestrator.api.envelope import json_call
from orchestrator.api.validation import validate_request
from orchestrator.errors import UnsupportedOperation

log = logging.getLogger("smlocal.api")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
# The largest legal CreateHyperParameterTuningJob is about 3 MB (10 definitions x 100 static
# hyperparameters x 2 500 characters); 4 MiB admits it and refuses anything absurd.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
HEALTH_PATH = "/_smlocal/health"
UI_PATH = "/ui"


class Service(Protocol):
    supported_operations: frozenset[str]

    def handle(self, operation: str, request: dict) -> dict: ...


class S3App(Protocol):
    @property
    def wsgi_app(self) -> WSGIApp: ...


def make_app(
    service: Service, s3: S3App | None, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    logs: LogsService | None = None, others: Mapping[str, WSGIApp] | None = None,
    ui: WSGIApp | None = None,
) -> WSGIApp:
    """The WSGI app serving `service` (SageMaker JSON 1.1), `s3`, when given the CloudWatch
    Logs reads of training-job logs (`logs`), and `others` (signing name → app) on one port;
    `ui` gets a browser's unsigned GET/HEAD under `/ui/` (`is_ui_request`)."""
    s3_app = s3.wsgi_app if s3 is not None else _no_s3
    apps: dict[str, WSGIApp] = {
        "sagemaker": SageMakerEndpoint(service, max_body_bytes=max_body_bytes),
        routing.S3: lambda environ, start: _guarded_s3(s3_app, environ, start),
        **(others or {}),
    }
    if logs is not None:
        apps["logs"] = LogsEndpoint(logs)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") == "GET":
            return _respond(start_response, 200, b'{"status":"ok"}',
                            [("Content-Type", protocol.CONTENT_TYPE)])
        if ui is not None and is_ui_request(environ):
            return ui(environ, start_response)
        name = routing.signed_service(environ)
        if name is None:
            name = routing.unsigned_service(environ, _peek_form(environ))
        name = routing.extension_or(environ, name)
        target = apps.get(name) if name else None
        if target is None:
            return routing.unknown_service(environ, start_response, name, apps)
        return target(environ, start_response)

    return app


def is_ui_request(environ: dict) -> bool:
    """A browser reading the dashboard: GET/HEAD of `/ui` or below, with no AWS signature
    (header or query) and no `X-Amz-Target`. Everything else is routed as if there were no
    dashboard (so signed S3 requests for a bucket named `ui` still reach S3)."""
    path = environ.get("PATH_INFO", "")
    return (environ.get("REQUEST_METHOD") in ("GET", "HEAD")
            and (path == UI_PATH or path.startswith(UI_PATH + "/"))
            and "HTTP_AUTHORIZATION" not in environ and "HTTP_X_AMZ_TARGET" not in environ
            and "Signature" not in environ.get("QUERY_STRING", ""))


def _peek_form(environ: dict) -> dict[str, list[str]]:
    """The query-protocol form of an unsigned request, leaving the body readable downstream."""
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return parse_qs(environ.get("QUERY_STRING", ""))
    body = read_body(environ)
    if body is None:
        return {}
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return parse_qs(body.decode("utf-8", "replace"))


class SageMakerEndpoint:
    """WSGI app for `POST /` + `X-Amz-Target: SageMaker.<Operation>`."""

    def __init__(self, service: Service, *, max_body_bytes: int) -> None:
        model_ops = set(sagemaker_model.service_model().operation_names)
        unknown = set(service.supported_operations) - model_ops
        if unknown:
            raise ValueError(f"not SageMaker operations: {sorted(unknown)}")
        self._service = service
        self._max_body_bytes = max_body_bytes

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return json_call(start_response, lambda: self._handle(environ), where=_target(environ))

    def _handle(self, environ: dict) -> bytes:
        operation = self._operation(environ)
        request = protocol.decode_body(self._read_body(environ))
        validate_request(operation, request)
        request = protocol.normalize_request(operation, request)
        result = self._service.handle(operation, request)
        return protocol.encode(protocol.shape_response(operation, result))

    def _operation(self, environ: dict) -> str:
        if environ.get("REQUEST_METHOD") != "POST":
            raise protocol.WireError(
                "MethodNotAllowed", "SageMaker requests must use POST /.", status=405
            )
        operation = protocol.parse_target(environ.get("HTTP_X_AMZ_TARGET"))
        if operation not in self._service.supported_operations:
            supported = ", ".join(sorted(self._service.supported_operations))
            raise UnsupportedOperation(
                f"Operation {operation} is not supported by smlocal. "
                f"Supported SageMaker operations: {supported}."
            )
        protocol.check_content_type(environ.get("CONTENT_TYPE"))
        return operation

    def _read_body(self, environ: dict) -> bytes:
        body = read_body(environ, self._max_body_bytes)
        if body is None:
            raise protocol.too_large(self._max_body_bytes)
        return body


def _guarded_s3(s3_app: WSGIApp, environ: dict, start_response: Callable) -> Iterable[bytes]:
    try:
        return s3_app(environ, start_response)
    except Exception:
        request_id = str(uuid.uuid4())
        log.exception("internal error in S3 %s %s", environ.get("REQUEST_METHOD"), _path(environ))
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
            f"<Message>Internal error</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        return _respond(start_response, 500, body, [("Content-Type", "application/xml")])


def _no_s3(environ: dict, start_response: Callable) -> Iterable[bytes]:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>'
        b"<Message>S3 is not enabled on this endpoint</Message></Error>"
    )
    return _respond(start_response, 501, body, [("Content-Type", "application/xml")])


def _respond(
    start_response: Callable, status: int, body: bytes, headers: list[tuple[str, str]]
) -> list[bytes]:
    return respond(start_response, status, headers, body, str(uuid.uuid4()))


def _target(environ: dict) -> str:
    return environ.get("HTTP_X_AMZ_TARGET", "?")


def _path(environ: dict) -> str:
    return environ.get("PATH_INFO", "")


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the `smlocal.api` logger at DEBUG instead of stderr."""

    # A client that stops sending mid-request frees its thread after this many idle seconds.
    timeout = 300

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        log.debug('%s "%s" %s %s', self.address_string(), self.requestline, code, size)

    def log(self, type: str, message: str, *args: Any) -> None:
        getattr(log, type if type in ("error", "warning", "info") else "debug")(message, *args)


def _bind(host: str, port: int, app: WSGIApp) -> BaseWSGIServer:
    try:
        return make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    except SystemExit:  # werkzeug reports a failed bind by exiting the process
        raise OSError(f"cannot listen on {host}:{port} (address in use or not local)") from None


class ApiServer:
    """Threaded werkzeug server(s) for `app`: `host` plus `extra_hosts`, all on one port."""

    def __init__(
        self,
        app: WSGIApp,
        host: str = "127.0.0.1",
        port: int = 4577,
        extra_hosts: Sequence[str] = (),
    ) -> None:
        self._app = app
        self._hosts = [host, *[h for h in extra_hosts if h != host]]
        self._requested_port = port
        self._servers: list[BaseWSGIServer] = []
        self._threads: list[threading.Thread] = []

    @property
    def host(self) -> str:
        return self._hosts[0]

    @property
    def port(self) -> int:
        if not self._servers:
            raise RuntimeError("server not started")
        return self._servers[0].server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ApiServer:
        """Bind every address (port 0: a free port, shared by all) and serve in daemon threads."""
        if self._servers:
            raise RuntimeError("server already started")
        port = self._requested_port
        try:
            for host in self._hosts:
                server = _bind(host, port, self._app)
                self._servers.append(server)
                port = server.server_port
        except OSError:
            self._close_all()
            raise
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},  # how fast stop() is noticed
                name=f"smlocal-api-{server.host}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        log.info("serving SageMaker + S3 on %s (port %d)", ", ".join(self._hosts), port)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
        for thread in self._threads:
            thread.join(timeout=10)
        self._close_all()
        self._threads.clear()

    def _close_all(self) -> None:
        for server in self._servers:
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
