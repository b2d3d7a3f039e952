"""Tuning jobs end to end: real server on a free port, real boto3, real Docker containers.

Each test checks what the service reports against what really happened: counters against the
training jobs, the best job against every job's own final metric, artifacts against S3 keys,
stop decisions against the containers still present.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from orchestrator.client.demo import demo_request, upload_example_data
from tests.integration.e2e import clients, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TERMINAL = ("Completed", "Failed", "Stopped")
EPOCH_METRICS = [{"Name": "validation:loss", "Regex": r"validation:loss=([0-9.]+)"},
                 {"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9.]+)"}]


def wait_terminal(sm: Any, name: str, timeout: float = 300) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        return d if d["HyperParameterTuningJobStatus"] in TERMINAL else None

    return wait_for(done, timeout)


def training_jobs(sm: Any, name: str) -> list[dict[str, Any]]:
    pages = sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=name)
    summaries = [s for page in pages for s in page["TrainingJobSummaries"]]
    return [sm.describe_training_job(TrainingJobName=s["TrainingJobName"]) for s in summaries]


def final_metric(job: dict[str, Any], metric: str) -> float | None:
    return next((m["Value"] for m in job.get("FinalMetricDataList", [])
                 if m["MetricName"] == metric), None)


def containers_of(docker_client: Any, tuning_name: str) -> list[Any]:
    return docker_client.containers.list(ignore_removed=True, all=True, filters={
        "label": f"smlocal.tuning-job={tuning_name}"})


def gbm_request(name: str, data_uri: str, jobs: int, parallel: int,
                strategy: str = "Bayesian") -> dict[str, Any]:
    req = demo_request(name, data_uri, jobs=jobs, parallel=parallel)
    cfg = req["HyperParameterTuningJobConfig"]
    cfg["Strategy"] = strategy
    for r in cfg["ParameterRanges"]["IntegerParameterRanges"]:
        if r["Name"] == "max_iter":  # keep jobs short on a 2-core machine
            r.update(MinValue="5", MaxValue="40")
    return req


def epoch_request(name: str, data_uri: str, jobs: int, parallel: int, strategy: str,
                  epochs: int = 6, sleep: float = 0.0, **config: Any) -> dict[str, Any]:
    req = demo_request(name, data_uri, jobs=jobs, parallel=parallel)
    cfg = req["HyperParameterTuningJobConfig"]
    cfg.update(Strategy=strategy, HyperParameterTuningJobObjective={
        "Type": "Minimize", "MetricName": "validation:loss"}, **config)
    cfg["ParameterRanges"] = {
        "ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": "0.0001",
                                       "MaxValue": "0.5", "ScalingType": "Logarithmic"}],
        "IntegerParameterRanges": [{"Name": "batch_size", "MinValue": "8", "MaxValue": "128"}],
        "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}],
    }
    definition = req["TrainingJobDefinition"]
    definition["AlgorithmSpecification"].update(TrainingImage="smlocal/epoch:latest",
                                                MetricDefinitions=EPOCH_METRICS)
    definition["StaticHyperParameters"] = {"epochs": str(epochs), "hidden_units": "0",
                                           "epoch_sleep_seconds": str(sleep)}
    return req


def assert_consistent(sm: Any, s3: Any, d: dict[str, Any], jobs: list[dict[str, Any]],
                      metric: str, maximize: bool = False) -> None:
    """Counters, best job and artifacts agree with the training jobs themselves."""
    counters = d["TrainingJobStatusCounters"]
    assert sum(counters.values()) == len(jobs) == sum(d["ObjectiveStatusCounters"].values())
    for status in ("Completed", "Stopped"):
        assert counters[status] == sum(j["TrainingJobStatus"] == status for j in jobs)
    with_value = [(final_metric(j, metric), j["TrainingJobName"]) for j in jobs
                  if j["TrainingJobStatus"] in ("Completed", "Stopped")
                  and final_metric(j, metric) is not None]
    best_value = (max if maximize else min)(v for v, _ in with_value)
    best = d["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == best_value
    assert final_metric(next(j for j in jobs if j["TrainingJobName"] ==
                             best["TrainingJobName"]), metric) == best_value
    for job in jobs:
        assert job["HyperParameters"]["_tuning_objective_metric"] == metric
        assert job["TuningJobArn"] == d["HyperParameterTuningJobArn"]
        # A job stopped before its container started (a tuning job stopped while it was
        # Starting) uploads nothing; ModelArtifacts, a required member, still names the key.
        if job["TrainingJobStatus"] == "Completed" or "TrainingStartTime" in job:
            bucket, key = job["ModelArtifacts"]["S3ModelArtifacts"][5:].split("/", 1)
            # S3OutputPath "s3://bucket/" puts the job's folder at the top of the bucket
            assert f"/{key}".endswith(f"/{job['TrainingJobName']}/output/model.tar.gz")
            assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0


def test_bayesian_gbm_tuning_job(server, docker_client):
    app, sm, s3, data = server
    sm.create_hyper_parameter_tuning_job(**gbm_request("e2e-bayes", data, jobs=5, parallel=2))
    d = wait_terminal(sm, "e2e-bayes")
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    jobs = training_jobs(sm, "e2e-bayes")
    assert d["TrainingJobStatusCounters"]["Completed"] == 5
    assert_consistent(sm, s3, d, jobs, "validation:logloss")
    assert d["TrainingJobDefinition"]["StaticHyperParameters"]["_tuning_objective_metric"] == (
        "validation:logloss")
    assert not containers_of(docker_client, "e2e-bayes")


def test_random_and_grid_on_the_epoch_learner(server):
    app, sm, s3, data = server
    sm.create_hyper_parameter_tuning_job(**epoch_request("e2e-random", data, 4, 2, "Random",
                                                         RandomSeed=7))
    grid = epoch_request("e2e-grid", data, 4, 2, "Grid")
    grid["HyperParameterTuningJobConfig"]["ParameterRanges"] = {"CategoricalParameterRanges": [
        {"Name": "optimizer", "Values": ["sgd", "adam"]},
        {"Name": "learning_rate", "Values": ["0.01", "0.1"]}]}
    del grid["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    sm.create_hyper_parameter_tuning_job(**grid)
    for name in ("e2e-random", "e2e-grid"):
        d = wait_terminal(sm, name)
        assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
        assert_consistent(sm, s3, d, training_jobs(sm, name), "validation:loss")
    jobs = training_jobs(sm, "e2e-grid")
    combos = {(j["HyperParameters"]["optimizer"], j["HyperParameters"]["learning_rate"])
              for j in jobs}
    assert combos == {(o, lr) for o in ("sgd", "adam") for lr in ("0.01", "0.1")}
    assert sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="e2e-grid")[
        "HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 4


def test_hyperband_stops_containers_at_rungs(server, docker_client):
    app, sm, s3, data = server
    req = epoch_request("e2e-hyperband", data, 6, 3, "Hyperband", epochs=9, sleep=0.4)
    req["HyperParameterTuningJobConfig"]["StrategyConfig"] = {
        "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 9}}
    sm.create_hyper_parameter_tuning_job(**req)
    d = wait_terminal(sm, "e2e-hyperband")
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    jobs = training_jobs(sm, "e2e-hyperband")
    assert_consistent(sm, s3, d, jobs, "validation:loss")
    stopped = [j for j in jobs if j["TrainingJobStatus"] == "Stopped"]
    assert stopped, "ASHA stopped no job"
    assert not containers_of(docker_client, "e2e-hyperband")


def test_early_stopping_auto_stops_running_containers(server, docker_client):
    app, sm, s3, data = server
    req = epoch_request("e2e-early", data, 8, 2, "Random", epochs=12, sleep=0.3, RandomSeed=3,
                        TrainingJobEarlyStoppingType="Auto")
    # A wide learning-rate range gives clearly bad jobs that the median rule must stop.
    req["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0].update(
        MinValue="0.000001", MaxValue="0.3")
    sm.create_hyper_parameter_tuning_job(**req)
    d = wait_terminal(sm, "e2e-early", timeout=400)
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    jobs = training_jobs(sm, "e2e-early")
    assert_consistent(sm, s3, d, jobs, "validation:loss")
    early = [j for j in jobs if j["TrainingJobStatus"] == "Stopped"]
    assert early, "the median rule stopped nothing"
    for job in early:  # stopped before its last epoch, objective kept
        assert final_metric(job, "validation:loss") is not None
    assert not containers_of(docker_client, "e2e-early")


def test_stop_mid_run_ends_stopped_with_every_container_gone(server, docker_client):
    app, sm, s3, data = server
    sm.create_hyper_parameter_tuning_job(**epoch_request("e2e-stop", data, 10, 3, "Random",
                                                         epochs=200, sleep=0.2))
    wait_for(lambda: sm.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="e2e-stop")["TrainingJobStatusCounters"]["InProgress"] == 3)
    wait_for(lambda: len(containers_of(docker_client, "e2e-stop")) == 3)
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="e2e-stop")
    assert sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="e2e-stop")[
        "HyperParameterTuningJobStatus"] == "Stopping"
    d = wait_terminal(sm, "e2e-stop")
    assert d["HyperParameterTuningJobStatus"] == "Stopped"
    assert d["TrainingJobStatusCounters"]["Stopped"] == 3
    assert "HyperParameterTuningEndTime" in d
    wait_for(lambda: not containers_of(docker_client, "e2e-stop"), timeout=30)
    for job in training_jobs(sm, "e2e-stop"):  # artifacts of stopped jobs are uploaded
        bucket, key = job["ModelArtifacts"]["S3ModelArtifacts"][5:].split("/", 1)
        s3.head_object(Bucket=bucket, Key=key)


def test_completion_criterion_ends_the_job_early(server):
    app, sm, s3, data = server
    req = gbm_request("e2e-target", data, jobs=12, parallel=2, strategy="Random")
    req["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"] = {
        "TargetObjectiveMetricValue": 0.69}  # any sensible model beats chance logloss
    sm.create_hyper_parameter_tuning_job(**req)
    d = wait_terminal(sm, "e2e-target")
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    jobs = training_jobs(sm, "e2e-target")
    assert len(jobs) < 12
    assert d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] <= 0.69


def _serve(state: str, port: int) -> subprocess.Popen:
    env = dict(os.environ, SMLOCAL_STOP_GRACE_SECONDS="2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.client.cli", "serve", "--port", str(port),
         "--state-dir", state], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    line = proc.stdout.readline()
    assert "serving" in line, line + proc.stdout.read()
    return proc


def test_kill_9_mid_tuning_then_restart_continues_without_loss(tmp_path, docker_client,
                                                               epoch_image, free_port):
    port = free_port()
    proc = _serve(str(tmp_path), port)
    url = f"http://127.0.0.1:{port}"
    sm, s3 = clients(url)
    try:
        data = upload_example_data(s3)
        req = epoch_request("e2e-crash", data, 6, 2, "Bayesian", epochs=8, sleep=0.4)
        sm.create_hyper_parameter_tuning_job(**copy.deepcopy(req))
        wait_for(lambda: sm.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="e2e-crash")["TrainingJobStatusCounters"][
                "InProgress"] == 2)
        wait_for(lambda: len(containers_of(docker_client, "e2e-crash")) == 2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert len(containers_of(docker_client, "e2e-crash")) >= 1  # they outlive the server
        proc = _serve(str(tmp_path), port)
        d = wait_terminal(sm, "e2e-crash", timeout=400)
        assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
        jobs = training_jobs(sm, "e2e-crash")
        assert len(jobs) == 6
        indices = sorted(int(j["TrainingJobName"].split("-")[2]) for j in jobs)
        assert indices == [1, 2, 3, 4, 5, 6]
        assert d["TrainingJobStatusCounters"]["Completed"] == 6
        assert_consistent(sm, s3, d, jobs, "validation:loss")
        assert s3.list_objects_v2(Bucket="smlocal-demo", Prefix="gbm/data/")["KeyCount"] == 2
    finally:
        proc.kill()
        proc.wait(timeout=10)
