"""The spec's real request bodies, submitted UNCHANGED through boto3, against real Docker.

Examples 01 (built-in XGBoost, Bayesian) and 06 (built-in XGBoost, Random, log scaling) name
AWS's XGBoost images and no MetricDefinitions: they run on the stand-in `smlocal/xgboost:latest`
after the example CSV data (label first, no header) is uploaded to the S3 keys they name, and
the built-in metrics are parsed from its log. 04, 05 and 08 name built-in algorithms without a
local stand-in: rejected at create time as a local limitation. A CreateTrainingJob with an ECR
URI of the user's own account runs the same-named local image.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import botocore.exceptions
import pytest

from tests.fixtures import SPEC_EXAMPLES
from tests.integration.e2e import wait_for
from tests.integration.test_tuning_e2e import (
    assert_consistent,
    containers_of,
    final_metric,
    training_jobs,
    wait_terminal,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

OWN_ACCOUNT_ECR = "111122223333.dkr.ecr.us-west-2.amazonaws.com"


def example(name: str) -> dict[str, Any]:
    return json.loads((SPEC_EXAMPLES / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def xgboost_image(smlocal_image) -> str:
    """The built-in XGBoost stand-in; missing → skip, or fail with SMLOCAL_REQUIRE_DOCKER=1."""
    return smlocal_image("xgboost")


def upload_channels(s3: Any, body: dict[str, Any], data: dict[str, Any]) -> None:
    """The example data at every channel's S3Uri, as the request names it (prefix → one CSV
    file below it), in buckets created as needed."""
    for channel in body["TrainingJobDefinition"]["InputDataConfig"]:
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, prefix = uri[len("s3://"):].split("/", 1)
        try:
            s3.create_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou",
                                                     "BucketAlreadyExists"):
                raise
        name = channel["ChannelName"]
        s3.put_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{name}.csv",
                      Body=data[name].read_bytes())


def submit(sm: Any, s3: Any, name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Upload the data example `name` reads, then send its body unchanged."""
    body = example(name)
    upload_channels(s3, body, data)
    sm.create_hyper_parameter_tuning_job(**copy.deepcopy(body))
    return body


