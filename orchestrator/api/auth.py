"""Request authentication once the endpoint leaves loopback (issue 10 item 4): AWS Signature
Version 4, checked against the access keys the operator configured, as WSGI middleware in front
of every service on the port (the health check stays open).

What is verified, as AWS does [DOC IAM/latest/UserGuide/reference_sigv-create-signed-request.html,
AmazonS3/latest/API/sigv4-query-string-auth.html, sigv4-streaming.html]:
- the `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header, or a
  presigned URL's `X-Amz-Algorithm/Credential/Date/Expires/SignedHeaders/Signature` query;
- the canonical request rebuilt from what arrived: method, the path as sent (S3: encoded once;
  other services: encoded again, botocore's rule), the query re-encoded and sorted, the signed
  headers' values, and the payload hash. Services other than S3 hash the body received. S3 uses
  `x-amz-content-sha256`: a hex hash is checked against the body (spooled, not held in memory;
  `XAmzContentSHA256Mismatch`), `UNSIGNED-PAYLOAD` and `STREAMING-UNSIGNED-PAYLOAD-TRAILER` sign
  headers only, and `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` (aws-chunked) has every
  chunk's signature checked against the seed signature's chain (a signed trailer's own
  signature is not checked);
- the time: 15 minutes of skew either way for header-signed requests, `X-Amz-Expires` (at most
  7 days) for presigned URLs.

Errors come in the caller's protocol: S3's XML (`AccessDenied`, `InvalidAccessKeyId`,
`SignatureDoesNotMatch`, `RequestTimeTooSkewed`, …), the query protocol's `ErrorResponse` (STS,
IAM: `MissingAuthenticationToken`, `InvalidClientTokenId`, `SignatureDoesNotMatch`,
`IncompleteSignature`) and JSON/CBOR (`MissingAuthenticationToken`, `UnrecognizedClientException`,
`InvalidSignatureException`, `IncompleteSignature`). The access key id of an authenticated
request is `caller()` while the request is handled (STS GetCallerIdentity answers for it).
"""

from __future__ import annotations

import calendar
import contextvars
import hashlib
import hmac
import io
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import mktime_tz, parsedate_tz
from typing import IO
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import HmacV1Auth
from botocore.awsrequest import HTTPHeaders
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path

