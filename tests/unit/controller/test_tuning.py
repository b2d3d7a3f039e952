"""The tuning state machine through the fake backend: decisions, counters, best job, restarts."""

from __future__ import annotations

import re

import pytest

from orchestrator.controller.describe import objective_value
from orchestrator.controller.harness import Harness, quadratic, tuning_request
from orchestrator.controller.spec import TuningSpec
from orchestrator.errors import ResourceNotFound, ValidationError
from orchestrator.runner.base import JobSpec
from orchestrator.runner.fake import FakeBackend, FakeScript
from orchestrator.storage.db import Store

TERMINAL = {"Completed", "Failed", "Stopped"}


def test_random_job_runs_budget_in_parallel_and_reports_real_best(tmp_path):
    h = Harness(tmp_path)
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=6, parallel=2))
    d = h.run()
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"] == {"Completed": 6, "InProgress": 0, "Stopped": 0,
                                              "RetryableError": 0, "NonRetryableError": 0}
    assert d["ObjectiveStatusCounters"] == {"Succeeded": 6, "Pending": 0, "Failed": 0}
    assert h.max_live == 2
    jobs = h.training_jobs()
    assert len(jobs) == 6
    best = min(jobs, key=objective_value)
    assert d["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
    assert d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "MetricName": "loss", "Value": objective_value(best)}
    assert "_tuning_objective_metric" not in d["BestTrainingJob"]["TunedHyperParameters"]
    assert d["HyperParameterTuningEndTime"] >= d["CreationTime"]
    for i, job in enumerate(sorted(jobs, key=lambda j: j["_LaunchIndex"]), start=1):
        assert re.fullmatch(rf"tj-{i:03d}-[0-9a-f]{{8}}", job["TrainingJobName"])
        hp = job["HyperParameters"]
        assert hp["_tuning_objective_metric"] == "loss" and hp["epochs"] == "5"
        assert re.fullmatch(r"[1-9]", hp["depth"])  # integers rendered without a decimal point
        assert job["TuningJobArn"] == d["HyperParameterTuningJobArn"]
        assert job["ModelArtifacts"]["S3ModelArtifacts"] == (
            f"s3://bucket/out/{job['TrainingJobName']}/output/model.tar.gz")


def test_describe_echoes_request_with_service_filled_defaults(tmp_path):
    h = Harness(tmp_path)
    req = tuning_request()
    del req["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    h.call("CreateHyperParameterTuningJob", req)
    d = h.describe()
    assert d["HyperParameterTuningJobStatus"] == "InProgress"
    config = d["HyperParameterTuningJobConfig"]
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] > 0
    assert config["ParameterRanges"] == req["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert d["TrainingJobDefinition"]["StaticHyperParameters"] == {
        "epochs": "5", "_tuning_objective_metric": "loss"}
    assert "BestTrainingJob" not in d and "HyperParameterTuningEndTime" not in d


def test_freed_slot_is_refilled_at_once_not_after_the_batch(tmp_path):
    durations = iter([1, 12, 1, 1, 1, 1, 1, 1])

    def script(spec: JobSpec) -> FakeScript:
        return FakeScript(lines=["loss=1.0"] * next(durations))

    h = Harness(tmp_path, script)
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=5, parallel=2))
    h.run(until=lambda d: d["TrainingJobStatusCounters"]["Completed"] >= 3)
    jobs = h.training_jobs()
    slow = next(j for j in jobs if j["_LaunchIndex"] == 2)
    assert slow["TrainingJobStatus"] == "InProgress"  # three others finished beside it


def test_stop_goes_stopping_then_stopped_and_stops_every_job(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["loss=1"] * 50))
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=6, parallel=3))
    h.tick()
    h.call("StopHyperParameterTuningJob", {"HyperParameterTuningJobName": "tj"})
    assert h.describe()["HyperParameterTuningJobStatus"] == "Stopping"
    with pytest.raises(ValidationError):
        h.call("StopHyperParameterTuningJob", {"HyperParameterTuningJobName": "tj"})
    d = h.run()
    assert d["HyperParameterTuningJobStatus"] == "Stopped"
    assert d["TrainingJobStatusCounters"]["Stopped"] == 3
    assert len(h.training_jobs()) == 3  # nothing launched after the stop
    assert not h.backend.live


