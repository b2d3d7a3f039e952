"""One AWS JSON 1.1 response envelope for every JSON endpoint (SageMaker, CloudWatch Logs,
the SmLocal extensions): a handler's bytes become 200; a domain error
(`orchestrator.errors.SmlocalError`) becomes its status with `{"__type", "message"}` and
`X-Amzn-ErrorType`, which is how botocore's JSON parser finds the code; anything else is a
bug: logged, answered 500 with the request id, and the server keeps serving.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from orchestrator.api import protocol
from orchestrator.api.aws_endpoint import respond
from orchestrator.errors import SmlocalError

log = logging.getLogger("smlocal.api")


def json_call(start_response: Callable, handle: Callable[[], bytes], *, where: str,
              internal_code: str = "InternalFailure") -> list[bytes]:
    """Run `handle` and answer in the envelope; `where` names the call in the log."""
    request_id = str(uuid.uuid4())
    headers = [("Content-Type", protocol.CONTENT_TYPE)]
    try:
        status, body = 200, handle()
    except SmlocalError as err:
        status, body = err.status, protocol.encode(protocol.error_body(err))
        headers.append(("X-Amzn-ErrorType", err.code))
        if status == 413:  # the body was not read: this connection cannot go on
            headers.append(("Connection", "close"))
    except Exception:  # a bug, not bad input: log it, answer 500, keep serving
        log.exception("internal error in %s (request %s)", where, request_id)
        status, body = 500, protocol.encode({
            "__type": internal_code, "message": f"Internal error (request {request_id})"})
        headers.append(("X-Amzn-ErrorType", internal_code))
    return respond(start_response, status, headers, body, request_id)
