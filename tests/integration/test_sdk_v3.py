"""The SageMaker Python SDK v3 against smlocal with only environment and the SDK config file
changed (issue 17).

v3 (`sagemaker` 3.x: sagemaker-core, sagemaker-train) cannot share an interpreter with v2 (the
`sdk` extra), so it lives in its own venv (scripts/setup-sdk3.sh) and the user's code,
tests/integration/sdk_v3_client.py, runs there in a subprocess. What it is given is exactly the
README recipe:

    export AWS_ENDPOINT_URL=http://127.0.0.1:4577 AWS_DEFAULT_REGION=us-east-1 \\
           AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x \\
           SAGEMAKER_USER_CONFIG_OVERRIDE=/path/to/config.yaml
    # config.yaml: TelemetryOptOut true, Session.DefaultS3Bucket <bucket>

plus an explicit role ARN; role validation (IAM GetRole + SimulatePrincipalPolicy, answered by
smlocal) is left on and the SDK is not patched. HOME is an empty directory, so no ~/.aws or
~/.config/sagemaker of the machine applies. The script prints one JSON object; the tests below
check it field by field against the server (boto3 and its store).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]

REQUIRE = os.environ.get("SMLOCAL_REQUIRE_DOCKER") == "1"
REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("sdk_v3_client.py")
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SmlocalSdkV3"
BUCKET = "smlocal-sdk-v3"  # created by the SDK itself (Session.default_bucket)
OBJECTIVE = "validation:logloss"
METRIC_NAMES = ["validation:logloss", "validation:auc", "validation:accuracy"]
CONFIG_YAML = f"""\
SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      TelemetryOptOut: true
      Session:
        DefaultS3Bucket: {BUCKET}
"""


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (SMLOCAL_REQUIRE_DOCKER=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


def sdk3_python() -> str:
    """SMLOCAL_SDK3_PYTHON, else the interpreter scripts/setup-sdk3.sh recorded, else the
    default venv's."""
    recorded = REPO_ROOT / ".state" / "setup" / "sdk3-python"
    candidates = [os.environ.get("SMLOCAL_SDK3_PYTHON"),
                  recorded.read_text().strip() if recorded.is_file() else None,
                  "/opt/smlocal-sdk3/bin/python"]
    for python in filter(None, candidates):
        if not Path(python).is_file():
            continue
        probe = subprocess.run(
            [python, "-c", "import importlib.metadata as m; print(m.version('sagemaker'))"],
            capture_output=True, text=True, timeout=60)
        if probe.returncode == 0 and probe.stdout.strip().split(".")[0] == "3":
            return python
    _unavailable("no interpreter with the SageMaker Python SDK v3 (tried "
                 f"{', '.join(filter(None, candidates))}); run bash scripts/setup-sdk3.sh")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def run(server, gbm_image, tmp_path_factory) -> dict[str, Any]:
    """The v3 script's JSON result, after one run against the server."""
    app, _, _, data_uri = server
    python = sdk3_python()
    work = tmp_path_factory.mktemp("sdk3")
    config = work / "sagemaker-config.yaml"
    config.write_text(CONFIG_YAML)
    (work / "home").mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "SAGEMAKER_", "BOTO_"))}
    env.update({
        "HOME": str(work / "home"),
        "AWS_ENDPOINT_URL": app.url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config),
    })
    done = subprocess.run([python, str(CLIENT), gbm_image, data_uri, ROLE], cwd=work, env=env,
                          capture_output=True, text=True, timeout=840)
    assert done.returncode == 0, (f"the v3 script failed ({done.returncode}):\n"
                                  f"{done.stderr[-6000:]}\n{done.stdout[-2000:]}")
    lines = done.stdout.strip().splitlines()
    assert lines, f"the v3 script printed nothing; stderr:\n{done.stderr[-4000:]}"
    return json.loads(lines[-1])


def final_metrics(job: dict[str, Any]) -> dict[str, float]:
    return {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}


def test_only_environment_and_config_file_were_needed(run, server) -> None:
    app, _, s3, _ = server
    assert run["sdk_version"].split(".")[0] == "3"
    # Every client the SDK makes from the environment reaches smlocal, IAM and STS included.
    assert run["endpoints"] == dict.fromkeys(
        ("sagemaker", "s3", "logs", "cloudwatch", "iam", "sts"), app.url)
    # ... except the STS client of Session.account_id()/default_bucket(), built with a fixed
    # AWS address: hence DefaultS3Bucket in the config file (README).
    assert run["sdk_sts_endpoint"] == f"https://sts.{REGION}.amazonaws.com"
    assert run["default_bucket"] == BUCKET
    s3.head_bucket(Bucket=BUCKET)  # the SDK created it in our S3
    # Role validation ran (GetRole, SimulatePrincipalPolicy) and passed, not "unverifiable":
    # first for the caller's own role (no role=; from STS GetCallerIdentity), then for ROLE.
    caller_role = "arn:aws:iam::123456789012:role/SageMakerRole"
    assert run["caller_role"] == caller_role
    assert run["role_validation"] == [
        f"Role '{caller_role}' validated for training. Using it.",
        f"Role not provided. Using validated caller role:\n{caller_role}",
        f"Role '{ROLE}' validated for training. Using it."]


