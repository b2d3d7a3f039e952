"""`controller.imported.plan_import`: what an import from another account and region stores
(ARNs rewritten to this endpoint for what is stored here, kept for what is not; the internal
fields the controller reads), and the problems it refuses before anything is written."""

from __future__ import annotations

import pytest

from orchestrator.config import Settings
from orchestrator.controller.imported import IMPORTED, TAG_ARN, TAG_SOURCE, plan_import
from orchestrator.controller.records import TrainingRecord
from orchestrator.errors import ValidationError

REMOTE = "arn:aws:sagemaker:eu-west-1:999988887777"


def _summary(name: str, value: float, lr: str) -> dict:
    return {"TrainingJobName": name, "TrainingJobArn": f"{REMOTE}:training-job/{name}",
            "TuningJobName": "cloud", "CreationTime": 10.0, "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {"lr": lr}, "ObjectiveStatus": "Succeeded",
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "loss",
                                                            "Value": value}}


def _request(**changes) -> dict:
    jobs = [("cloud-001-abcdef12", 0.5, "0.1"), ("cloud-002-12345678", 0.2, "0.3")]
    tuning = {
        "HyperParameterTuningJobName": "cloud",
        "HyperParameterTuningJobArn": f"{REMOTE}:hyper-parameter-tuning-job/cloud",
        "HyperParameterTuningJobStatus": "Completed", "CreationTime": 5.0,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "lr", "MinValue": "0", "MaxValue": "1"}]}},
        "TrainingJobStatusCounters": {"Completed": 2},
        "ObjectiveStatusCounters": {"Succeeded": 2},
        "BestTrainingJob": _summary(*jobs[1]),
        "OverallBestTrainingJob": _summary("grandparent-007-00000000", 0.1, "0.2"),
    }
    entries = [{"Description": {
        "TrainingJobName": n, "TrainingJobArn": f"{REMOTE}:training-job/{n}",
        "TuningJobArn": tuning["HyperParameterTuningJobArn"], "TrainingJobStatus": "Completed",
        "CreationTime": 10.0, "HyperParameters": {"lr": lr, "epochs": "3"},
        "FinalMetricDataList": [{"MetricName": "loss", "Value": v}]},
        "Summary": _summary(n, v, lr), "Tags": [{"Key": "k", "Value": "v"}],
        "MetricSeries": [{"MetricName": "loss", "Timestamps": [11.0, 12.0],
                          "Values": [v + 1, v]}]} for n, v, lr in jobs]
    return {"Source": "https://api.sagemaker.eu-west-1.amazonaws.com", "TuningJob": tuning,
            "TrainingJobs": entries, "Tags": [{"Key": "team", "Value": "ml"}], **changes}


def test_arns_of_what_is_stored_here_are_local_the_rest_kept() -> None:
    settings = Settings(region="us-east-1", account_id="123456789012")
    plan = plan_import(_request(HyperParameterTuningJobName="mine"), settings, 100.0)
    local = "arn:aws:sagemaker:us-east-1:123456789012"
    assert plan.tuning["HyperParameterTuningJobArn"] == f"{local}:hyper-parameter-tuning-job/mine"
    assert plan.tuning["BestTrainingJob"]["TrainingJobName"] == "mine-002-12345678"
    assert plan.tuning["BestTrainingJob"]["TrainingJobArn"] == \
        f"{local}:training-job/mine-002-12345678"
    assert plan.tuning["OverallBestTrainingJob"]["TrainingJobArn"] == \
        f"{REMOTE}:training-job/grandparent-007-00000000"  # not imported: as the source said
    assert plan.tuning[IMPORTED]["OriginalArn"] == f"{REMOTE}:hyper-parameter-tuning-job/cloud"
    names = [d["TrainingJobName"] for d in plan.training]
    assert names == ["mine-001-abcdef12", "mine-002-12345678"]
    for doc in plan.training:
        assert doc["TuningJobArn"] == plan.tuning["HyperParameterTuningJobArn"]
        assert doc["_Summary"]["TuningJobName"] == "mine"
        tags = {t["Key"]: t["Value"] for t in plan.tags[doc["TrainingJobArn"]]}
        original = doc["TrainingJobName"].replace("mine", "cloud")
        assert tags == {"k": "v", TAG_SOURCE: "https://api.sagemaker.eu-west-1.amazonaws.com",
                        TAG_ARN: f"{REMOTE}:training-job/{original}"}
    record = TrainingRecord.of(plan.training[1])
    assert (record.tuning_job, record.tuned, record.objective, record.launch_index) == (
        "mine", {"lr": "0.3"}, 0.2, 2)
    assert record.succeeded_objective == 0.2 and record.objective_type == "Minimize"
    assert plan.metrics["mine-002-12345678"] == [("loss", 1.2, 11.0), ("loss", 0.2, 12.0)]


def test_problems_are_reported_together_and_nothing_is_planned() -> None:
    request = _request()
    request["TuningJob"]["HyperParameterTuningJobStatus"] = "Stopping"
    request["TrainingJobs"][1]["Description"]["TrainingJobStatus"] = "InProgress"
    request["TrainingJobs"][0]["Summary"]["TuningJobName"] = "someone-else"
    with pytest.raises(ValidationError) as err:
        plan_import(request, Settings(), 0.0)
    message = err.value.message
    assert message.startswith("3 validation errors detected")
    assert "is Stopping at its source" in message and "is InProgress" in message
    assert "belongs to tuning job someone-else" in message
