"""TrainingService: status machine, metrics, failure reasons, times — through the fake backend."""

from __future__ import annotations

import pytest

from orchestrator.client.logs import render
from orchestrator.clock import FakeClock
from orchestrator.config import Settings
from orchestrator.controller.training import TrainingService
from orchestrator.errors import ResourceNotFound, ValidationError
from orchestrator.runner.base import JobOutcome
from orchestrator.runner.fake import FakeBackend, FakeScript
from orchestrator.storage.db import Store
from orchestrator.storage.joblogs import read_events

ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-20180101T000000"


def request(name: str = "job-1", **extra):
    req = {
        "TrainingJobName": name,
        "HyperParameters": {"a": "1"},
        "AlgorithmSpecification": {
            "TrainingImage": "img", "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=(\S+)"},
                                  {"Name": "acc", "Regex": r"acc=(\S+);"}]},
        "RoleArn": ROLE,
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://b/train/"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    req.update(extra)
    return req


@pytest.fixture
def env(tmp_path):
    clock = FakeClock()
    scripts: dict[str, FakeScript] = {}
    backend = FakeBackend(lambda spec: scripts.get(spec.name, FakeScript()), clock)
    store = Store(tmp_path / "db.sqlite")
    svc = TrainingService(store, backend, Settings(state_dir=tmp_path), clock)
    return svc, backend, scripts, clock


def run_out(backend: FakeBackend, limit: int = 100) -> None:
    for _ in range(limit):
        if not backend.live:
            return
        backend.step()
    raise AssertionError("jobs did not end")


def test_completed_job_has_metrics_times_and_transitions(env):
    svc, backend, scripts, clock = env
    scripts["job-1"] = FakeScript(lines=["loss=0.5 acc=0.7;", "noise", "loss=0.25 acc=0.9;",
                                         "loss=nan", "loss=abc"])
    svc.create(request())
    spec = backend.launched[0]
    assert spec.channels[0].input_mode == "File" and spec.hyperparameters == {"a": "1"}
    assert spec.output_s3_path == "s3://b/out" and spec.max_runtime_seconds == 60
    run_out(backend)
    d = svc.describe("JOB-1")  # names are case-insensitive
    assert d["TrainingJobStatus"] == "Completed" and d["SecondaryStatus"] == "Completed"
    final = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert final == {"loss": 0.25, "acc": 0.9}  # last value; nan/abc ignored
    assert [v for v, _ in svc.store.metric_series("job-1", "loss")] == [0.5, 0.25]
    assert [t["Status"] for t in d["SecondaryStatusTransitions"]] == [
        "Starting", "Training", "Completed"]
    assert all("EndTime" in t for t in d["SecondaryStatusTransitions"])
    assert d["TrainingTimeInSeconds"] >= 1 and d["BillableTimeInSeconds"] >= 1
    assert d["TrainingEndTime"] > d["TrainingStartTime"] >= d["CreationTime"]
    assert d["ModelArtifacts"]["S3ModelArtifacts"] == "s3://b/out/job-1/output/model.tar.gz"
    assert "loss=0.25 acc=0.9;" in [text for _, _, text in read_events(svc.logs_dir, "job-1")[0]]


@pytest.mark.parametrize("outcome,status,secondary,reason", [
    (JobOutcome("failed", exit_code=3, failure_reason="x" * 2000), "Failed", "Failed",
     "AlgorithmError: " + "x" * (1024 - 16)),
    (JobOutcome("failed", exit_code=7), "Failed", "Failed", "AlgorithmError: Exit Code: 7"),
    (JobOutcome("max_runtime"), "Stopped", "MaxRuntimeExceeded", None),
    (JobOutcome("internal_error", failure_reason="docker daemon went away"), "Failed",
     "Failed", "InternalServerError: docker daemon went away"),
    (JobOutcome("internal_error", failure_reason="ClientError: No S3 objects found under x"),
     "Failed", "Failed", "ClientError: No S3 objects found under x"),
])
def test_outcomes_map_to_sagemaker_statuses(env, outcome, status, secondary, reason):
    svc, backend, _, _ = env
    svc.create(request())
    backend.runs.clear()
    svc.finished("job-1", outcome)
    d = svc.describe("job-1")
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == (status, secondary)
    assert d.get("FailureReason") == reason
    assert len(d.get("FailureReason") or "") <= 1024


def test_oom_failure_says_so(env):
    svc, backend, _, _ = env
    svc.create(request())
    svc.finished("job-1", JobOutcome("failed", exit_code=137, oom_killed=True))
    assert "out of memory" in svc.describe("job-1")["FailureReason"]


def test_stop_goes_through_stopping_and_rejects_a_second_stop(env):
    svc, backend, scripts, _ = env
    scripts["job-1"] = FakeScript(lines=["loss=1"] * 10)
    svc.create(request())
    backend.step()
    svc.stop("job-1")
    d = svc.describe("job-1")
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopping", "Stopping")
    with pytest.raises(ValidationError, match="in status Stopping"):
        svc.stop("job-1")
    run_out(backend)
    d = svc.describe("job-1")
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "Stopped")
    with pytest.raises(ValidationError, match="in status Stopped"):
        svc.stop("job-1")


def test_unknown_job_errors_match_the_real_service(env):
    svc, _, _, _ = env
    with pytest.raises(ValidationError, match="Requested resource not found"):
        svc.describe("nope")
    with pytest.raises(ResourceNotFound):
        svc.stop("nope")


def test_duplicate_name_is_resource_in_use_even_in_other_case(env):
    from orchestrator.errors import ResourceInUse

    svc, _, _, _ = env
    svc.create(request())
    with pytest.raises(ResourceInUse, match="already exists"):
        svc.create(request(name="JOB-1"))


def test_metrics_only_from_algo_1(env):
    from orchestrator.runner.base import LogLine

    svc, _, _, _ = env
    svc.create(request())
    svc.logs("job-1", [LogLine(1.0, "stdout", "algo-2", "loss=9"),
                       LogLine(2.0, "stderr", "algo-1", "loss=3")])
    assert svc.store.metric_series("job-1", "loss") == [(3.0, 2.0)]
    events, _ = read_events(svc.logs_dir, "job-1")
    assert [render(e) for e in events] == ["[algo-2] loss=9", "loss=3"]


def test_smlocal_notes_are_logged_but_never_parsed_as_metrics(env):
    from orchestrator.runner.base import LogLine

    svc, _, _, _ = env
    svc.create(request())
    svc.logs("job-1", [LogLine(1.0, "smlocal", "algo-1", "capped; loss=1")])
    assert svc.store.metric_series("job-1", "loss") == []
    assert read_events(svc.logs_dir, "job-1")[0] == [(1000, "algo-1", "[smlocal] capped; loss=1")]