def test_first_five_failures_fail_the_tuning_job(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["boom"], kind="failed", exit_code=2,
                                                  failure_reason="bad input"))
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=20, parallel=2))
    d = h.run()
    assert d["HyperParameterTuningJobStatus"] == "Failed"
    assert d["FailureReason"].startswith("No training job succeeded after 5 attempts.")
    assert d["TrainingJobStatusCounters"]["NonRetryableError"] >= 5
    assert d["ObjectiveStatusCounters"]["Failed"] == len(h.training_jobs())
    job = h.training_jobs()[0]
    assert job["FailureReason"] == "AlgorithmError: bad input"


def test_failed_jobs_do_not_stop_a_job_that_also_succeeds(tmp_path):
    calls = iter(range(100))

    def script(spec: JobSpec) -> FakeScript:
        if next(calls) % 2:
            return FakeScript(lines=[], kind="failed", exit_code=1)
        return quadratic(spec)

    h = Harness(tmp_path, script)
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=8, parallel=2))
    d = h.run()
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    c = d["TrainingJobStatusCounters"]
    assert c["Completed"] + c["NonRetryableError"] == 8 and c["NonRetryableError"] >= 3
    assert d["ObjectiveStatusCounters"]["Failed"] == c["NonRetryableError"]


def test_target_value_completes_early_and_stops_in_flight_jobs(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(
        lines=["loss=0.001"] if "-002-" in spec.name else ["loss=5"] * 30))
    h.call("CreateHyperParameterTuningJob", tuning_request(
        max_jobs=20, parallel=3,
        TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 0.01}))
    d = h.run()
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert len(h.training_jobs()) == 3
    assert d["TrainingJobStatusCounters"]["Stopped"] == 2
    assert d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 0.001


def test_early_stopping_auto_stops_worse_than_median_and_keeps_objective(tmp_path):
    counter = iter(range(100))

    def script(spec: JobSpec) -> FakeScript:
        i = next(counter)
        if i < 4:  # four good reference jobs
            return FakeScript(lines=[f"loss={1.0 - 0.1 * e}" for e in range(8)])
        return FakeScript(lines=[f"loss={5.0 + e}" for e in range(8)])  # clearly worse

    h = Harness(tmp_path, script)
    h.call("CreateHyperParameterTuningJob", tuning_request(
        max_jobs=6, parallel=1, TrainingJobEarlyStoppingType="Auto"))
    d = h.run()
    jobs = sorted(h.training_jobs(), key=lambda j: j["_LaunchIndex"])
    assert [j["TrainingJobStatus"] for j in jobs[:4]] == ["Completed"] * 4
    assert [j["TrainingJobStatus"] for j in jobs[4:]] == ["Stopped"] * 2
    assert all(j["_StopCause"] == "early-stopping" for j in jobs[4:])
    # Early-stopped jobs keep their objective (spec §9.8).
    assert d["ObjectiveStatusCounters"] == {"Succeeded": 6, "Pending": 0, "Failed": 0}
    assert all(len(h.store.metric_series(j["TrainingJobName"], "loss")) < 8 for j in jobs[4:])


def test_grid_runs_every_combination_exactly_once(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["loss=1"]))
    req = tuning_request(strategy="Grid", parallel=3)
    cfg = req["HyperParameterTuningJobConfig"]
    del cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    cfg["ParameterRanges"] = {"CategoricalParameterRanges": [
        {"Name": "a", "Values": ["x", "y", "z"]}, {"Name": "b", "Values": ["1", "2"]}]}
    h.call("CreateHyperParameterTuningJob", req)
    d = h.run()
    assert d["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    combos = {(j["_TunedHyperParameters"]["a"], j["_TunedHyperParameters"]["b"])
              for j in h.training_jobs()}
    assert len(combos) == 6 == len(h.training_jobs())
    assert d["HyperParameterTuningJobStatus"] == "Completed"


