"""`smlocal serve --backend swarm` on the two-node lab, through real boto3 (issue 10).

The server listens on the lab address (off loopback, so requests are SigV4-signed with the
operator's key) and containers on both nodes reach its S3 there. Checked from outside: which
node ran each training job (the swarm's tasks, watched while they run), the jobs' artifacts at
their exact S3 keys, and that nothing (service, network, container) is left on either node."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest

from orchestrator.client.demo import upload_example_data
from orchestrator.server_process import ServerProcess
from tests.integration.e2e import wait_for
from tests.integration.runner_fixtures import NodeWatch
from tests.integration.swarm_lab import SwarmLab, swarm_lab  # noqa: F401
from tests.integration.test_tuning_e2e import (
    assert_consistent,
    epoch_request,
    training_jobs,
    wait_terminal,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.swarm]

LAB_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "swarm-lab.sh"
KEY, SECRET = "AKIASWARMLABTEST0001", "swarm-lab-secret-key-for-tests-only"
TERMINAL = ("Completed", "Failed", "Stopped")


def start_server(lab: SwarmLab, state, port: int = 0) -> ServerProcess:
    return ServerProcess(
        state, port=port, host=lab.address, SMLOCAL_BACKEND="swarm",
        SMLOCAL_SWARM_REGISTRY=lab.registry, SMLOCAL_SWARM_ADDRESS=lab.address,
        SMLOCAL_SWARM_NODE_ENGINES=f"10.200.0.2={lab.node2}",
        SMLOCAL_ACCESS_KEY_ID=KEY, SMLOCAL_SECRET_ACCESS_KEY=SECRET)


def signed_clients(url: str) -> tuple[Any, Any]:
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id=KEY,
              aws_secret_access_key=SECRET)
    return boto3.client("sagemaker", **kw), boto3.client("s3", **kw)


@pytest.fixture
def lab_api(swarm_lab) -> Iterator[docker.APIClient]:  # noqa: F811
    api = docker.APIClient()
    yield api
    api.close()


def manager_node(api: docker.APIClient) -> str:
    return api.info()["Swarm"]["NodeID"]


@contextlib.contextmanager
def only_node_two(api: docker.APIClient) -> Iterator[None]:
    """Drain the manager's node so every new task is placed on node 2."""
    node = manager_node(api)

    def set_availability(value: str) -> None:
        spec = api.inspect_node(node)
        api.update_node(node, spec["Version"]["Index"], {**spec["Spec"], "Availability": value})

    set_availability("drain")
    try:
        yield
    finally:
        set_availability("active")


def assert_nothing_left(api: docker.APIClient, lab: SwarmLab, label: str) -> None:
    """No service, network or container with `label` (this test's jobs) on either node."""
    def clean() -> bool:
        return not api.services(filters={"label": label}) and not api.networks(
            filters={"label": label})

    wait_for(clean, timeout=120, what=f"no service or network with {label} left in the swarm")
    for url in ("unix:///var/run/docker.sock", lab.node2):
        with docker.APIClient(base_url=url) as node:
            wait_for(lambda node=node: not node.containers(
                all=True, filters={"label": label}), timeout=120,
                what=f"no container with {label} left on {url}")


def test_bayesian_tuning_job_runs_on_both_nodes(tmp_path, swarm_lab, lab_api,  # noqa: F811
                                                epoch_image) -> None:
    server = start_server(swarm_lab, tmp_path / "state")
    sm, s3 = signed_clients(server.url)
    name = "swarm-bayes"
    try:
        data = upload_example_data(s3)
        req = epoch_request(name, data, 8, 4, "Bayesian", epochs=4, sleep=1.0)
        with NodeWatch(lab_api, "smlocal.job") as placement:
            sm.create_hyper_parameter_tuning_job(**req)
            d = wait_terminal(sm, name, timeout=900)
        assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
        jobs = training_jobs(sm, name)
        assert d["TrainingJobStatusCounters"]["Completed"] == 8
        assert_consistent(sm, s3, d, jobs, "validation:loss")  # artifacts at their keys
        ran = {key.split("/")[0] for key in placement.nodes}
        assert ran == {j["TrainingJobName"] for j in jobs}, placement.nodes
        assert len(set(placement.nodes.values())) == 2, placement.nodes  # both nodes
        assert_nothing_left(lab_api, swarm_lab, f"smlocal.tuning-job={name}")
    finally:
        server.stop()


def probe_job(sm: Any, name: str, image: str, **overrides: Any) -> None:
    sm.create_training_job(**{
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "loss",
                                                          "Regex": r"loss=([0-9.]+)"}]},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": "s3://swarm-e2e/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
        "HyperParameters": {"metrics": "loss=0.9,0.5", "metric_interval": "0.5",
                            "model_files": "weights.txt", "sleep_seconds": "120"},
        **overrides})


def ended(sm: Any, name: str) -> Any:
    d = sm.describe_training_job(TrainingJobName=name)
    return d if d["TrainingJobStatus"] in TERMINAL else None


def model_members(s3: Any, name: str) -> set[str]:
    body = s3.get_object(Bucket="swarm-e2e", Key=f"out/{name}/output/model.tar.gz")["Body"]
    with tarfile.open(fileobj=io.BytesIO(body.read()), mode="r:gz") as tar:
        return set(tar.getnames())


