"""Typed domain errors. Only `orchestrator.api` turns them into AWS error responses.

`code` is the AWS error code exactly as the real service sends it (spec §0, §9.2):
`ResourceNotFound`/`ResourceInUse`/`ResourceLimitExceeded` have no `Exception` suffix.
"""

from __future__ import annotations


class SmlocalError(Exception):
    code = "InternalFailure"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(SmlocalError):
    code = "ValidationException"

    @classmethod
    def from_problems(cls, problems: list[str]) -> ValidationError:
        """AWS format: `N validation error(s) detected: a; b`."""
        n = len(problems)
        noun = "error" if n == 1 else "errors"
        return cls(f"{n} validation {noun} detected: " + "; ".join(problems))


class ResourceNotFound(SmlocalError):
    code = "ResourceNotFound"


class ResourceInUse(SmlocalError):
    code = "ResourceInUse"


class ResourceLimitExceeded(SmlocalError):
    code = "ResourceLimitExceeded"


class UnsupportedOperation(SmlocalError):
    code = "UnknownOperationException"


class StateDiskFull(SmlocalError):
    """The state dir's disk is full: nothing was stored; retrying later may work."""

    code = "ServiceUnavailable"
    status = 503


class ServiceError(SmlocalError):
    """An error worded as another AWS service words it (STS, IAM, CloudWatch): its own `code`
    and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status