def test_hyperband_stops_jobs_and_caps_at_max_resource(tmp_path):
    def script(spec: JobSpec) -> FakeScript:
        base = float(spec.hyperparameters["lr"])
        return FakeScript(lines=[f"loss={base + 1.0 / (e + 1)}" for e in range(50)])

    h = Harness(tmp_path, script)
    req = tuning_request(strategy="Hyperband", max_jobs=12, parallel=4)
    req["HyperParameterTuningJobConfig"]["StrategyConfig"] = {
        "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 9}}
    h.call("CreateHyperParameterTuningJob", req)
    d = h.run(limit=2000)
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    lengths = [len(h.store.metric_series(j["TrainingJobName"], "loss"))
               for j in h.training_jobs()]
    assert max(lengths) <= 9 + 1  # MaxResource caps every job (one more line may race the stop)
    assert min(lengths) < 9  # ASHA stopped some early
    assert all(j["TrainingJobStatus"] == "Stopped" for j in h.training_jobs())


def test_restart_continues_without_losing_or_duplicating_jobs(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["loss=2"] * 3 + ["loss=1"]))
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=7, parallel=3))
    for _ in range(5):
        h.tick()
    before = {j["TrainingJobName"] for j in h.training_jobs()}
    assert 3 <= len(before) < 7
    # "kill -9": drop every in-memory object; keep the SQLite file and the running "containers".
    h.store.close()
    store = Store(tmp_path / "smlocal.db")
    h2 = Harness(tmp_path, clock=h.clock, store=store, backend=h.backend)
    assert set(h2.training.recover()) == {j["TrainingJobName"] for j in h2.training_jobs()
                                          if j["TrainingJobStatus"] == "InProgress"}
    d = h2.run()
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    jobs = h2.training_jobs()
    assert len(jobs) == 7 and before <= {j["TrainingJobName"] for j in jobs}
    assert sorted(j["_LaunchIndex"] for j in jobs) == list(range(1, 8))
    assert d["TrainingJobStatusCounters"]["Completed"] == 7


def test_restart_relaunches_a_job_whose_container_never_started(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["loss=1"]))
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=3, parallel=3))
    h.tuner.step()
    h.store.close()
    fresh = FakeBackend(lambda spec: FakeScript(lines=["loss=1"]), h.clock)  # nothing survived
    h2 = Harness(tmp_path, clock=h.clock, store=Store(tmp_path / "smlocal.db"), backend=fresh)
    h2.training.recover()
    assert len(fresh.launched) == 3
    assert h2.run()["TrainingJobStatusCounters"]["Completed"] == 3


def test_user_stop_of_a_child_counts_as_stopped_and_tuning_continues(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["loss=1"] * 4))
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=4, parallel=2))
    h.tick()
    first = h.training_jobs()[0]["TrainingJobName"]
    h.call("StopTrainingJob", {"TrainingJobName": first})
    d = h.run()
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"]["Stopped"] == 1
    assert d["TrainingJobStatusCounters"]["Completed"] == 3


def test_delete_needs_a_terminal_job_and_keeps_training_jobs(tmp_path):
    h = Harness(tmp_path)
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=2, parallel=2))
    h.tick()
    with pytest.raises(ValidationError, match="not in a terminal state"):
        h.call("DeleteHyperParameterTuningJob", {"HyperParameterTuningJobName": "tj"})
    h.run()
    h.call("DeleteHyperParameterTuningJob", {"HyperParameterTuningJobName": "TJ"})
    with pytest.raises(ResourceNotFound):
        h.describe()
    job = h.store.list_training_jobs()[0]
    assert h.call("DescribeTrainingJob", {"TrainingJobName": job["TrainingJobName"]})[
        "TuningJobArn"].endswith("/tj")