from orchestrator.api import routing
from orchestrator.api.aws_endpoint import (
    error_response,
    protocol_of,
    read_body,
    respond,
    service_model,
)
from orchestrator.credentials import AccessKey

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
UNSIGNED = "UNSIGNED-PAYLOAD"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
SIGNED_STREAMING = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Larger than any body of a non-S3 service served here (SageMaker's is the largest).
NON_S3_BODY_LIMIT = 8 * 1024 * 1024
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_HEADER_FIELD = re.compile(r"(\w+)=([^,\s]*)")
_BOTOCORE_NAMES = {"monitoring": "cloudwatch"}
_CALLER: contextvars.ContextVar[str | None] = contextvars.ContextVar("smlocal_caller",
                                                                    default=None)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def caller() -> str | None:
    """The access key id the request being handled was signed with (None: not authenticated)."""
    return _CALLER.get()


# Per kind of failure: the JSON/CBOR code, the query code (one status for both), the S3 code
# and its status; messages as AWS words them.
_ERROR_TABLE = """
missing       MissingAuthenticationToken   MissingAuthenticationToken  403  AccessDenied        403
incomplete    IncompleteSignature          IncompleteSignature         400  AuthorizationHeaderMalformed 400
unsupported   IncompleteSignature          IncompleteSignature         400  InvalidRequest      400
unknown_key   UnrecognizedClientException  InvalidClientTokenId        403  InvalidAccessKeyId  403
signature     InvalidSignatureException    SignatureDoesNotMatch       403  SignatureDoesNotMatch 403
skewed        InvalidSignatureException    SignatureDoesNotMatch       403  RequestTimeTooSkewed 403
expired       InvalidSignatureException    SignatureDoesNotMatch       403  AccessDenied        403
payload_hash  InvalidSignatureException    SignatureDoesNotMatch       403  XAmzContentSHA256Mismatch 400
too_large     RequestEntityTooLarge        RequestEntityTooLarge       413  EntityTooLarge      400
"""
_ERRORS = {kind: ((json_code, int(status)), (query_code, int(status)), (s3_code, int(s3_status)))
           for kind, json_code, query_code, status, s3_code, s3_status
           in (line.split() for line in _ERROR_TABLE.strip().splitlines())}
_MESSAGES = {
    "unknown_key": "The security token included in the request is invalid.",
    "signature": ("The request signature we calculated does not match the signature you "
                  "provided. Check your AWS Secret Access Key and signing method. Consult the "
                  "service documentation for details."),
}
_S3_MESSAGES = {
    "missing": "Access Denied",
    "unknown_key": "The AWS Access Key Id you provided does not exist in our records.",
    "signature": ("The request signature we calculated does not match the signature you "
                  "provided. Check your key and signing method."),
    "skewed": "The difference between the request time and the current time is too large.",
    "payload_hash": "The provided 'x-amz-content-sha256' header does not match what was "
                    "computed.",
}


class AuthFailure(Exception):
    def __init__(self, kind: str, message: str = "", **details: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message or _MESSAGES.get(kind, "")
        self.details = details


@dataclass(frozen=True)
class Signed:
    """The parts of a SigV4 signature, from the Authorization header or a presigned query."""

    key_id: str
    date: str  # YYYYMMDD of the scope
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    amz_date: str  # YYYYMMDDTHHMMSSZ
    presigned: bool
    expires: int = 0

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


class Authenticator:
    """WSGI middleware: `app` only sees requests signed with one of `keys` (id → secret)."""

    def __init__(self, app: WSGIApp, keys: Mapping[str, str], *, open_paths: Iterable[str] = (),
                 now: Callable[[], float] = time.time) -> None:
        self._app = app
        self._keys = dict(keys)
        self._open_paths = frozenset(open_paths)
        self._now = now

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in self._open_paths and environ.get("REQUEST_METHOD") == "GET":
            return self._app(environ, start_response)
        service, body = routing.signed_service(environ), None
        try:
            if service is None:  # the protocol says which; only a form body is read for it
                if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form"):
                    body = _buffer_body(environ)
                service = _unsigned_service(environ, body)
            if service != routing.S3 and body is None:
                body = _buffer_body(environ)
            key_id = self._verify(environ, service, body)
        except AuthFailure as failure:
            return _deny(environ, start_response, service, body_of(environ), failure)
        token = _CALLER.set(key_id)
        try:
            return self._app(environ, start_response)
        finally:
            _CALLER.reset(token)

    def _verify(self, environ: dict, service: str | None, body: bytes | None) -> str:
        if service == routing.S3 and not environ.get("HTTP_AUTHORIZATION"):
            query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
            if "AWSAccessKeyId" in query and "Signature" in query:
                return self._verify_v2_presigned(environ, query)
        signed = parse_signature(environ)
        secret = self._keys.get(signed.key_id)
        if secret is None:
            raise AuthFailure("unknown_key", AWSAccessKeyId=signed.key_id)
        self._check_time(signed, environ)
        s3 = service == routing.S3
        if s3:
            payload_hash = _s3_payload_hash(environ, signed)
        else:
            payload_hash = hashlib.sha256(body or b"").hexdigest()
        canonical = canonical_request(environ, signed, payload_hash, s3=s3)
        string_to_sign = "\n".join([ALGORITHM, signed.amz_date, signed.scope,
                                    hashlib.sha256(canonical.encode()).hexdigest()])
        key = signing_key(secret, signed)
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signed.signature):
            raise AuthFailure("signature", AWSAccessKeyId=signed.key_id,
                              StringToSign=string_to_sign, CanonicalRequest=canonical)
        if s3 and not signed.presigned:
            _check_s3_body(environ, payload_hash, signed, key)
        return signed.key_id

    def _verify_v2_presigned(self, environ: dict, query: dict[str, str]) -> str:
        """An S3 URL presigned with Signature Version 2 (`AWSAccessKeyId`, `Expires`,
        `Signature`): what boto3's `generate_presigned_url` makes for S3 unless the client is
        configured for s3v4; botocore's HmacV1 canonical string, the expiry as its date."""
        key_id, expires = query["AWSAccessKeyId"], query.get("Expires", "")
        secret = self._keys.get(key_id)
        if secret is None:
            raise AuthFailure("unknown_key", AWSAccessKeyId=key_id)
        if not expires.isdigit():
            raise AuthFailure("incomplete", "Query-string authentication requires the "
                              "Signature, Expires and AWSAccessKeyId parameters")
        if self._now() > int(expires):
            raise AuthFailure("expired", "Request has expired", Expires=time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(expires))), ServerTime=time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._now())))
        signer = _HmacV1Presigned(Credentials(key_id, secret), expires)
        headers = HTTPHeaders()
        for name in ("content-md5", "content-type"):
            if _header(environ, name):
                headers[name] = _header(environ, name)
        for key, value in environ.items():
            if key.startswith("HTTP_X_AMZ_"):
                headers[key[5:].lower().replace("_", "-")] = value
        string_to_sign = signer.canonical_string(environ.get("REQUEST_METHOD", "GET"),
                                                 urlsplit(_raw_uri(environ)), headers)
        if not hmac.compare_digest(signer.sign_string(string_to_sign), query["Signature"]):
            raise AuthFailure("signature", AWSAccessKeyId=key_id, StringToSign=string_to_sign)
        return key_id

    def _check_time(self, signed: Signed, environ: dict) -> None:
        try:
            moment = calendar.timegm(time.strptime(signed.amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            raise AuthFailure("incomplete", f"Invalid X-Amz-Date {signed.amz_date!r}: expected "
                              "the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'.") from None
        if signed.amz_date[:8] != signed.date:
            raise AuthFailure("incomplete", f"Date in Credential scope does not match "
                              f"YYYYMMDD from ISO-8601 version of date from HTTP: "
                              f"'{signed.date}' != '{signed.amz_date[:8]}'")
        now = self._now()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        if signed.presigned:
            if moment - now > MAX_SKEW_SECONDS:
                raise AuthFailure("expired", "Request is not valid yet", ServerTime=stamp)
            if now > moment + signed.expires:
                raise AuthFailure("expired", "Request has expired", ServerTime=stamp,
                                  Expires=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(
                                      moment + signed.expires)))
            return
        if now - moment > MAX_SKEW_SECONDS:
            limit = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now - MAX_SKEW_SECONDS))
            raise AuthFailure("skewed", f"Signature expired: {signed.amz_date} is now earlier "
                              f"than {limit} ({stamp} - 15 min.)", RequestTime=signed.amz_date,
                              ServerTime=stamp)
        if moment - now > MAX_SKEW_SECONDS:
            limit = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now + MAX_SKEW_SECONDS))
            raise AuthFailure("skewed", f"Signature not yet current: {signed.amz_date} is "
                              f"still later than {limit} ({stamp} + 15 min.)",
                              RequestTime=signed.amz_date, ServerTime=stamp)


