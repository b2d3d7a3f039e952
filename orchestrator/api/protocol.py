"""AWS JSON 1.1 on the wire: decoding requests, shaping responses, the error envelope.

Rules (spec §0; botocore `serialize.py`/`parsers.py` are the client side of each):
- request: `POST /`, `X-Amz-Target: SageMaker.<Operation>`, a JSON object body;
- response: the operation's output shape only (unmodelled members dropped), timestamps as epoch
  seconds, absent members omitted rather than `null`;
- error: HTTP 400 `{"__type": code, "message": text}` plus `X-Amzn-ErrorType`; botocore reads
  the code from `__type` and the request id from `x-amzn-RequestId`.
Every response carries a request id.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from enum import Enum
from typing import Any

from botocore.model import Shape
from botocore.utils import parse_to_aware_datetime

from orchestrator import sagemaker_model
from orchestrator.api import shape_plan
from orchestrator.errors import ServiceError, SmlocalError

CONTENT_TYPE = "application/x-amz-json-1.1"
# botocore sends 1.1; 1.0 and plain JSON are accepted for hand-written clients (curl).
ACCEPTED_CONTENT_TYPES = frozenset(
    {CONTENT_TYPE, "application/x-amz-json-1.0", "application/json"}
)
TARGET_PREFIX = "SageMaker"


class WireError(ServiceError):
    """A request that cannot be read as AWS JSON 1.1 (before any operation logic runs)."""


def too_large(limit: int) -> WireError:
    """A body over `limit` bytes (refused unread, or read no further than the limit)."""
    return WireError("RequestEntityTooLarge", f"Request body exceeds {limit} bytes.", status=413)


def parse_target(target: str | None) -> str:
    """`SageMaker.<Operation>` → `<Operation>`; anything else is a `WireError`."""
    if not target:
        raise WireError(
            "MissingAction",
            "Missing X-Amz-Target header: SageMaker requests name their operation as "
            "'X-Amz-Target: SageMaker.<Operation>'.",
        )
    prefix, _, operation = target.partition(".")
    if prefix != TARGET_PREFIX or not operation:
        raise WireError(
            "UnknownOperationException",
            f"Operation '{target}' is not supported by smlocal: this endpoint serves SageMaker "
            f"('X-Amz-Target: SageMaker.<Operation>') and S3.",
        )
    return operation


def check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in ACCEPTED_CONTENT_TYPES:
        raise WireError(
            "UnsupportedMediaTypeException",
            f"Content-Type '{content_type or ''}' is not supported: send '{CONTENT_TYPE}'.",
            status=415,
        )


def decode_body(raw: bytes) -> dict:
    """The request's JSON object. Rejects what would break later layers (lone surrogates that
    cannot be stored as UTF-8, NaN/Infinity, non-objects) as `SerializationException`."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _serialization(f"Request body is not valid JSON: {_short(exc)}") from None
    if not isinstance(value, dict):
        raise _serialization("Request body must be a JSON object.")
    _check_json_values(value)
    return value


def normalize_request(operation: str, request: dict) -> dict:
    """Copy of a validated request for the service: `null` members dropped (AWS treats them as
    absent), timestamps as float epoch seconds, float members as Python floats."""
    shape = sagemaker_model.operation(operation).input_shape
    return normalize(request, shape) if shape is not None else {}


def normalize(request: dict, shape: Shape) -> dict:
    """`normalize_request` for any input shape (smlocal's extension operations too)."""
    return _normalize(request, shape)


def shape_response(operation: str, result: dict | None) -> dict:
    """`result` filtered to the operation's output shape, JSON-ready."""
    shape = sagemaker_model.operation(operation).output_shape
    if shape is None or result is None:
        return {}
    return shape_output(result, shape)


def shape_output(result: dict, shape: Shape) -> dict:
    """`shape_response` for any output shape (smlocal's extension operations too)."""
    try:
        return shape_plan.plan(shape)(result)
    except TypeError:  # walk again with member paths: the error names the member
        return _shape(result, shape, shape.name)


def error_body(error: SmlocalError) -> dict:
    return {"__type": error.code, "message": error.message}


def encode(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")


# -- request helpers ------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _serialization(message: str) -> WireError:
    return WireError("SerializationException", message)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _check_json_values(root: Any) -> None:
    """Iterative walk (no recursion limit): every string encodable, every float finite."""
    stack = [root]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                _check_string(key)
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            _check_string(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise _serialization("Numbers must be finite (1e400 and the like overflow).")


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _serialization("Strings must be valid Unicode (found a lone surrogate).") from None


def _normalize(value: Any, shape: Shape) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {
            k: _normalize(v, shape.members[k])
            for k, v in value.items()
            if v is not None and k in shape.members
        }
    if kind == "list" and isinstance(value, list):
        return [_normalize(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _normalize(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return to_epoch(value)
    if kind in ("float", "double") and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def to_epoch(value: Any) -> float:
    """Epoch seconds from a number, an aware/naive-UTC datetime or a timestamp string."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.timestamp()
    return parse_to_aware_datetime(value).timestamp()


# -- response shaping -----------------------------------------------------------------------


def _shape(value: Any, shape: Shape, where: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        _expect(value, dict, where)
        out = {}
        for name, member in shape.members.items():
            item = value.get(name)
            if item is None:
                continue
            shaped = _shape(item, member, f"{where}.{name}")
            if shaped is not None:
                out[name] = shaped
        return out
    if kind == "list":
        _expect(value, (list, tuple), where)
        items = (_shape(v, shape.member, f"{where}[]") for v in value if v is not None)
        return [v for v in items if v is not None]
    if kind == "map":
        _expect(value, dict, where)
        return {str(k): _shape(v, shape.value, f"{where}.{k}") for k, v in value.items()}
    return _scalar(value, shape, where)


def _scalar(value: Any, shape: Shape, where: str) -> Any:
    kind = shape.type_name
    if kind == "timestamp":
        return to_epoch(value)
    if kind in ("float", "double"):
        _expect(value, (int, float, Decimal), where)
        number = float(value)
        # JSON has no NaN/Infinity; an absent member is the honest encoding (spec Q5).
        return number if math.isfinite(number) else None
    if kind in ("integer", "long"):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        _expect(value, int, where)
        return int(value)
    if kind == "boolean":
        _expect(value, bool, where)
        return value
    if isinstance(value, Enum):
        value = value.value
    _expect(value, str, where)
    return str(value)


def _expect(value: Any, types: type | tuple, where: str) -> None:
    if not isinstance(value, types) or (isinstance(value, bool) and types in (int, (int,))):
        raise TypeError(f"response member {where} has type {type(value).__name__}")
