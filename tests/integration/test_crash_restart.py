"""`kill -9` of `smlocal serve` mid-run, then a restart, for the cases the basic crash test
(test_tuning_e2e.py) does not cover (issue 15): a tuning job whose early-stopping decisions
span the crash, and a two-instance training job whose containers outlive the server.
Nothing may be lost, launched twice or left behind."""

from __future__ import annotations

import copy
import io
import tarfile
from typing import Any

import pytest

from orchestrator.client.demo import upload_example_data
from orchestrator.server_process import ServerProcess
from tests.integration.e2e import clients, wait_for
from tests.integration.test_tuning_e2e import (
    assert_consistent,
    containers_of,
    epoch_request,
    training_jobs,
    wait_terminal,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def kill_9(server: ServerProcess) -> None:
    server.proc.kill()  # SIGKILL: no clean-up of any kind
    server.proc.wait(timeout=10)
    server.stop()


def restart(server: ServerProcess, state) -> ServerProcess:
    """A new `smlocal serve` on the killed one's state and port (clients keep their URL)."""
    return ServerProcess(state, port=int(server.url.rsplit(":", 1)[1]))


def job_containers(docker_client: Any, job: str) -> list[Any]:
    return docker_client.containers.list(ignore_removed=True, all=True, filters={"label": f"smlocal.job={job}"})


def test_kill_9_during_early_stopping_then_restart(tmp_path, docker_client, epoch_image):
    state = tmp_path / "state"
    server = ServerProcess(state)
    sm, s3 = clients(server.url)
    name = "crash-early"
    try:
        data = upload_example_data(s3)
        req = epoch_request(name, data, 8, 2, "Random", epochs=12, sleep=0.3, RandomSeed=3,
                            TrainingJobEarlyStoppingType="Auto")
        req["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][
            0].update(MinValue="0.000001", MaxValue="0.3")
        sm.create_hyper_parameter_tuning_job(**copy.deepcopy(req))

        def mid_run() -> bool:  # the median rule has history and two jobs are running
            c = sm.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name)["TrainingJobStatusCounters"]
            # InProgress also counts a job still starting (no container yet) or uploading
            # (its container removed): a running container is what must outlive the server
            return c["Completed"] + c["Stopped"] >= 3 and c["InProgress"] == 2 and any(
                x.status == "running" for x in containers_of(docker_client, name))

        wait_for(mid_run, timeout=300, what="3 finished and 2 running jobs, one container up")
        kill_9(server)
        assert containers_of(docker_client, name)  # they outlive the server
        server = restart(server, state)
        d = wait_terminal(sm, name, timeout=400)
        assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
        jobs = training_jobs(sm, name)
        assert sorted(int(j["TrainingJobName"].split("-")[2]) for j in jobs) == list(
            range(1, 9))  # each launch index once: nothing launched twice, nothing lost
        assert_consistent(sm, s3, d, jobs, "validation:loss")
        assert any(j["TrainingJobStatus"] == "Stopped" for j in jobs), "no early stop"
        assert d["TrainingJobStatusCounters"]["NonRetryableError"] == 0
        assert d["TrainingJobStatusCounters"]["RetryableError"] == 0
        wait_for(lambda: not containers_of(docker_client, name), timeout=30)
    finally:
        server.stop()


def test_kill_9_during_a_two_instance_job_then_restart(tmp_path, docker_client,
                                                       smlocal_image):
    state = tmp_path / "state"
    server = ServerProcess(state)
    sm, s3 = clients(server.url)
    name = "crash-multi"
    try:
        s3.create_bucket(Bucket="crash")
        sm.create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={
                "TrainingImage": smlocal_image("probe"), "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}]},
            RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
            OutputDataConfig={"S3OutputPath": "s3://crash/out"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 2,
                            "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 300},
            HyperParameters={"metrics": "loss=0.9,0.5,0.25", "metric_interval": "1",
                             "model_files": "weights.txt", "sleep_seconds": "6"})
        wait_for(lambda: [c.status for c in job_containers(docker_client, name)].count(
            "running") == 2, timeout=120, what="both hosts running")
        kill_9(server)
        assert len(job_containers(docker_client, name)) == 2
        server = restart(server, state)

        def ended() -> dict[str, Any] | None:
            d = sm.describe_training_job(TrainingJobName=name)
            return d if d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") else None

        d = wait_for(ended, timeout=180, what=f"{name} to end")
        assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
        assert {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]} == {"loss": 0.25}
        body = s3.get_object(Bucket="crash", Key=f"out/{name}/output/model.tar.gz")["Body"]
        with tarfile.open(fileobj=io.BytesIO(body.read()), mode="r:gz") as tar:
            assert tar.extractfile("weights.txt").read().startswith(b"weights.txt from algo-")
        statuses = [t["Status"] for t in d["SecondaryStatusTransitions"]]
        assert statuses.count("Training") == 1  # re-adopted, not started again
        # Clean-up follows the reported outcome (runner.lifecycle): containers, then network.
        wait_for(lambda: not job_containers(docker_client, name) and not
                 docker_client.networks.list(filters={"label": f"smlocal.job={name}"}),
                 timeout=30, what="the job's containers and network to be removed")
    finally:
        server.stop()