# ---- parsing and canonicalisation -----------------------------------------------------------

def parse_signature(environ: dict) -> Signed:
    """The signature a request carries; AuthFailure when it carries none or a malformed one."""
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header:
        algorithm, _, rest = header.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise AuthFailure("unsupported", "The authorization mechanism you have provided is "
                              f"not supported. Please use {ALGORITHM}.")
        fields = dict(_HEADER_FIELD.findall(rest))
        missing = [f for f in ("Credential", "SignedHeaders", "Signature") if not fields.get(f)]
        if missing:
            raise AuthFailure("incomplete", f"Authorization header requires {missing[0]} "
                              f"parameter. Authorization={header}")
        amz_date = environ.get("HTTP_X_AMZ_DATE") or _http_date(environ.get("HTTP_DATE"))
        if not amz_date:
            raise AuthFailure("incomplete", "Authorization header requires existence of either "
                              "a 'X-Amz-Date' or a 'Date' header.")
        return _signed(fields["Credential"], fields["SignedHeaders"], fields["Signature"],
                       amz_date, presigned=False)
    if "X-Amz-Credential" in query or "X-Amz-Signature" in query:
        if query.get("X-Amz-Algorithm") != ALGORITHM:
            raise AuthFailure("unsupported", "X-Amz-Algorithm only supports "
                              f"\"{ALGORITHM}\"")
        names = ("X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Date",
                 "X-Amz-Expires")
        missing = [n for n in names if not query.get(n)]
        if missing:
            raise AuthFailure("incomplete", f"Query-string authentication requires the "
                              f"{missing[0]} parameter")
        try:
            expires = int(query["X-Amz-Expires"])
        except ValueError:
            expires = -1
        if not 0 <= expires <= MAX_PRESIGN_SECONDS:
            raise AuthFailure("incomplete", "X-Amz-Expires must be a number of seconds from 0 "
                              f"to {MAX_PRESIGN_SECONDS} (7 days)")
        signed = _signed(query["X-Amz-Credential"], query["X-Amz-SignedHeaders"],
                         query["X-Amz-Signature"], query["X-Amz-Date"], presigned=True)
        return Signed(**{**signed.__dict__, "expires": expires})
    raise AuthFailure("missing", "Missing Authentication Token")