def test_model_trainer_train(run, server) -> None:
    _, sm, s3, _ = server
    got = run["train"]
    name = got["name"]
    assert re.fullmatch(r"v3-train-\d{14}", name), name
    job = sm.describe_training_job(TrainingJobName=name)
    assert got["status"] == job["TrainingJobStatus"] == "Completed", got["failure_reason"]
    assert got["hyperparameters"] == job["HyperParameters"] == {
        "max_iter": "20", "learning_rate": "0.1", "max_depth": "3"}
    assert job["RoleArn"] == ROLE
    assert job["AlgorithmSpecification"]["TrainingImage"] == "smlocal/gbm:latest"
    assert [m["Name"] for m in job["AlgorithmSpecification"]["MetricDefinitions"]] == METRIC_NAMES
    # Output under the configured default bucket, at SageMaker's key.
    assert run["output_path"] == f"s3://{BUCKET}/v3-train"
    assert got["model_artifacts"] == job["ModelArtifacts"]["S3ModelArtifacts"] == (
        f"s3://{BUCKET}/v3-train/{name}/output/model.tar.gz")
    body = s3.get_object(Bucket=BUCKET, Key=f"v3-train/{name}/output/model.tar.gz")["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read()), mode="r:gz") as tar:
        assert any(m.isfile() for m in tar.getmembers())
    assert got["final_metrics"] == final_metrics(job)
    assert set(got["final_metrics"]) == set(METRIC_NAMES)
    # The SDK tailed the container's log from CloudWatch Logs: its [final] line is the metric.
    final = [line for line in got["log"] if "[final]" in line]
    assert len(final) == 1, got["log"]
    logged = re.search(r"validation:logloss=([0-9.]+)", final[0])
    assert logged and float(logged.group(1)) == pytest.approx(got["final_metrics"][OBJECTIVE])


def test_hyperparameter_tuner_tune_best_job_and_analytics(run, server) -> None:
    _, sm, _, _ = server
    got = run["tune"]
    name = got["name"]
    assert re.fullmatch(r"v3-tune-\d{6}-\d{4}", name), name
    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert got["status"] == described["HyperParameterTuningJobStatus"] == "Completed"
    assert got["completed"] == described["TrainingJobStatusCounters"]["Completed"] == 4
    summaries = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, MaxResults=100)["TrainingJobSummaries"]
    jobs = {s["TrainingJobName"]: sm.describe_training_job(TrainingJobName=s["TrainingJobName"])
            for s in summaries}
    assert len(jobs) == 4

    rows = got["analytics_rows"]
    assert len(rows) == 4
    assert sorted(r["TrainingJobName"] for r in rows) == sorted(jobs)
    for row in rows:
        job = jobs[row["TrainingJobName"]]
        hp = job["HyperParameters"]
        assert row["TrainingJobStatus"] == job["TrainingJobStatus"] == "Completed"
        assert row["FinalObjectiveValue"] == pytest.approx(final_metrics(job)[OBJECTIVE])
        assert row["learning_rate"] == pytest.approx(float(hp["learning_rate"]))
        assert row["max_depth"] == int(hp["max_depth"])
        assert 0.01 <= row["learning_rate"] <= 0.5 and 1 <= row["max_depth"] <= 6
        assert hp["max_iter"] == "20" and hp["_tuning_objective_metric"] == OBJECTIVE

    # best_training_job(): the job with the lowest FinalObjectiveValue (Minimize).
    best = min(rows, key=lambda r: r["FinalObjectiveValue"])
    assert got["best_training_job"] == best["TrainingJobName"]
    assert described["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]


def test_hyper_parameter_tuning_job_get(run) -> None:
    got, tune = run["get"], run["tune"]
    assert got["name"] == tune["name"]
    assert got["status"] == "Completed"
    assert got["strategy"] == "Bayesian"
    assert got["objective"] == ["Minimize", OBJECTIVE]
    assert (got["max_jobs"], got["max_parallel"]) == (4, 2)
    assert got["ranges"] == ["learning_rate", "max_depth"]
    assert got["best_training_job"] == tune["best_training_job"]
    assert got["image"] == "smlocal/gbm:latest"
    assert got["static_hyperparameters"]["max_iter"] == "20"


def expected_series(store: Any, job: str, names: list[str], window: list[float],
                    period: int = 60) -> list[tuple[float, str, float]]:
    """What TrainingJobAnalytics must show, from the samples smlocal stored: per metric, the
    Average of each `period` from StartTime rounded down to the minute (CloudWatch, for data
    under 15 days old), as seconds after the first period that has data."""
    start, end = math.floor(window[0] / 60) * 60, window[1]
    rows = []
    for name in names:
        buckets: dict[int, list[float]] = {}
        for value, ts in store.metric_series(job, name):
            if start <= ts < end:
                buckets.setdefault(int((ts - start) // period), []).append(value)
        if buckets:
            first = min(buckets)
            rows += [((k - first) * period, name, sum(v) / len(v))
                     for k, v in sorted(buckets.items())]
    return rows


def test_training_job_analytics_returns_the_series(run, server) -> None:
    app, sm, _, _ = server
    got = run["training_job_analytics"]
    name = run["train"]["name"]
    assert got["name"] == name
    assert got["metric_names"] == METRIC_NAMES  # from DescribeTrainingJob's MetricDefinitions
    assert got["warnings"] == []  # no "No metrics called ... found"
    rows = [(r["timestamp"], r["metric_name"], r["value"]) for r in got["rows"]]
    assert rows, "TrainingJobAnalytics returned no datapoint"
    assert {r[1] for r in rows} == set(METRIC_NAMES)
    expected = expected_series(app.store, name, METRIC_NAMES, got["window"])
    assert [r[:2] for r in rows] == [e[:2] for e in expected]
    assert [r[2] for r in rows] == pytest.approx([e[2] for e in expected])
    # The stored series ends with the value DescribeTrainingJob reports as final.
    described = final_metrics(sm.describe_training_job(TrainingJobName=name))
    for metric in METRIC_NAMES:
        assert app.store.metric_series(name, metric)[-1][0] == pytest.approx(described[metric])
