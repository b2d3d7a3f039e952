"""`SmLocal.CreateFixedPointsTuningJob` in the controller: the points run in order, each once,
also across a restart; Describe shows a SageMaker strategy; bad requests are refused whole."""

from __future__ import annotations

import pytest

from orchestrator.controller.ext_replay import create_fixed_points_tuning_job
from orchestrator.controller.extensions import Context
from orchestrator.controller.harness import Harness, tuning_request
from orchestrator.errors import ValidationError
from orchestrator.runner.fake import FakeScript
from orchestrator.storage.db import Store

POINTS = [{"lr": "0.1", "depth": "3"}, {"lr": "0.9", "depth": "1"}, {"lr": "0.1", "depth": "3"},
          {"lr": "0.3", "depth": "9"}, {"lr": "0.5", "depth": "5"}]


def create(h: Harness, request: dict) -> dict:
    ctx = Context(h.store, h.training, h.tuner, h.settings, h.clock)
    return create_fixed_points_tuning_job(ctx, request)


def tuned(job: dict) -> dict:
    return {k: job["HyperParameters"][k] for k in ("lr", "depth")}


def test_points_run_in_order_across_a_restart(tmp_path):
    h = Harness(tmp_path, lambda spec: FakeScript(lines=["loss=2"] * 3 + ["loss=1"]))
    req = tuning_request(strategy="Bayesian", max_jobs=50, parallel=2,
                         TrainingJobEarlyStoppingType="Auto")
    create(h, {"TuningJob": req, "Points": POINTS})
    for _ in range(3):
        h.tick()
    assert 2 <= len(h.training_jobs()) < 5
    h.store.close()  # "kill -9": only the SQLite file and the running "containers" remain
    h2 = Harness(tmp_path, clock=h.clock, store=Store(tmp_path / "smlocal.db"), backend=h.backend)
    h2.training.recover()
    d = h2.run()
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    config = d["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random" and config["TrainingJobEarlyStoppingType"] == "Off"
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 2}
    jobs = sorted(h2.training_jobs(), key=lambda j: j["_LaunchIndex"])
    assert [tuned(j) for j in jobs] == POINTS  # duplicates kept, order kept
    assert {"Key": "smlocal:strategy", "Value": "FixedPoints"} in h2.store.list_tags(
        d["HyperParameterTuningJobArn"])


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(TrainingJobDefinitions=[r.pop("TrainingJobDefinition")]),
     "one TrainingJobDefinition"),
    (lambda r: r.update(WarmStartConfig={"WarmStartType": "IdenticalDataAndAlgorithm",
                                         "ParentHyperParameterTuningJobs": [
                                             {"HyperParameterTuningJobName": "p"}]}),
     "cannot be warm-started"),
])
def test_refused_requests_store_nothing(tmp_path, change, message):
    h = Harness(tmp_path)
    req = tuning_request()
    change(req)
    with pytest.raises(ValidationError, match=message):
        create(h, {"TuningJob": req, "Points": POINTS})
    assert h.store.get_tuning_job("tj") is None


def test_points_outside_the_ranges_store_nothing(tmp_path):
    h = Harness(tmp_path)
    with pytest.raises(ValidationError, match=r"Points\[1\]: depth='10' is not an integer"):
        create(h, {"TuningJob": tuning_request(), "Points": [POINTS[0],
                                                             {"lr": "0.1", "depth": "10"}]})
    assert h.store.get_tuning_job("tj") is None
