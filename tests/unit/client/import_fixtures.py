"""Two (or three) real smlocal apps on the scripted fake backend, for the import tests: a tuning
job runs to its end on the "remote" one and is imported into a local one through the CLI."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from orchestrator.app import SmlocalApp
from orchestrator.clock import FakeClock
from orchestrator.config import Settings
from orchestrator.controller.harness import quadratic, tuning_request
from orchestrator.runner.fake import FakeBackend
from orchestrator.status import tuning_is_terminal
from tests.fake_backed import START, step_until

SOURCE_NAME = "cloud-run"
TAGS = [{"Key": "team", "Value": "ml"}, {"Key": "project", "Value": "churn"}]


def source_request(name: str = SOURCE_NAME, jobs: int = 5, **config: Any) -> dict[str, Any]:
    """Random search over lr (continuous), depth (integer) and a categorical, with tags."""
    req = tuning_request(name=name, strategy="Random", max_jobs=jobs, parallel=2, **config)
    req["HyperParameterTuningJobConfig"]["ParameterRanges"]["CategoricalParameterRanges"] = [
        {"Name": "booster", "Values": ["gbtree", "dart"]}]
    req["Tags"] = copy.deepcopy(TAGS)
    return req


def start(state_dir: Path) -> SmlocalApp:
    clock = FakeClock(START)
    return SmlocalApp(settings=Settings(state_dir=state_dir, backend="fake"), port=0,
                      clock=clock, backend=FakeBackend(quadratic, clock)).start()


@contextmanager
def apps(tmp: Path, n: int) -> Iterator[list[SmlocalApp]]:
    started: list[SmlocalApp] = []
    try:
        for i in range(n):
            started.append(start(tmp / f"app{i}"))
        yield started
    finally:
        for app in started:
            app.stop()


def sm(app: SmlocalApp) -> Any:
    return boto3.client("sagemaker", endpoint_url=app.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


def cloudwatch(app: SmlocalApp) -> Any:
    return boto3.client("cloudwatch", endpoint_url=app.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


def run_to_end(app: SmlocalApp, request: dict[str, Any]) -> dict[str, Any]:
    client = sm(app)
    client.create_hyper_parameter_tuning_job(**request)
    name = request["HyperParameterTuningJobName"]
    return step_until(app, lambda: _ended(client, name), f"tuning job {name} to end", 60)


def _ended(client: Any, name: str) -> dict[str, Any] | None:
    d = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    return d if tuning_is_terminal(d["HyperParameterTuningJobStatus"]) else None


def payload(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def training_view(app: SmlocalApp, name: str) -> tuple[list[dict], list[dict]]:
    """(summaries, Describe of each training job) of tuning job `name`, in name order."""
    client = sm(app)
    summaries = client.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, MaxResults=100)["TrainingJobSummaries"]
    described = [payload(client.describe_training_job(TrainingJobName=s["TrainingJobName"]))
                 for s in summaries]
    return summaries, described


def tags(app: SmlocalApp, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in sm(app).list_tags(ResourceArn=arn)["Tags"]}