def _signed(credential: str, signed_headers: str, signature: str, amz_date: str, *,
            presigned: bool) -> Signed:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise AuthFailure("incomplete", f"Credential should be scoped to a valid region, not "
                          f"'{credential}'. The credential must be "
                          "<key id>/<YYYYMMDD>/<region>/<service>/aws4_request.")
    return Signed(key_id=parts[0], date=parts[1], region=parts[2], service=parts[3],
                  signed_headers=signed_headers.lower().split(";"), signature=signature.lower(),
                  amz_date=amz_date, presigned=presigned)


def _http_date(value: str | None) -> str | None:
    parsed = parsedate_tz(value) if value else None
    if parsed is None:
        return None
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(mktime_tz(parsed)))


class _HmacV1Presigned(HmacV1Auth):
    def __init__(self, credentials: Credentials, expires: str) -> None:
        super().__init__(credentials)
        self._expires = expires

    def _get_date(self) -> str:  # a presigned URL signs its expiry where a header has a date
        return self._expires


def _raw_uri(environ: dict) -> str:
    """The request target as the client sent it (still percent-encoded), origin-form."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(
        environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace"))
    if raw.startswith(("http://", "https://")):  # absolute-form request target
        raw = "/" + raw.split("/", 3)[3] if raw.count("/") >= 3 else "/"
    return raw


def canonical_request(environ: dict, signed: Signed, payload_hash: str, *, s3: bool) -> str:
    raw_path = _raw_uri(environ).split("?", 1)[0] or "/"
    if s3:
        path = quote(unquote(raw_path), safe="/~")
    else:
        path = quote(normalize_url_path(raw_path), safe="/~")
    pairs = []
    for pair in environ.get("QUERY_STRING", "").split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        key, value = _encode(unquote(key)), _encode(unquote(value))
        if signed.presigned and key == "X-Amz-Signature":
            continue
        pairs.append((key, value))
    query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    headers = "".join(f"{name}:{_header(environ, name)}\n" for name in signed.signed_headers)
    return "\n".join([environ.get("REQUEST_METHOD", "GET").upper(), path, query, headers,
                      ";".join(signed.signed_headers), payload_hash])


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _header(environ: dict, name: str) -> str:
    key = name.upper().replace("-", "_")
    value = environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}", "")
    return " ".join(str(value).split())


def signing_key(secret: str, signed: Signed) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (signed.date, signed.region, signed.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


# ---- bodies ---------------------------------------------------------------------------------

def _buffer_body(environ: dict) -> bytes:
    """A non-S3 request's body, read once (its hash is signed) and put back for the app."""
    body = read_body(environ, NON_S3_BODY_LIMIT)
    if body is None:
        raise AuthFailure("too_large", f"The request body is over {NON_S3_BODY_LIMIT} bytes.")
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["smlocal.auth_body"] = body
    return body


def body_of(environ: dict) -> bytes:
    return environ.get("smlocal.auth_body", b"")


def _unsigned_service(environ: dict, body: bytes | None) -> str | None:
    form = protocol_of(environ, body or b"")
    return routing.unsigned_service(environ, form.form if form else {})


def _s3_payload_hash(environ: dict, signed: Signed) -> str:
    declared = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
    if signed.presigned:
        return declared or UNSIGNED
    if not declared:
        raise AuthFailure("unsupported", "Missing required header for this request: "
                          "x-amz-content-sha256")
    if declared in (UNSIGNED, UNSIGNED_TRAILER, *SIGNED_STREAMING) or re.fullmatch(
            "[0-9a-f]{64}", declared):
        return declared
    raise AuthFailure("unsupported", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                      "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
                      "[-TRAILER] or a valid sha256 value.")


