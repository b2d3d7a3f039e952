"""A WSGI endpoint for one more AWS service (STS, IAM, CloudWatch), in whatever protocol its
client speaks, driven by botocore's model of that service.

Protocols (botocore's service-2.json `protocols`):
- **query** (STS, IAM, and CloudWatch for older clients): form-encoded `Action=...&Version=...`
  with members flattened as `A.B`, `List.member.N`, `Map.entry.N.key`; the answer is
  `<OpResponse><OpResult>…</OpResult><ResponseMetadata>…</OpResponse>` XML, errors
  `<ErrorResponse><Error><Type/><Code/><Message/></Error>…`.
- **json** (CloudWatch 1.0): `X-Amz-Target: <targetPrefix>.<Op>`, JSON in and out.
- **rpc-v2-cbor** (CloudWatch's default in current botocore): `POST /service/<targetPrefix>/
  operation/<Op>` with `smithy-protocol: rpc-v2-cbor`, CBOR in and out.

Request bodies are decoded by botocore's own response parsers (the body formats are
symmetric: JSON and CBOR parse by the input shape just as responses parse by the output shape)
and responses encoded by botocore's request serializers; only the form decoding of the query
protocol is written here, as a walk of the input shape. Handlers see one convention whatever
the protocol: timestamps as timezone-aware datetimes, numbers as numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qs
from xml.etree import ElementTree

import botocore.session
from botocore import parsers, serialize, validate
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.utils import parse_timestamp

from orchestrator.errors import ServiceError, SmlocalError

log = logging.getLogger("smlocal.api")

MAX_BODY_BYTES = 256 * 1024  # the requests served here are a few KiB
_RPC_PATH = re.compile(r"^/service/(?P<service>[^/]+)/operation/(?P<op>[^/]+)$")


class Handler(Protocol):
    """What an endpoint serves: `handle(operation, params)` for the operations listed."""

    supported_operations: frozenset[str]

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]: ...


@cache
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


@dataclass(frozen=True)
class WireRequest:
    protocol: str  # "query" | "json" | "cbor"
    operation: str
    body: bytes
    form: dict[str, list[str]]


def protocol_of(environ: dict, body: bytes) -> WireRequest | None:
    """The protocol and operation a request declares, or None when it declares none."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return WireRequest("json", target.rsplit(".", 1)[-1], body, {})
    match = _RPC_PATH.match(environ.get("PATH_INFO", ""))
    if match and environ.get("HTTP_SMITHY_PROTOCOL", "").startswith("rpc-v2-cbor"):
        return WireRequest("cbor", match["op"], body, {})
    form = query_form(environ, body)
    if "Action" in form:
        return WireRequest("query", form["Action"][0], body, form)
    return None


def query_form(environ: dict, body: bytes) -> dict[str, list[str]]:
    """Query-protocol parameters: the form body of a POST, else the URL's query string."""
    text = environ.get("QUERY_STRING", "")
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        text = body.decode("utf-8", "replace")
    return parse_qs(text, keep_blank_values=True)


class AwsEndpoint:
    """WSGI app serving `handler` as botocore's service `name` in every protocol it has."""

    def __init__(self, name: str, handler: Handler, *, bad_input_code: str) -> None:
        self.model = service_model(name)
        unknown = set(handler.supported_operations) - set(self.model.operation_names)
        if unknown:
            raise ValueError(f"not {name} operations: {sorted(unknown)}")
        self.handler = handler
        self.bad_input_code = bad_input_code  # e.g. IAM/STS "ValidationError"

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request_id = str(uuid.uuid4())
        body = read_body(environ)
        wire = protocol_of(environ, body or b"") or WireRequest("query", "", b"", {})
        try:
            if body is None:
                raise ServiceError("RequestEntityTooLarge",
                                   f"The request body is over {MAX_BODY_BYTES} bytes.", 413)
            status, headers, payload = 200, *self._handle(wire, request_id)
        except SmlocalError as err:
            status = err.status
            headers, payload = error_response(wire.protocol, err.code, err.message, request_id,
                                              self.model)
        except Exception:  # a bug, not bad input
            log.exception("internal error in %s %s", self.model.service_name, wire.operation)
            status = 500
            headers, payload = error_response(wire.protocol, "InternalFailure",
                                              f"Internal error (request {request_id})",
                                              request_id, self.model)
        if body is None:  # the body was not read: this connection cannot go on
            headers = [*headers, ("Connection", "close")]
        return respond(start_response, status, headers, payload, request_id)

    def _handle(self, wire: WireRequest, request_id: str) -> tuple[list, bytes]:
        op = self._operation(wire.operation)
        try:
            params = decode(wire, op)
        except (ValueError, TypeError, KeyError, AttributeError,
                parsers.ResponseParserError) as exc:  # botocore's parsers on a wrong shape
            raise ServiceError(self.bad_input_code, f"The request could not be read: {exc}") \
                from exc
        _check_required(params, op.input_shape, self.bad_input_code)
        _check_shape(params, op.input_shape, self.bad_input_code)
        result = self.handler.handle(op.name, params)
        return encode(wire.protocol, op, result, request_id)

    def _operation(self, name: str) -> OperationModel:
        if name not in self.handler.supported_operations:
            served = ", ".join(sorted(self.handler.supported_operations))
            raise ServiceError(
                "InvalidAction",
                f"The action {name or '(none)'} is not valid for this endpoint: smlocal serves "
                f"only {served} of {self.model.service_name}.")
        return self.model.operation_model(name)