def check_builtin_jobs(sm: Any, s3: Any, d: dict[str, Any], body: dict[str, Any],
                       completed_at_least: int) -> list[dict[str, Any]]:
    """Built-in metrics parsed, best job right, the user's image echoed everywhere."""
    name = body["HyperParameterTuningJobName"]
    image = body["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]
    jobs = training_jobs(sm, name)
    completed = [j for j in jobs if j["TrainingJobStatus"] == "Completed"]
    assert len(completed) >= completed_at_least, [j.get("FailureReason") for j in jobs]
    assert d["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] == image
    assert "MetricDefinitions" not in d["TrainingJobDefinition"]["AlgorithmSpecification"]
    for job in completed:
        assert job["AlgorithmSpecification"]["TrainingImage"] == image
        names = {m["MetricName"] for m in job["FinalMetricDataList"]}
        assert {"train:auc", "validation:auc"} <= names, job["TrainingJobName"]
        # eta 0 (the range's lower bound) learns nothing: AUC 0.5, as on AWS
        assert 0.5 <= final_metric(job, "validation:auc") <= 1.0  # type: ignore[operator]
        assert job["HyperParameters"]["eval_metric"] == "auc"
    assert_consistent(sm, s3, d, jobs, "validation:auc", maximize=True)
    return jobs


def test_example_06_random_log_scaling_runs_unchanged(server, xgboost_image, example_data,
                                                       docker_client):
    app, sm, s3, _ = server
    body = submit(sm, s3, "06-xgboost-random-log-scaling", example_data)
    name = body["HyperParameterTuningJobName"]
    d = wait_terminal(sm, name, timeout=600)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    jobs = check_builtin_jobs(sm, s3, d, body, completed_at_least=5)
    assert d["TrainingJobStatusCounters"]["Completed"] == 5
    for job in jobs:  # Logarithmic ranges stay inside their bounds
        for hp in ("alpha", "lambda"):
            assert 0.01 <= float(job["HyperParameters"][hp]) <= 10
    assert not containers_of(docker_client, name)


def test_example_01_bayesian_runs_unchanged(server, xgboost_image, example_data,
                                            docker_client):
    """The whole budget (20 jobs of 100 rounds, 3 at a time) to Completed: every job's
    built-in metrics parsed, the best job the earliest of those with the highest
    validation:auc (spec O1: ties go to the earliest created)."""
    app, sm, s3, _ = server
    body = submit(sm, s3, "01-xgboost-direct-marketing-bayesian", example_data)
    name = body["HyperParameterTuningJobName"]
    d = wait_terminal(sm, name, timeout=900)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    jobs = check_builtin_jobs(sm, s3, d, body, completed_at_least=20)
    assert len(jobs) == 20 and d["TrainingJobStatusCounters"]["Completed"] == 20
    assert d["ObjectiveStatusCounters"]["Succeeded"] == 20
    first = sorted(jobs, key=lambda j: (j["CreationTime"], j["TrainingJobName"]))  # -001-…
    top = max(final_metric(j, "validation:auc") for j in jobs)  # type: ignore[type-var]
    best = d["BestTrainingJob"]
    assert best["TrainingJobName"] == next(
        j["TrainingJobName"] for j in first if final_metric(j, "validation:auc") == top)
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "MetricName": "validation:auc", "Value": top}
    tuned = {"eta", "min_child_weight", "alpha", "max_depth"}
    best_job = next(j for j in jobs if j["TrainingJobName"] == best["TrainingJobName"])
    assert best["TunedHyperParameters"] == {k: best_job["HyperParameters"][k] for k in tuned}
    assert not containers_of(docker_client, name)


@pytest.mark.parametrize("name", ["04-image-classification-early-stopping",
                                  "05-image-classification-warmstart",
                                  "08-multi-algorithm-fm-knn"])
def test_builtins_without_stand_in_get_the_local_limitation(server, name):
    app, sm, s3, _ = server
    with pytest.raises(botocore.exceptions.ClientError) as info:
        sm.create_hyper_parameter_tuning_job(**example(name))
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "a local limitation of smlocal; SageMaker accepts this request" in error["Message"]
    assert "Built-in algorithms that run locally: xgboost." in error["Message"]
    assert "A metric is required" not in error["Message"]


def own_ecr_training_job(name: str, image: str, data_uri: str) -> dict[str, Any]:
    from orchestrator.client.demo import demo_request

    definition = demo_request("unused", data_uri)["TrainingJobDefinition"]
    return {
        "TrainingJobName": name,
        "HyperParameters": {"max_iter": "20", "eval_every": "10"},
        "AlgorithmSpecification": dict(definition["AlgorithmSpecification"],
                                       TrainingImage=image),
        **{k: definition[k] for k in ("RoleArn", "InputDataConfig", "OutputDataConfig",
                                      "ResourceConfig", "StoppingCondition")},
    }


def test_own_account_ecr_uri_runs_the_same_named_local_image(server, gbm_image):
    app, sm, s3, data_uri = server
    image = f"{OWN_ACCOUNT_ECR}/{gbm_image}"  # .../smlocal/gbm:latest
    sm.create_training_job(**own_ecr_training_job("own-ecr-gbm", image, data_uri))

    def done() -> dict[str, Any] | None:
        d = sm.describe_training_job(TrainingJobName="own-ecr-gbm")
        return d if d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") else None

    d = wait_for(done, 300, what="own-ecr-gbm to end")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["AlgorithmSpecification"]["TrainingImage"] == image  # echoed unchanged
    assert final_metric(d, "validation:logloss") is not None
    logs = boto_logs(app.url, "own-ecr-gbm")  # the note is in the job's log
    assert f"[smlocal] TrainingImage {image} runs as the local image {gbm_image}" in logs


def test_own_account_ecr_uri_without_local_image_fails_saying_what_to_do(server):
    app, sm, s3, data_uri = server
    image = f"{OWN_ACCOUNT_ECR}/smlocal/never-built:1"
    sm.create_training_job(**own_ecr_training_job("own-ecr-missing", image, data_uri))
    def ended() -> dict[str, Any] | None:
        d = sm.describe_training_job(TrainingJobName="own-ecr-missing")
        return d if d["TrainingJobStatus"] != "InProgress" else None

    d = wait_for(ended, timeout=30, every=0.2, what="own-ecr-missing to end")
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith(
        f"ClientError: TrainingImage {image} is in Amazon ECR, which smlocal does not pull "
        "from; it runs the same-named local image smlocal/never-built:1 instead")


def boto_logs(url: str, job: str) -> str:
    """The job's log through the CloudWatch Logs API, as the SDK reads it."""
    import boto3

    logs = boto3.client("logs", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")
    group = "/aws/sagemaker/TrainingJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=job)
    lines = []
    for stream in streams["logStreams"]:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"],
                                     startFromHead=True)
        lines += [e["message"] for e in events["events"]]
    return "\n".join(lines)
