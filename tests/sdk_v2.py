"""The SageMaker Python SDK v2 in tests: import it (a skip without it, a failure under
SMLOCAL_REQUIRE_DOCKER=1, as in CI) and build a Session whose every client talks to one
smlocal endpoint, with no environment variables (see tests/integration/test_sdk.py's notes)."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

REQUIRE = os.environ.get("SMLOCAL_REQUIRE_DOCKER") == "1"
REGION = "us-east-1"
DUMMY_CREDENTIALS = {"aws_access_key_id": "x", "aws_secret_access_key": "x"}
# Without it, fit() calls an AWS URL; it also keeps ~/.config/sagemaker/config.yaml out.
TELEMETRY_OFF = {"SchemaVersion": "1.0",
                 "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


def sdk_v2() -> Any:
    """The `sagemaker` package, version 2."""
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    try:
        import sagemaker
    except ImportError as exc:
        unavailable(f"the SageMaker Python SDK is not importable ({exc}); "
                    "run pip install -e '.[sdk]'")
    if int(sagemaker.__version__.split(".")[0]) != 2:
        unavailable(f"sagemaker {sagemaker.__version__} installed; this test needs v2 "
                    "(pip install -e '.[sdk]')")
    return sagemaker


def unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (SMLOCAL_REQUIRE_DOCKER=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


def explicit_session(url: str, bucket: str, sdk: Any = None) -> Any:
    """A `sagemaker.Session` whose SageMaker and S3 clients are given `url`."""
    sdk = sdk or sdk_v2()
    boto_session = boto3.Session(region_name=REGION, **DUMMY_CREDENTIALS)
    session = sdk.Session(boto_session=boto_session,
                          sagemaker_client=boto_session.client("sagemaker", endpoint_url=url),
                          default_bucket=bucket, sagemaker_config=TELEMETRY_OFF)
    # The constructor has no parameter for these.
    session.s3_client = boto_session.client("s3", endpoint_url=url)
    session.s3_resource = boto_session.resource("s3", endpoint_url=url)
    return session


def tuning_analytics(url: str, name: str, bucket: str = "smlocal-sdk") -> Any:
    """The SDK's own `HyperparameterTuningJobAnalytics(name).dataframe()`."""
    session = explicit_session(url, bucket)
    from sagemaker.analytics import HyperparameterTuningJobAnalytics

    return HyperparameterTuningJobAnalytics(name, sagemaker_session=session).dataframe()
