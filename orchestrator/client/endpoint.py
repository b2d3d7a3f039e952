"""Reaching an endpoint: boto3 clients, exit codes, and how errors are reported.

Exit codes (for scripts): 0 success (tuning job Completed, or command done); 1 the tuning job
ended Failed; 2 bad input (file, JSON, or a request the endpoint rejected); 3 the tuning job
ended Stopped; 4 the endpoint could not be reached or started.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from orchestrator.config import DEFAULT_PORT, DEFAULT_REGION
from orchestrator.credentials import CredentialsError, configured_key

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED, EXIT_UNREACHABLE = 0, 1, 2, 3, 4


def default_endpoint(explicit: str | None = None) -> str:
    """--endpoint, else $SMLOCAL_ENDPOINT, else the local default port."""
    return explicit or os.environ.get("SMLOCAL_ENDPOINT") or f"http://127.0.0.1:{DEFAULT_PORT}"


def client(service: str, endpoint: str) -> Any:
    """A boto3 client for `service` ("sagemaker", "s3", "logs") against `endpoint`.

    Signed with the server's access key when one is configured here as for `smlocal serve`
    ($SMLOCAL_ACCESS_KEY_ID/$SMLOCAL_SECRET_ACCESS_KEY or $SMLOCAL_CREDENTIALS_FILE; a server
    with authentication on needs it); otherwise dummy credentials, which keep botocore from
    searching for real ones and which a server without authentication ignores."""
    import boto3  # imported here: `smlocal --help` should not pay for boto3
    from botocore.config import Config

    return boto3.client(
        service, endpoint_url=endpoint, region_name=region(), **credentials(),
        config=Config(retries={"max_attempts": 2}, connect_timeout=2, read_timeout=60),
    )


def region() -> str:
    """The region `client` signs for."""
    return os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION)


def credentials() -> dict[str, str]:
    """The key pair `client` signs with (boto3 keyword arguments), as its docstring says."""
    try:
        key = configured_key()
    except CredentialsError:  # half configured: the server's answer will say what is wrong
        key = None
    return key.boto3_kwargs() if key else {"aws_access_key_id": "smlocal",
                                           "aws_secret_access_key": "smlocal"}


def answers(endpoint: str) -> bool:
    """True when something speaking the SageMaker API listens at `endpoint`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client("sagemaker", endpoint).list_hyper_parameter_tuning_jobs(MaxResults=1)
        return True
    except ClientError:  # an error answer is still an answer
        return True
    except BotoCoreError:
        return False


def error(msg: str, code: int) -> int:
    """Print `msg` to stderr the way every command does; return `code` for the caller."""
    print(f"smlocal: {msg}", file=sys.stderr)
    return code


def guarded(endpoint: str, fn: Callable[[], Any]) -> tuple[int, Any]:
    """Run `fn` (boto3 calls against `endpoint`); turn service errors into exit code 2 and
    connection errors into exit code 4, each with a message. Returns (code, result or None)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return EXIT_OK, fn()
    except ClientError as exc:
        err = exc.response["Error"]
        return error(f"{err['Code']}: {err['Message']}", EXIT_BAD_INPUT), None
    except BotoCoreError as exc:
        return error(f"cannot reach {endpoint} ({exc}); start it with `smlocal serve`",
                     EXIT_UNREACHABLE), None
