"""The wire side of smlocal's extension operations (`orchestrator.controller.extensions`).

    POST /    X-Amz-Target: SmLocal.<Operation>    Content-Type: application/x-amz-json-1.1

on the same port as SageMaker, AWS JSON 1.1 exactly as SageMaker's calls (`api.protocol`),
under a prefix of its own so that nothing is mistaken for an operation of SageMaker's
namespace. Signed like a SageMaker request (SigV4, service `sagemaker` or `smlocal` in the
credential scope) and checked by the same `api.auth` middleware when authentication is on;
`api.routing` sends every `SmLocal.` target here. A body may be gzip-compressed
(`Content-Encoding: gzip`): an imported tuning job with its metric series is many MB of
repetitive JSON.

Each request is decoded, validated against the operation's input shape (AWS's wording, every
problem at once), normalized, handled, and the result filtered to the output shape. Domain
errors (`orchestrator.errors`) become AWS error envelopes here, 4xx; an unexpected exception is
logged and answered 500 like the SageMaker endpoint does. How to add an operation: see
`orchestrator.controller.extensions`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any, Protocol

from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel

from orchestrator.api import protocol
from orchestrator.api.aws_endpoint import read_body
from orchestrator.api.envelope import json_call
from orchestrator.api.validation import validate_shape
from orchestrator.controller.extensions import Extension, discover
from orchestrator.errors import UnsupportedOperation

TARGET_PREFIX = "SmLocal"
# Compressed, as received (the auth middleware caps signed bodies at 8 MiB before this).
MAX_BODY_BYTES = 32 * 1024 * 1024
# Decompressed: a 750-job tuning job with long metric series fits many times over.
MAX_DECODED_BYTES = 256 * 1024 * 1024


class Handler(Protocol):
    supported_operations: frozenset[str]

    def handle(self, operation: str, request: dict) -> dict: ...


@cache
def _sagemaker_shapes() -> dict[str, Any]:
    return create_loader().load_service_model("sagemaker", "service-2")["shapes"]


def build_model(operations: Sequence[Extension]) -> ServiceModel:
    """A botocore service model of the extension operations; their shapes may name any of
    SageMaker's. A shape declared twice, or over a SageMaker one, is refused."""
    shapes = dict(_sagemaker_shapes())
    ops: dict[str, Any] = {}
    for ext in operations:
        for name, shape in ext.shapes.items():
            if name in shapes:
                raise ValueError(f"extension {ext.name}: shape {name} is already defined")
            shapes[name] = shape
        for needed in (ext.input_shape, ext.output_shape):
            if needed not in ext.shapes:
                raise ValueError(f"extension {ext.name}: shape {needed} is missing")
        ops[ext.name] = {"name": ext.name, "http": {"method": "POST", "requestUri": "/"},
                         "input": {"shape": ext.input_shape},
                         "output": {"shape": ext.output_shape}}
    metadata = {"apiVersion": "2026-12-01", "jsonVersion": "1.1", "protocol": "json",
                "targetPrefix": TARGET_PREFIX, "signingName": "sagemaker",
                "serviceId": "SmLocal", "signatureVersion": "v4", "endpointPrefix": "smlocal"}
    return ServiceModel({"metadata": metadata, "operations": ops, "shapes": shapes}, "smlocal")


class ExtensionEndpoint:
    """WSGI app for `POST /` + `X-Amz-Target: SmLocal.<Operation>`."""

    def __init__(self, handler: Handler, operations: Sequence[Extension] | None = None) -> None:
        self.model = build_model(discover() if operations is None else operations)
        self._handler = handler

    def operation(self, name: str) -> OperationModel:
        return self.model.operation_model(name)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        return json_call(start_response, lambda: self._handle(environ),
                         where=environ.get("HTTP_X_AMZ_TARGET") or "?")

    def _handle(self, environ: dict) -> bytes:
        op = self._operation(environ)
        request = protocol.decode_body(_decoded(environ))
        validate_shape(request, op.input_shape)
        request = protocol.normalize(request, op.input_shape)
        result = self._handler.handle(op.name, request)
        return protocol.encode(protocol.shape_output(result or {}, op.output_shape))

    def _operation(self, environ: dict) -> OperationModel:
        if environ.get("REQUEST_METHOD") != "POST":
            raise protocol.WireError("MethodNotAllowed", "smlocal requests must use POST /.",
                                     status=405)
        target = environ.get("HTTP_X_AMZ_TARGET") or ""
        prefix, _, name = target.partition(".")
        if prefix != TARGET_PREFIX or name not in self.model.operation_names:
            served = ", ".join(f"{TARGET_PREFIX}.{n}" for n in self.model.operation_names)
            raise UnsupportedOperation(
                f"Operation {target or '(none)'} is not an smlocal extension operation. "
                f"This endpoint serves {served}.")
        if name not in self._handler.supported_operations:
            raise UnsupportedOperation(f"Operation {target} is not available on this server.")
        protocol.check_content_type(environ.get("CONTENT_TYPE"))
        return self.model.operation_model(name)


def _decoded(environ: dict) -> bytes:
    raw = read_body(environ, MAX_BODY_BYTES)
    if raw is None:
        raise protocol.too_large(MAX_BODY_BYTES)
    encoding = (environ.get("HTTP_CONTENT_ENCODING") or "identity").strip().lower()
    if encoding == "identity":
        return raw
    if encoding != "gzip":
        raise protocol.WireError("SerializationException",
                                 f"Content-Encoding {encoding!r} is not supported: send gzip "
                                 "or no encoding.")
    try:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        data = inflater.decompress(raw, MAX_DECODED_BYTES + 1)
    except zlib.error as exc:
        raise protocol.WireError("SerializationException",
                                 f"The gzip request body cannot be decompressed: {exc}") from None
    if len(data) > MAX_DECODED_BYTES:
        raise protocol.too_large(MAX_DECODED_BYTES)
    if not inflater.eof:
        raise protocol.WireError("SerializationException", "The gzip request body is truncated.")
    return data

