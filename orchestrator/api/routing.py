"""Which AWS service a request on the one port is for (issue 17).

Signed requests name their service in the SigV4 credential scope
(`Credential=AKID/20261201/us-east-1/<service>/aws4_request`, in the Authorization header or, for
presigned URLs, the `X-Amz-Credential` query parameter) [DOC IAM/latest/UserGuide/
reference_sigv-create-signed-request.html]; the scope's service is the model's `signingName`
(`monitoring` for CloudWatch). That decides, never a fall-through. Unsigned requests are told
apart by their protocol: `X-Amz-Target` prefix (JSON), `/service/<prefix>/operation/` (Smithy
RPC v2 CBOR), a query `Action` with its API `Version`; what declares none of these is S3 (which
alone takes anonymous requests).

A request for a service smlocal does not serve gets an error in the protocol it used: JSON
`UnknownOperationException`, a CBOR body, a query `ErrorResponse`, or for REST calls XML or JSON
by the request's content type; never an answer from another service.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs

from orchestrator.api.aws_endpoint import error_response, respond

SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/,\s]+)/aws4_request")
S3 = "s3"
# smlocal's own operations (`api.extensions`): `X-Amz-Target: SmLocal.<Op>`, signed as SageMaker.
SMLOCAL = "smlocal"
# Unsigned requests: the JSON target prefix, the RPC v2 service name and the query API
# version of each served service, by signing name (from botocore's models).
TARGET_PREFIXES = {"SageMaker": "sagemaker", "Logs_20140328": "logs",
                   "GraniteServiceVersion20100801": "monitoring", "SmLocal": SMLOCAL}
QUERY_VERSIONS = {"2011-06-15": "sts", "2010-05-08": "iam", "2010-08-01": "monitoring"}
_RPC = re.compile(r"^/service/([^/]+)/operation/")
_NAMES = {"smlocal": "smlocal extensions", "sagemaker": "SageMaker", "s3": "S3", "logs": "CloudWatch Logs",
          "monitoring": "CloudWatch", "sts": "STS", "iam": "IAM"}


def signed_service(environ: dict) -> str | None:
    """The service of the SigV4 credential scope, or None for an unsigned (or SigV2) request."""
    match = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match.group(1)
    credential = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
    if credential:
        parts = credential[0].split("/")
        if len(parts) == 5:
            return parts[3]
    return None


def extension_or(environ: dict, service: str | None) -> str | None:
    """`smlocal` for an `SmLocal.` target signed as SageMaker (clients sign extension calls
    exactly as SageMaker calls), else `service` unchanged."""
    if service == "sagemaker" and environ.get("HTTP_X_AMZ_TARGET", "").startswith("SmLocal."):
        return SMLOCAL
    return service


def unsigned_service(environ: dict, form: dict[str, list[str]]) -> str | None:
    """The service an unsigned request's protocol declares; S3 when it declares none, None
    when it declares one smlocal does not know."""
    if "HTTP_X_AMZ_TARGET" in environ:  # even empty: a JSON call, never S3's
        return TARGET_PREFIXES.get(environ["HTTP_X_AMZ_TARGET"].split(".", 1)[0])
    rpc = _RPC.match(environ.get("PATH_INFO", ""))
    if rpc and "HTTP_SMITHY_PROTOCOL" in environ:
        return TARGET_PREFIXES.get(rpc.group(1))
    if "Action" in form:
        return QUERY_VERSIONS.get((form.get("Version") or [""])[0])
    if (environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO", "/") == "/"
            and environ.get("CONTENT_TYPE", "").startswith("application/x-amz-json")):
        return "sagemaker"  # an AWS JSON body without a target: SageMaker says what is missing
    return S3


def unknown_service(environ: dict, start_response: Callable, service: str | None,
                    served: Iterable[str]) -> list[bytes]:
    """400 in the caller's protocol, naming what this endpoint serves."""
    names = ", ".join(_NAMES.get(s, s) for s in sorted(served))
    what = f"service '{service}' (from its SigV4 credential scope)" if service else \
        "a service this endpoint does not recognise"
    message = (f"This request is for {what}, which smlocal does not serve. This endpoint "
               f"serves {names}; point other clients at AWS or at another endpoint.")
    request_id = str(uuid.uuid4())
    if "HTTP_X_AMZ_TARGET" in environ:
        protocol = "json"
    elif "HTTP_SMITHY_PROTOCOL" in environ:
        protocol = "cbor"
    elif "xml" in environ.get("CONTENT_TYPE", "") or "Action=" in environ.get(
            "QUERY_STRING", "") or environ.get("CONTENT_TYPE", "").startswith(
            "application/x-www-form-urlencoded"):
        protocol = "query"
    else:
        protocol = "json"
    code = "InvalidAction" if protocol == "query" else "UnknownOperationException"
    headers, body = error_response(protocol, code, message, request_id)
    return respond(start_response, 400, headers, body, request_id)
