"""The controller in-process: real service, training service, reconciler and SQLite store, wired
to the scripted fake backend (`runner.fake`) and a fake clock, ticked by the caller.

Shared by the controller's unit tests and `benchmarks/controller_scale.py` (which measures
smlocal's own bookkeeping without Docker), so neither imports the other. `tuning_request` is a
minimal valid CreateHyperParameterTuningJob request; `quadratic` a training script whose loss
has a known optimum.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.clock import FakeClock
from orchestrator.config import Settings
from orchestrator.controller.service import SageMakerService
from orchestrator.controller.training import TrainingService
from orchestrator.controller.tuning import TuningController
from orchestrator.runner.base import JobSpec
from orchestrator.runner.fake import FakeBackend, FakeScript
from orchestrator.status import tuning_is_terminal
from orchestrator.storage.db import Store

ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-20180101T000000"


def tuning_request(name: str = "tj", strategy: str = "Random", max_jobs: int = 6,
                   parallel: int = 2, **config: Any) -> dict[str, Any]:
    req: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs,
                               "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "lr", "MinValue": "0.0", "MaxValue": "1.0", "ScalingType": "Linear"}],
                "IntegerParameterRanges": [
                    {"Name": "depth", "MinValue": "1", "MaxValue": "9"}],
            },
            **config,
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"epochs": "5"},
            "AlgorithmSpecification": {
                "TrainingImage": "smlocal/probe:latest", "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.eE+-]+)"}]},
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    }
    return req


def quadratic(spec: JobSpec) -> FakeScript:
    """loss = (lr - 0.3)^2 + depth/100, printed once per epoch, converging to it."""
    hp = spec.hyperparameters
    target = (float(hp["lr"]) - 0.3) ** 2 + int(hp["depth"]) / 100
    epochs = int(hp.get("epochs", 3))
    return FakeScript(lines=[f"epoch {e} loss={target + 1.0 / (e + 1):.6f}"
                             for e in range(epochs)] + [f"loss={target:.6f}"])


class Harness:
    def __init__(self, tmp: Path, script: Callable[[JobSpec], FakeScript] = quadratic,
                 clock: FakeClock | None = None, store: Store | None = None,
                 backend: FakeBackend | None = None) -> None:
        self.tmp = tmp
        self.clock = clock or FakeClock()
        self.settings = Settings(state_dir=tmp)
        self.store = store or Store(tmp / "smlocal.db")
        self.backend = backend or FakeBackend(script, self.clock)
        self.training = TrainingService(self.store, self.backend, self.settings, self.clock)
        self.tuner = TuningController(self.store, self.training, self.settings, self.clock)
        self.service = SageMakerService(self.store, self.training, self.tuner, self.settings,
                                        self.clock)
        self.max_live = 0

    def call(self, op: str, request: dict[str, Any]) -> dict[str, Any]:
        return self.service.handle(op, copy.deepcopy(request))

    def describe(self, name: str = "tj") -> dict[str, Any]:
        return self.call("DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": name})

    def tick(self) -> None:
        self.tuner.step()
        self.max_live = max(self.max_live, len(self.backend.live))
        self.backend.step()

    def run(self, name: str = "tj", limit: int = 500,
            until: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """Tick until the tuning job is terminal (or `until` holds); bounded."""
        for _ in range(limit):
            self.tick()
            self.tuner.step()
            d = self.describe(name)
            if until(d) if until else tuning_is_terminal(d["HyperParameterTuningJobStatus"]):
                return d
        raise AssertionError(f"tuning job {name} did not finish in {limit} ticks: {d}")

    def training_jobs(self, name: str = "tj") -> list[dict[str, Any]]:
        return self.store.list_training_jobs(tuning_job=name)