def test_stop_and_max_runtime_on_node_two_then_kill_9(tmp_path, swarm_lab, lab_api,  # noqa: F811
                                                      smlocal_image) -> None:
    state = tmp_path / "state"
    server = start_server(swarm_lab, state)
    sm, s3 = signed_clients(server.url)
    image = smlocal_image("probe")
    manager = manager_node(lab_api)
    try:
        s3.create_bucket(Bucket="swarm-e2e")
        with only_node_two(lab_api), NodeWatch(lab_api, "smlocal.job") as placement:
            probe_job(sm, "swarm-stop", image)
            probe_job(sm, "swarm-maxrt", image, StoppingCondition={"MaxRuntimeInSeconds": 3})
            wait_for(lambda: sm.describe_training_job(TrainingJobName="swarm-stop")[
                "SecondaryStatus"] == "Training" and "swarm-stop/algo-1" in placement.nodes,
                timeout=300, what="swarm-stop running")
            sm.stop_training_job(TrainingJobName="swarm-stop")
            stopped = wait_for(lambda: ended(sm, "swarm-stop"), timeout=180, what="stopped")
            maxrt = wait_for(lambda: ended(sm, "swarm-maxrt"), timeout=300, what="max runtime")
        assert placement.nodes["swarm-stop/algo-1"] != manager
        assert placement.nodes["swarm-maxrt/algo-1"] != manager
        assert (stopped["TrainingJobStatus"], stopped["SecondaryStatus"]) == ("Stopped",
                                                                              "Stopped")
        assert (maxrt["TrainingJobStatus"], maxrt["SecondaryStatus"]) == (
            "Stopped", "MaxRuntimeExceeded")
        for name in ("swarm-stop", "swarm-maxrt"):  # the probe saves its model on SIGTERM
            assert model_members(s3, name) == {"weights.txt", "sigterm.txt"}

        # kill -9 of the server while a job runs on the swarm: re-adopted, finished once.
        probe_job(sm, "swarm-crash", image, HyperParameters={
            "metrics": "loss=0.9,0.5,0.25", "metric_interval": "1",
            "model_files": "weights.txt", "sleep_seconds": "8"})
        wait_for(lambda: sm.describe_training_job(TrainingJobName="swarm-crash")[
            "SecondaryStatus"] == "Training", timeout=300, what="swarm-crash training")
        port = int(server.url.rsplit(":", 1)[1])
        server.proc.kill()
        server.proc.wait(timeout=10)
        server.stop()
        assert lab_api.services(filters={"label": "smlocal.job=swarm-crash"})  # outlives us
        server = start_server(swarm_lab, state, port=port)
        d = wait_for(lambda: ended(sm, "swarm-crash"), timeout=300, what="swarm-crash ends")
        assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
        assert {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]} == {"loss": 0.25}
        assert [t["Status"] for t in d["SecondaryStatusTransitions"]].count("Training") == 1
        assert model_members(s3, "swarm-crash") == {"weights.txt"}
        for name in ("swarm-stop", "swarm-maxrt", "swarm-crash"):
            assert_nothing_left(lab_api, swarm_lab, f"smlocal.job={name}")
    finally:
        server.stop()


def job_log(url: str, name: str) -> str:
    logs = boto3.client("logs", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    group = "/aws/sagemaker/TrainingJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")
    return "\n".join(e["message"] for st in streams["logStreams"] for e in logs.get_log_events(
        logGroupName=group, logStreamName=st["logStreamName"], startFromHead=True)["events"])


def test_losing_node_two_mid_job_is_retried_on_node_one(tmp_path, swarm_lab,  # noqa: F811
                                                        lab_api, smlocal_image) -> None:
    """kill -9 of node 2's engine while a job runs there: the node goes down, the job's try
    is an internal error, and RetryStrategy runs it again on node 1. Last in this file: node 2
    is brought back by `swarm-lab.sh up` afterwards."""
    server = start_server(swarm_lab, tmp_path / "state")
    sm, s3 = signed_clients(server.url)
    image = smlocal_image("probe")
    manager = manager_node(lab_api)
    try:
        s3.create_bucket(Bucket="swarm-e2e")
        with NodeWatch(lab_api, "smlocal.job") as placement:
            with only_node_two(lab_api):
                probe_job(sm, "swarm-lost", image, RetryStrategy={"MaximumRetryAttempts": 1},
                          HyperParameters={"metrics": "loss=0.5", "model_files": "w.txt",
                                           "sleep_seconds": "15"})
                wait_for(lambda: "swarm-lost/algo-1" in placement.nodes, timeout=300,
                         what="swarm-lost running on node 2")
            pid = int(Path("/run/smlocal-lab/node2.pid").read_text())
            os.kill(pid, signal.SIGKILL)  # node 2 is lost; node 1 takes tasks again
            d = wait_for(lambda: ended(sm, "swarm-lost"), timeout=600, what="swarm-lost ends")
        assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
        node2 = next(node for node in (n["ID"] for n in lab_api.nodes()) if node != manager)
        assert placement.seen >= {("swarm-lost/algo-1", node2), ("swarm-lost/algo-1", manager)}
        assert placement.nodes["swarm-lost/algo-1"] == manager
        assert model_members(s3, "swarm-lost") == {"w.txt"}
        assert "internal error, retrying (retry 1): node" in job_log(server.url, "swarm-lost")
    finally:
        server.stop()
        subprocess.run(["bash", str(LAB_SCRIPT), "up"], check=True, capture_output=True,
                       timeout=600)
