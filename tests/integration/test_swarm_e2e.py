"""`smlocal serve --backend swarm` on the two-node lab, through real boto3 (issue 10).

The server listens on the lab address (off loopback, so requests are SigV4-signed with the
operator's key) and containers on both nodes reach its S3 there. Checked from outside: which
node ran each training job (the swarm's tasks, watched while they run), the jobs' artifacts at
their exact S3 keys, and that nothing (service, network, container) is left on either node."""

from __future__ import annotations

import contextlib
import io
import tarfile
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import docker
import pytest

from orchestrator.client.demo import upload_example_data
from orchestrator.server_process import ServerProcess
from tests.integration.e2e import wait_for
from tests.integration.swarm_lab import SwarmLab, swarm_lab  # noqa: F401
from tests.integration.test_tuning_e2e import (
    assert_consistent,
    epoch_request,
    training_jobs,
    wait_terminal,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.swarm]

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


class Placement:
    """Node of every training job's host, read from the swarm's running tasks."""

    def __init__(self, api: docker.APIClient) -> None:
        self.api = api
        self.nodes: dict[str, str] = {}  # "<training job>/<host>" -> node id
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Placement:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=30)

    def _poll(self) -> None:
        while not self._done.wait(0.3):
            with contextlib.suppress(docker.errors.APIError):
                for service in self.api.services(filters={"label": "smlocal.job"}):
                    spec = service["Spec"]
                    job = spec.get("Labels", {}).get("smlocal.job")
                    host = spec["TaskTemplate"]["ContainerSpec"].get("Hostname")
                    for task in self.api.tasks(filters={"service": spec["Name"]}):
                        if task["Status"]["State"] == "running" and job and host:
                            self.nodes[f"{job}/{host}"] = task["NodeID"]


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
        with Placement(lab_api) as placement:
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
        with only_node_two(lab_api), Placement(lab_api) as placement:
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