# ---- decoding --------------------------------------------------------------------------------


def decode(wire: WireRequest, op: OperationModel) -> dict[str, Any]:
    shape = op.input_shape
    if shape is None:
        return {}
    if wire.protocol == "query":
        return _from_form(wire.form, shape, "")
    if not wire.body.strip():
        return {}
    if wire.protocol == "json" and not isinstance(json.loads(wire.body), dict):
        raise ValueError("the body must be a JSON object")
    parser = parsers.RpcV2CBORParser() if wire.protocol == "cbor" else parsers.JSONParser()
    parsed = parser.parse({"body": wire.body, "headers": {}, "status_code": 200}, shape)
    if not isinstance(parsed, dict):
        raise ValueError("the body must be a structure")
    parsed.pop("ResponseMetadata", None)
    return parsed


def _from_form(form: dict[str, list[str]], shape: Shape, prefix: str) -> Any:
    """The query protocol's flattened names back into nested values, by `shape`."""
    if shape.type_name == "structure":
        out = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            key = f"{prefix}.{key}" if prefix else key
            value = _from_form(form, member, key)
            if value is not None:
                out[name] = value
        return out if out or not prefix else None
    if shape.type_name == "list":
        member_name = shape.member.serialization.get("name", "member")
        base = prefix if shape.serialization.get("flattened") else f"{prefix}.{member_name}"
        items = []
        while (item := _from_form(form, shape.member, f"{base}.{len(items) + 1}")) is not None:
            items.append(item)
        return items or None
    if shape.type_name == "map":
        out_map = {}
        index = 1
        while f"{prefix}.entry.{index}.key" in form:
            key = form[f"{prefix}.entry.{index}.key"][0]
            out_map[key] = _from_form(form, shape.value, f"{prefix}.entry.{index}.value")
            index += 1
        return out_map or None
    raw = form.get(prefix)
    if raw is None:
        return None
    return _scalar(raw[0], shape)


def _scalar(text: str, shape: Shape) -> Any:
    kind = shape.type_name
    if kind in ("integer", "long"):
        return int(text)
    if kind in ("float", "double"):
        return float(text)
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError(f"{text!r} is not a boolean (true or false)")
        return text == "true"
    if kind == "timestamp":
        return parse_timestamp(text)
    return text


def _check_required(params: dict[str, Any], shape: Shape | None, code: str) -> None:
    if shape is None:
        return
    missing = [name for name in shape.required_members if name not in params]
    if missing:
        raise ServiceError(code, f"The request must contain the parameter {missing[0]}.")


def _check_shape(params: dict[str, Any], shape: Shape | None, code: str) -> None:
    """Types, ranges and lengths as botocore's client validates them, so handlers only ever
    see values of their shape's types (a wrong one is the caller's error, never a 500)."""
    if shape is None:
        return
    report = validate.ParamValidator().validate(params, shape)
    if report.has_errors():
        raise ServiceError(code, report.generate_report().replace("\n", " "))


# ---- encoding --------------------------------------------------------------------------------


