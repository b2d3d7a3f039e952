"""Wiring of the AWS services answered beside SageMaker, S3 and CloudWatch Logs (issue 17):
STS and IAM (what SDKs ask before they train) and CloudWatch metrics of training jobs, each an
`AwsEndpoint` keyed by its SigV4 signing name for `api.server.make_app(others=...)`."""

from __future__ import annotations

from orchestrator.api.auth import caller
from orchestrator.api.aws_endpoint import AwsEndpoint
from orchestrator.api.server import WSGIApp
from orchestrator.clock import Clock
from orchestrator.config import Settings
from orchestrator.controller.cloudwatch_metrics import TrainingJobMetrics
from orchestrator.controller.identity import IamService, StsService
from orchestrator.storage.db import Store


def aws_services(settings: Settings, store: Store, clock: Clock) -> dict[str, WSGIApp]:
    # Input errors as each service words them: IAM and STS say ValidationError, CloudWatch
    # InvalidParameterValue (botocore models' error shapes).
    return {
        "sts": AwsEndpoint("sts", StsService(settings.account_id, caller),
                           bad_input_code="ValidationError"),
        "iam": AwsEndpoint("iam", IamService(settings.account_id),
                           bad_input_code="ValidationError"),
        "monitoring": AwsEndpoint("cloudwatch", TrainingJobMetrics(store, clock.now),
                                  bad_input_code="InvalidParameterValue"),
    }