def test_tags_propagate_only_to_jobs_launched_after_tagging(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["loss=1"] * 3))
    req = tuning_request(max_jobs=4, parallel=2)
    req["Tags"] = [{"Key": "team", "Value": "ml"}]
    arn = h.call("CreateHyperParameterTuningJob", req)["HyperParameterTuningJobArn"]
    h.tick()
    h.call("AddTags", {"ResourceArn": arn, "Tags": [{"Key": "late", "Value": "1"}]})
    h.run()
    jobs = sorted(h.training_jobs(), key=lambda j: j["_LaunchIndex"])
    tags = [{t["Key"] for t in h.store.list_tags(j["TrainingJobArn"])} for j in jobs]
    assert tags[0] == {"team"} and tags[-1] == {"team", "late"}


def test_warm_start_parent_data_reaches_the_strategy_and_overall_best(tmp_path):
    h = Harness(tmp_path)
    h.call("CreateHyperParameterTuningJob", tuning_request(name="parent", max_jobs=4))
    h.run("parent")
    child = tuning_request(name="child", max_jobs=3)
    child["WarmStartConfig"] = {"ParentHyperParameterTuningJobs": [
        {"HyperParameterTuningJobName": "parent"}], "WarmStartType": "IdenticalDataAndAlgorithm"}
    h.call("CreateHyperParameterTuningJob", child)
    d = h.run("child")
    parent_best = h.describe("parent")["BestTrainingJob"]
    overall = d["OverallBestTrainingJob"]
    values = [parent_best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
              d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]]
    assert overall["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(values)
    assert len(h.training_jobs("child")) == 3
    spec = TuningSpec.of(h.store.get_tuning_job("child"))
    history = h.tuner._warm_start_history(spec, spec.definitions[0])
    assert len(history) == 4 and all(o.source == "parent" for o in history)


def test_list_training_jobs_for_tuning_job_sorts_and_filters(tmp_path):
    h = Harness(tmp_path)
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=5, parallel=5))
    h.run()
    out = h.call("ListTrainingJobsForHyperParameterTuningJob", {
        "HyperParameterTuningJobName": "tj", "SortBy": "FinalObjectiveMetricValue",
        "SortOrder": "Ascending", "MaxResults": 2})
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
              for s in out["TrainingJobSummaries"]]
    assert values == sorted(values) and "NextToken" in out
    rest = h.call("ListTrainingJobsForHyperParameterTuningJob", {
        "HyperParameterTuningJobName": "tj", "SortBy": "FinalObjectiveMetricValue",
        "SortOrder": "Ascending", "NextToken": out["NextToken"], "MaxResults": 10})
    assert len(rest["TrainingJobSummaries"]) == 3 and "NextToken" not in rest
    names = [s["TrainingJobName"] for s in h.call(
        "ListTrainingJobsForHyperParameterTuningJob",
        {"HyperParameterTuningJobName": "tj"})["TrainingJobSummaries"]]
    assert names == sorted(names)  # default sort: Name ascending (spec §9.15)


def test_jobs_that_complete_without_the_metric_complete_the_tuning_job_without_best(tmp_path):
    # F1 counts Completed jobs as succeeded; F3: no objective anywhere still ends Completed.
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["no metric here"]))
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=6, parallel=2))
    d = h.run()
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["ObjectiveStatusCounters"] == {"Succeeded": 0, "Pending": 0, "Failed": 6}
    assert "BestTrainingJob" not in d


def test_stopped_jobs_without_objective_do_not_count_as_success(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=[], kind="max_runtime"))
    h.call("CreateHyperParameterTuningJob", tuning_request(max_jobs=8, parallel=2))
    d = h.run()
    assert d["HyperParameterTuningJobStatus"] == "Failed"
    assert d["TrainingJobStatusCounters"]["Stopped"] >= 5


def test_best_not_improving_without_a_count_is_filled_echoed_and_applied(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["loss=1"]))
    h.call("CreateHyperParameterTuningJob", tuning_request(
        max_jobs=40, parallel=2, TuningJobCompletionCriteria={"BestObjectiveNotImproving": {}}))
    d = h.run()
    criteria = d["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"]
    assert criteria["BestObjectiveNotImproving"]["MaxNumberOfTrainingJobsNotImproving"] == 10
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert len(h.training_jobs()) < 40
    assert d["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] >= 10