def encode(protocol: str, op: OperationModel, result: dict[str, Any],
           request_id: str) -> tuple[list, bytes]:
    shape = op.output_shape
    if protocol == "query":
        return _xml_headers(), _xml_result(op, result, request_id)
    if protocol == "cbor":
        body = bytearray()
        if shape is not None:
            serialize.RpcV2CBORSerializer()._serialize_data_item(body, result, shape)
        return [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")], \
            bytes(body)
    json_version = op.service_model.metadata.get("jsonVersion", "1.0")
    payload = _jsonable(result, shape) if shape is not None else {}
    return [("Content-Type", f"application/x-amz-json-{json_version}")], \
        json.dumps(payload).encode()


def _jsonable(value: Any, shape: Shape) -> Any:
    """Timestamps as epoch seconds, as the JSON protocols send them."""
    if shape.type_name == "structure":
        return {k: _jsonable(v, shape.members[k]) for k, v in value.items()
                if k in shape.members and v is not None}
    if shape.type_name == "list":
        return [_jsonable(v, shape.member) for v in value]
    if shape.type_name == "map":
        return {k: _jsonable(v, shape.value) for k, v in value.items()}
    if shape.type_name == "timestamp":
        return _epoch(value)
    return value


def _xml_result(op: OperationModel, result: dict[str, Any], request_id: str) -> bytes:
    namespace = op.service_model.metadata.get("xmlNamespace")
    root = ElementTree.Element(f"{op.name}Response", {"xmlns": namespace} if namespace else {})
    shape = op.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{op.name}Result")
        node = ElementTree.SubElement(root, wrapper)
        for name, value in result.items():
            member = shape.members.get(name)
            if member is not None and value is not None:
                _xml(node, member.serialization.get("name", name), value, member)
    meta = ElementTree.SubElement(root, "ResponseMetadata")
    ElementTree.SubElement(meta, "RequestId").text = request_id
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def _xml(parent: ElementTree.Element, name: str, value: Any, shape: Shape) -> None:
    kind = shape.type_name
    if kind == "list" and shape.serialization.get("flattened"):
        for item in value:
            _xml(parent, name, item, shape.member)
        return
    node = ElementTree.SubElement(parent, name)
    if kind == "structure":
        for key, item in value.items():
            member = shape.members.get(key)
            if member is not None and item is not None:
                _xml(node, member.serialization.get("name", key), item, member)
    elif kind == "list":
        member_name = shape.member.serialization.get("name", "member")
        for item in value:
            _xml(node, member_name, item, shape.member)
    elif kind == "map":
        for key, item in value.items():
            entry = ElementTree.SubElement(node, "entry")
            ElementTree.SubElement(entry, "key").text = xml_text(str(key))
            _xml(entry, "value", item, shape.value)
    elif kind == "timestamp":
        node.text = _iso(value)
    elif kind == "boolean":
        node.text = "true" if value else "false"
    else:
        node.text = xml_text(str(value))


def error_response(protocol: str, code: str, message: str, request_id: str,
                   model: ServiceModel | None = None) -> tuple[list, bytes]:
    """An error in the caller's protocol; CloudWatch's query-compatible clients also read
    `x-amzn-query-error`."""
    if protocol == "query":
        namespace = model.metadata.get("xmlNamespace") if model else None
        root = ElementTree.Element("ErrorResponse", {"xmlns": namespace} if namespace else {})
        error = ElementTree.SubElement(root, "Error")
        ElementTree.SubElement(error, "Type").text = "Sender"
        ElementTree.SubElement(error, "Code").text = code
        ElementTree.SubElement(error, "Message").text = xml_text(message)
        ElementTree.SubElement(root, "RequestId").text = request_id
        return _xml_headers(), ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    headers = [("x-amzn-query-error", f"{code};Sender"), ("X-Amzn-ErrorType", code)]
    if protocol == "cbor":
        body = bytearray()
        serializer = serialize.CBORSerializer()
        error_shape = _error_shape()
        serializer._serialize_data_item(body, {"__type": code, "message": message},
                                        error_shape)
        return [*headers, ("Content-Type", "application/cbor"),
                ("smithy-protocol", "rpc-v2-cbor")], bytes(body)
    version = (model.metadata.get("jsonVersion") if model else None) or "1.1"
    return [*headers, ("Content-Type", f"application/x-amz-json-{version}")], \
        json.dumps({"__type": code, "message": message}).encode()


@cache
def _error_shape() -> Shape:
    """A two-string structure, to CBOR-encode error bodies with botocore's serializer."""
    from botocore.model import ShapeResolver

    resolver = ShapeResolver({
        "Error": {"type": "structure", "members": {"__type": {"shape": "S"},
                                                   "message": {"shape": "S"}}},
        "S": {"type": "string"},
    })
    return resolver.get_shape_by_name("Error")


def read_body(environ: dict, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The request body, or None when it is over `limit` bytes. A declared Content-Length
    over the limit is refused unread; a chunked body (no length; the server dechunks it and
    marks the input terminated) is read up to one byte past the limit, never whole."""
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if length.isdigit():
        size = int(length)
        if size > limit:
            return None
        return stream.read(size) if size else b""
    if not environ.get("wsgi.input_terminated"):  # neither a length nor an end: no body
        return b""
    data = bytearray()
    while len(data) <= limit:
        piece = stream.read(min(64 * 1024, limit + 1 - len(data)))
        if not piece:
            return bytes(data)
        data += piece
    return None


def respond(start_response: Callable, status: int, headers: list, body: bytes,
            request_id: str) -> list[bytes]:
    start_response(status_line(status), [*headers, ("x-amzn-RequestId", request_id),
                                          ("Content-Length", str(len(body)))])
    return [body]


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


def _xml_headers() -> list[tuple[str, str]]:
    return [("Content-Type", "text/xml")]


# Characters XML 1.0 cannot carry at all, even escaped [W3C XML 1.0 §2.2 Char].
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` with characters XML cannot carry written as `\\xNN` (a user's value echoed in
    a message must not make the whole answer unreadable)."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


def _iso(value: Any) -> str:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromtimestamp(
        float(value), dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
