"""Import with real Docker (issue 11 item 2): the gbm example tuned on server B (`smlocal serve`
in a child process, standing for SageMaker), imported with `smlocal import --from-endpoint`
into server A through real boto3 and CloudWatch GetMetricData, then a local tuning job on A
warm-started from the imported one runs real containers and sees the parent's best."""

from __future__ import annotations

import pytest

from orchestrator.client.cli import main
from orchestrator.client.demo import demo_request, upload_example_data
from orchestrator.server_process import ServerProcess
from tests.integration.e2e import clients, wait_for

# Two servers' containers on a machine other tests share: generous.
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(2400)]
NAME = "imp-gbm"
ENDED = ("Completed", "Failed", "Stopped")


def describe(sm, name: str) -> dict:
    answer = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def training_view(sm, name: str) -> tuple[list[dict], list[dict]]:
    summaries = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)["TrainingJobSummaries"]
    described = [{k: v for k, v in sm.describe_training_job(
        TrainingJobName=s["TrainingJobName"]).items() if k != "ResponseMetadata"}
        for s in summaries]
    return summaries, described


def series(url: str, job: dict) -> list[dict]:
    import boto3

    cw = boto3.client("cloudwatch", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")
    return cw.get_metric_data(MetricDataQueries=[{"Id": "l", "MetricStat": {"Metric": {
        "Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "validation:logloss",
        "Dimensions": [{"Name": "TrainingJobName", "Value": job["TrainingJobName"]}]},
        "Period": 1, "Stat": "Average"}}], StartTime=job["CreationTime"],
        EndTime=job["LastModifiedTime"], ScanBy="TimestampAscending")["MetricDataResults"]


@pytest.fixture(scope="module")
def remote(tmp_path_factory, gbm_image):
    b = ServerProcess(tmp_path_factory.mktemp("remote") / "state", SMLOCAL_BACKEND="docker")
    yield b
    _stop_everything(b.url)  # containers outlive a stopped server: leave none behind
    b.stop()


def _stop_everything(url: str) -> None:
    sm, _ = clients(url)
    for job in sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]:
        if job["HyperParameterTuningJobStatus"] == "InProgress":
            sm.stop_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=job["HyperParameterTuningJobName"])
    wait_for(lambda: all(j["HyperParameterTuningJobStatus"] in ENDED for j in
                         sm.list_hyper_parameter_tuning_jobs()[
                             "HyperParameterTuningJobSummaries"]),
             timeout=300, what="the remote's tuning jobs to stop")


def test_import_from_another_server_and_warm_start_locally(server, remote, capsys):
    app, sm_a, _, data_uri = server
    sm_b, s3_b = clients(remote.url)
    assert upload_example_data(s3_b) == data_uri  # the same URI on both: identical data
    sm_b.create_hyper_parameter_tuning_job(**demo_request(NAME, data_uri, 3, 2))
    wait_for(lambda: describe(sm_b, NAME)["HyperParameterTuningJobStatus"] in ENDED,
             timeout=1200, what="the tuning job on the remote server")
    theirs = describe(sm_b, NAME)
    assert theirs["HyperParameterTuningJobStatus"] == "Completed"

    assert main(["--endpoint", app.url, "import", NAME, "--from-endpoint", remote.url]) == 0
    out, err = capsys.readouterr()
    assert "metric samples from CloudWatch" in err and "imported imp-gbm" in out
    assert describe(sm_a, NAME) == theirs
    mine_view, theirs_view = training_view(sm_a, NAME), training_view(sm_b, NAME)
    assert mine_view == theirs_view
    samples = 0
    for job in mine_view[1]:
        here, there = series(app.url, job), series(remote.url, job)
        assert here == there
        samples += len(here[0]["Values"])
    assert samples > len(mine_view[1])  # learning curves, not only final values

    # A local tuning job continues from what the remote learned, on real containers.
    child = demo_request("imp-gbm-child", data_uri, 2, 2)
    child["WarmStartConfig"] = {"WarmStartType": "IdenticalDataAndAlgorithm",
                                "ParentHyperParameterTuningJobs": [
                                    {"HyperParameterTuningJobName": NAME}]}
    sm_a.create_hyper_parameter_tuning_job(**child)
    wait_for(lambda: describe(sm_a, "imp-gbm-child")["HyperParameterTuningJobStatus"] in ENDED,
             timeout=900, what="the warm-started local tuning job")
    d = describe(sm_a, "imp-gbm-child")
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    parent_best = theirs["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
    own_best = d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
    overall = d["OverallBestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
    assert overall["Value"] == min(parent_best["Value"], own_best["Value"])
    if parent_best["Value"] < own_best["Value"]:
        assert d["OverallBestTrainingJob"]["TrainingJobName"] == \
            theirs["BestTrainingJob"]["TrainingJobName"]
