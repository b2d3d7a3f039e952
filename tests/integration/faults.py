"""Helpers of the fault-injection tests (issue 15): a real smlocal server in its own process on
the Docker backend (so its memory can be measured and it cannot take the test down), training
jobs whose container runs a Python script given in the request, and Docker leftovers."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path
from typing import Any

import orchestrator.server_process
from tests.integration.e2e import clients, wait_for

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "smlocal/python-base:latest"  # python3 and nothing else: the script is the job
BUCKET = "faults"
TERMINAL = ("Completed", "Failed", "Stopped")
_RUN_SCRIPT = ("import base64, json; exec(base64.b64decode(json.load(open("
               "'/opt/ml/input/config/hyperparameters.json'))['script']))")

class ServerProcess(orchestrator.server_process.ServerProcess):
    """`smlocal serve` in a child process (Docker backend unless SMLOCAL_BACKEND says
    otherwise), with boto3 clients `sm` and `s3` for it."""

    def __init__(self, state_dir: Path, port: int = 0, **env: str) -> None:
        super().__init__(state_dir, port, **env)
        self.sm, self.s3 = clients(self.url)


def script_job(name: str, script: str, *, bucket: str = BUCKET, runtime: int = 300,
               metrics: list[dict[str, str]] | None = None, retries: int = 0,
               hyperparameters: dict[str, str] | None = None) -> dict[str, Any]:
    """CreateTrainingJob request whose container runs `script` (base64 in hyperparameter
    `script`: request strings may not hold newlines)."""
    hyperparameters = {**(hyperparameters or {}),
                       "script": base64.b64encode(script.encode()).decode()}
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE, "TrainingInputMode": "File",
            "ContainerEntrypoint": ["python3", "-c", _RUN_SCRIPT],
            "MetricDefinitions": metrics or []},
        "RoleArn": "arn:aws:iam::123456789012:role/any",
        "HyperParameters": hyperparameters,
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": runtime},
    }
    if retries:
        request["RetryStrategy"] = {"MaximumRetryAttempts": retries}
    return request


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_training(sm: Any, name: str, timeout: float = 120) -> dict[str, Any]:
    """The job's Describe once it is terminal."""
    def done() -> dict[str, Any] | None:
        d = sm.describe_training_job(TrainingJobName=name)
        return d if d["TrainingJobStatus"] in TERMINAL else None

    return wait_for(done, timeout, 0.2, f"training job {name} to end")


def job_containers(docker_client: Any, job: str) -> list[Any]:
    """Containers smlocal made for training job `job` (any state)."""
    return docker_client.containers.list(ignore_removed=True, all=True, filters={"label": f"smlocal.job={job}"})


def running_container(docker_client: Any, job: str, timeout: float = 60) -> Any:
    def find() -> Any:
        found = [c for c in job_containers(docker_client, job) if c.status == "running"]
        return found[0] if found else None

    return wait_for(find, timeout, 0.1, f"a running container of {job}")


def assert_no_leftovers(docker_client: Any, job: str, state_dir: Path,
                        timeout: float = 30) -> None:
    """No container of the job, no host folders of the job under the state dir."""
    deadline = time.monotonic() + timeout
    while True:
        left = (job_containers(docker_client, job),
                (state_dir / "jobs" / job / "hosts").exists())
        if left == ([], False):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{job} left behind: {left}")
        time.sleep(0.1)


def assert_clean_reason(reason: str) -> None:
    """A FailureReason a user can read: no Python traceback, no repr of an exception."""
    assert reason and "Traceback" not in reason and "File \"" not in reason, reason
