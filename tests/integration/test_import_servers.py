"""Import between two `smlocal serve --backend fake` processes (no Docker, real clocks): a tuning
job whose training jobs print learning curves runs on B, then `smlocal import` (a separate
process, as a user runs it) brings it into A with the curves from B's CloudWatch
GetMetricData, and `snapshot` + `import --bundle` gives the same job under another name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from orchestrator.server_process import ServerProcess
from tests.integration.e2e import clients, wait_for

NAME = "curves"
BUCKET = "import-curves"
# A categorical the fake engine's probe program reads: each value is a learning curve.
CURVES = ["loss=0.9,0.5,0.31", "loss=0.8,0.45,0.22", "loss=0.7,0.6,0.52"]


def request() -> dict:
    return {
        "HyperParameterTuningJobName": NAME,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Grid",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxParallelTrainingJobs": 3},
            "ParameterRanges": {"CategoricalParameterRanges": [
                {"Name": "metrics", "Values": CURVES}]}},
        "TrainingJobDefinition": {
            # 1.1 s apart: each sample in a second of its own, so period-1 averages are the
            # printed values themselves.
            "StaticHyperParameters": {"metric_interval": "1.1"},
            "AlgorithmSpecification": {
                "TrainingImage": "smlocal/probe:latest", "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+);"}]},
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 300}},
    }


def smlocal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.client.cli", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def servers(tmp_path):
    started = []
    try:
        for name in ("local", "remote"):
            started.append(ServerProcess(tmp_path / name, SMLOCAL_BACKEND="fake"))
        yield started
    finally:
        for server in started:
            server.stop()


def describe(sm, name: str) -> dict:
    return {k: v for k, v in sm.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name).items() if k != "ResponseMetadata"}


def curves(url: str, name: str) -> dict[str, list[float]]:
    """Tuned `metrics` value → the loss series CloudWatch GetMetricData serves at `url`."""
    import boto3

    sm, _ = clients(url)
    cw = boto3.client("cloudwatch", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")
    out = {}
    for s in sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name)["TrainingJobSummaries"]:
        job = sm.describe_training_job(TrainingJobName=s["TrainingJobName"])
        result = cw.get_metric_data(MetricDataQueries=[{"Id": "l", "MetricStat": {"Metric": {
            "Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "loss",
            "Dimensions": [{"Name": "TrainingJobName", "Value": job["TrainingJobName"]}]},
            "Period": 1, "Stat": "Average"}}], StartTime=job["CreationTime"],
            EndTime=job["LastModifiedTime"], ScanBy="TimestampAscending")
        out[s["TunedHyperParameters"]["metrics"]] = result["MetricDataResults"][0]["Values"]
    return out


def test_learning_curves_travel_with_an_imported_job(servers, tmp_path):
    local, remote = servers
    sm_b, s3_b = clients(remote.url)
    s3_b.create_bucket(Bucket=BUCKET)
    sm_b.create_hyper_parameter_tuning_job(**request())
    wait_for(lambda: describe(sm_b, NAME)["HyperParameterTuningJobStatus"] != "InProgress",
             timeout=120, what="the tuning job on B")
    theirs = describe(sm_b, NAME)
    assert theirs["HyperParameterTuningJobStatus"] == "Completed"

    run = smlocal("--endpoint", local.url, "import", NAME, "--from-endpoint", remote.url)
    assert run.returncode == 0, run.stderr
    assert "9 metric samples" in run.stdout
    sm_a, _ = clients(local.url)
    assert describe(sm_a, NAME) == theirs
    expected = {c: [float(v) for v in c.split("=")[1].split(",")] for c in CURVES}
    assert curves(local.url, NAME) == curves(remote.url, NAME) == expected
    assert theirs["BestTrainingJob"]["TunedHyperParameters"] == {"metrics": CURVES[1]}

    bundle = tmp_path / "curves.json"
    run = smlocal("--endpoint", remote.url, "snapshot", NAME, "-o", str(bundle))
    assert run.returncode == 0, run.stderr
    assert json.loads(bundle.read_text())["MetricSeriesSource"] == "CloudWatch GetMetricData"
    run = smlocal("--endpoint", local.url, "import", "--bundle", str(bundle), "--as", "again")
    assert run.returncode == 0, run.stderr
    assert curves(local.url, "again") == expected
    run = smlocal("--endpoint", local.url, "stop", "again")
    assert run.returncode == 2 and "read-only copy" in run.stderr
