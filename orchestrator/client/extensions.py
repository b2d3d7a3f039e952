"""Calling smlocal's own operations (`X-Amz-Target: SmLocal.<Operation>`, see
`orchestrator.api.extensions`) over HTTP, signed with botocore's SigV4 signer exactly as
`client.endpoint.client("sagemaker", ...)` signs SageMaker calls (same key pair, region and
service name), so a server with authentication on accepts them like any SageMaker call.

`call` returns the response as a dict (timestamps as epoch seconds) or raises botocore's
`ClientError` for an error answer and `BotoCoreError` when the endpoint cannot be reached, so
`client.endpoint.guarded` reports both like any SageMaker error (exit codes 2 and 4).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from typing import Any

TARGET_PREFIX = "SmLocal"
SIGNING_NAME = "sagemaker"
CONTENT_TYPE = "application/x-amz-json-1.1"
# Bodies under this many bytes go uncompressed (readable in a proxy's log).
GZIP_FROM_BYTES = 64 * 1024


def call(endpoint: str, operation: str, body: dict[str, Any] | None = None, *,
         timeout: float = 300) -> dict[str, Any]:
    """POST `SmLocal.<operation>` with `body` to `endpoint`; the response's JSON object."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.httpsession import URLLib3Session

    from orchestrator.client.endpoint import credentials, region

    payload = json.dumps(body or {}, default=_jsonable, allow_nan=False).encode()
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"{TARGET_PREFIX}.{operation}"}
    if len(payload) >= GZIP_FROM_BYTES:
        payload = gzip.compress(payload, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    request = AWSRequest(method="POST", url=endpoint.rstrip("/") + "/", data=payload,
                         headers=headers)
    keys = credentials()
    SigV4Auth(Credentials(keys["aws_access_key_id"], keys["aws_secret_access_key"]),
              SIGNING_NAME, region()).add_auth(request)
    session = URLLib3Session(timeout=timeout)
    try:
        response = session.send(request.prepare())
    finally:
        session.close()
    return _parse(response.status_code, response.content, response.headers, operation)


def _parse(status: int, content: bytes, headers: Any, operation: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        data = json.loads(content.decode("utf-8")) if content.strip() else {}
    except (UnicodeDecodeError, ValueError):
        data = None
    if status == 200 and isinstance(data, dict):
        return data
    if isinstance(data, dict) and ("__type" in data or "message" in data or "Message" in data):
        code = str(data.get("__type", headers.get("X-Amzn-ErrorType", f"HTTP{status}")))
        code = code.rsplit("#", 1)[-1]
        message = str(data.get("message", data.get("Message", "")))
    else:
        code, message = f"HTTP{status}", (f"the endpoint answered HTTP {status} without an "
                                          "AWS error: is it an smlocal server?")
    if code in ("UnknownOperationException", "InvalidAction") or status == 404:
        message += (" (the endpoint does not serve smlocal's own operations: is it an smlocal "
                    "server, and a recent one?)")
    raise ClientError({"Error": {"Code": code, "Message": message},
                       "ResponseMetadata": {"HTTPStatusCode": status,
                                            "RequestId": headers.get("x-amzn-RequestId", "")}},
                      f"{TARGET_PREFIX}.{operation}")


def _jsonable(value: Any) -> Any:
    """Datetimes as epoch seconds, as AWS JSON sends timestamps."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
