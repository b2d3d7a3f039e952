"""Helpers for end-to-end tests against a real smlocal server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3


def clients(url: str) -> tuple[Any, Any]:
    """boto3 SageMaker and S3 clients pointed at smlocal (only the endpoint changed)."""
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
              aws_secret_access_key="x")
    return boto3.client("sagemaker", **kw), boto3.client("s3", **kw)


def wait_for(fn: Callable[[], Any], timeout: float = 240, every: float = 0.5,
             what: str = "condition") -> Any:
    """Poll `fn` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