def _check_s3_body(environ: dict, payload_hash: str, signed: Signed, key: bytes) -> None:
    """A signed S3 body: its hash, or each aws-chunked chunk's signature. The body is spooled
    (to disk past 8 MiB) and handed to S3 from there."""
    if payload_hash in (UNSIGNED, UNSIGNED_TRAILER):
        return
    spool = _spool(environ)
    if payload_hash in SIGNED_STREAMING:
        _check_chunks(spool, signed, key)
    else:
        digest = hashlib.sha256()
        for piece in iter(lambda: spool.read(1024 * 1024), b""):
            digest.update(piece)
        if digest.hexdigest() != payload_hash:
            raise AuthFailure("payload_hash", ClientComputedContentSHA256=payload_hash,
                              S3ComputedContentSHA256=digest.hexdigest())
    spool.seek(0)


def _spool(environ: dict) -> IO[bytes]:
    # Handed on as wsgi.input: it lives as long as the request (closed when collected).
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    remaining = int(length) if length.isdigit() else None
    if remaining is None and not environ.get("wsgi.input_terminated"):
        remaining = 0  # neither a length nor an end: no body
    while remaining is None or remaining > 0:
        piece = stream.read(1024 * 1024 if remaining is None else min(remaining, 1024 * 1024))
        if not piece:
            break
        spool.write(piece)
        if remaining is not None:
            remaining -= len(piece)
    spool.seek(0)
    environ["wsgi.input"] = spool
    return spool


def _check_chunks(spool: IO[bytes], signed: Signed, key: bytes) -> None:
    """aws-chunked: `hex(size);chunk-signature=SIG\\r\\n DATA \\r\\n`, ending with a 0-size
    chunk; each signature chains from the previous one (the seed is the request's)."""
    previous = signed.signature
    while True:
        line = spool.readline(4096)
        size_text, _, extension = line.rstrip(b"\r\n").partition(b";")
        match = re.fullmatch(rb"chunk-signature=([0-9a-f]{64})", extension)
        try:
            size = int(size_text, 16)
        except ValueError:
            size = -1
        if match is None or size < 0:
            raise AuthFailure("incomplete", "The aws-chunked body has a chunk without a "
                              "chunk-signature.")
        data = spool.read(size)
        if len(data) != size:
            raise AuthFailure("incomplete", "The aws-chunked body ends inside a chunk.")
        string_to_sign = "\n".join([f"{ALGORITHM}-PAYLOAD", signed.amz_date, signed.scope,
                                    previous, EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match.group(1).decode()):
            raise AuthFailure("signature", AWSAccessKeyId=signed.key_id,
                              StringToSign=string_to_sign)
        previous = expected
        if size == 0:
            return
        spool.read(2)  # the CRLF after the data


# ---- errors ---------------------------------------------------------------------------------

def _deny(environ: dict, start_response: Callable, service: str | None, body: bytes,
          failure: AuthFailure) -> list[bytes]:
    request_id = str(uuid.uuid4())
    json_error, query_error, s3_error = _ERRORS[failure.kind]
    if service == routing.S3:
        code, status = s3_error
        message = _S3_MESSAGES.get(failure.kind, failure.message)
        extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in failure.details.items())
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
               f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{extra}"
               f"<RequestId>{request_id}</RequestId></Error>").encode()
        if environ.get("REQUEST_METHOD") == "HEAD":
            xml = b""  # HEAD answers carry no body; the client reads the status only
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
        return respond(start_response, status, headers, xml, request_id)
    wire = protocol_of(environ, body)
    if wire is not None:
        protocol = wire.protocol
    else:
        protocol = "query" if service in ("sts", "iam") else "json"
    code, status = query_error if protocol == "query" else json_error
    model = None
    if service in ("sagemaker", "logs", "monitoring", "sts", "iam"):
        model = service_model(_BOTOCORE_NAMES.get(service, service))
    headers, payload = error_response(protocol, code, failure.message, request_id, model)
    return respond(start_response, status, [*headers, ("Connection", "close")]
                   if failure.kind == "too_large" else headers, payload, request_id)


def authenticated(app: WSGIApp, key: AccessKey) -> Authenticator:
    """`app` behind SigV4 authentication with the operator's `key` and the training
    containers' key derived from it; the health check stays open."""
    from orchestrator.api.server import HEALTH_PATH

    container = key.container_key()
    return Authenticator(app, {key.access_key_id: key.secret_access_key,
                               container.access_key_id: container.secret_access_key},
                         open_paths=(HEALTH_PATH,))
