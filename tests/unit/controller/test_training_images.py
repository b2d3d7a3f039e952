"""TrainingService with AWS image URIs: the local image that runs, the image Describe echoes,
built-in metrics without MetricDefinitions, and jobs whose image cannot be resolved."""

from __future__ import annotations

import copy

import pytest

from orchestrator.client.logs import render
from orchestrator.clock import FakeClock
from orchestrator.config import Settings
from orchestrator.controller.training import TrainingService
from orchestrator.images import ImageMap, ImageResolver
from orchestrator.runner.fake import FakeBackend, FakeScript
from orchestrator.storage.joblogs import read_events

# test_training's `env` fixture, as `training_env`.
from tests.unit.controller.test_training import env as training_env  # noqa: F401
from tests.unit.controller.test_training import request, run_out

XGB = "825641698319.dkr.ecr.us-east-2.amazonaws.com/xgboost:1"
IC = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
OWN = "111122223333.dkr.ecr.us-west-2.amazonaws.com/smlocal/probe:latest"
PRESENT = {"smlocal/xgboost:latest", "smlocal/probe:latest"}


def builtin_request(name: str, image: str = XGB) -> dict:
    req = request(name, HyperParameters={"num_round": "3", "eval_metric": "auc",
                                         "_tuning_objective_metric": "validation:auc"})
    req["AlgorithmSpecification"] = {"TrainingImage": image, "TrainingInputMode": "File"}
    return req


@pytest.fixture
def images_env(training_env):  # noqa: F811 (the imported fixture)
    """test_training's service, resolving images with a map and a fixed set of local images."""
    svc, backend, scripts, _clock = training_env
    svc.images = ImageResolver(lambda: ImageMap((("knn", "my/knn:1"),)),
                               lambda image: image in PRESENT)
    return svc, backend, scripts


def test_builtin_xgboost_runs_its_stand_in_and_parses_builtin_metrics(images_env) -> None:
    svc, backend, scripts = images_env
    scripts["xgb-1"] = FakeScript(lines=[
        "[0]#011train-auc:0.80#011validation-auc:0.70",
        "[1]#011train-auc:0.90#011validation-auc:0.75"])
    svc.create(builtin_request("xgb-1"))
    spec = backend.launched[0]
    assert spec.image == "smlocal/xgboost:latest"
    assert "validation:auc" in [d["Name"] for d in spec.metric_definitions]
    run_out(backend)
    d = svc.describe("xgb-1")
    assert d["TrainingJobStatus"] == "Completed"
    assert d["AlgorithmSpecification"]["TrainingImage"] == XGB  # echoed unchanged
    assert "MetricDefinitions" not in d["AlgorithmSpecification"]
    final = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert final == {"train:auc": 0.90, "validation:auc": 0.75}
    events, _ = read_events(svc.logs_dir, "xgb-1")
    log = "\n".join(render(e) for e in events)
    assert f"[smlocal] TrainingImage {XGB} (built-in XGBoost algorithm) runs as its local " \
           "stand-in smlocal/xgboost:latest" in log


def test_own_ecr_uri_runs_the_same_named_local_image(images_env) -> None:
    svc, backend, _ = images_env
    req = request("own-1")
    req["AlgorithmSpecification"]["TrainingImage"] = OWN
    svc.create(req)
    assert backend.launched[0].image == "smlocal/probe:latest"
    run_out(backend)
    d = svc.describe("own-1")
    assert d["TrainingJobStatus"] == "Completed"
    assert d["AlgorithmSpecification"]["TrainingImage"] == OWN


@pytest.mark.parametrize(("image", "expected"), [
    (IC, "is the built-in Image Classification (MXNet) algorithm, which has no local stand-in"),
    ("111122223333.dkr.ecr.us-west-2.amazonaws.com/not/built:1",
     "runs the same-named local image not/built:1 instead, and there is no such image here"),
])
def test_unresolvable_image_fails_the_job_with_a_client_error(images_env, image, expected) -> None:
    svc, backend, _ = images_env
    svc.create(builtin_request("bad-1", image))
    assert backend.launched == []  # nothing reached the engine
    d = svc.describe("bad-1")
    assert d["TrainingJobStatus"] == "Failed" and d["SecondaryStatus"] == "Failed"
    assert d["FailureReason"].startswith(f"ClientError: TrainingImage {image} ")
    assert expected in d["FailureReason"]
    assert d["_FailureKind"] == "algorithm"  # NonRetryableError, as SageMaker counts it


def test_the_image_map_runs_a_builtin_without_stand_in(images_env) -> None:
    svc, backend, _ = images_env
    knn = "174872318107.dkr.ecr.us-west-2.amazonaws.com/knn:1"
    req = builtin_request("knn-1", knn)
    svc.create(req)
    spec = backend.launched[0]
    assert spec.image == "my/knn:1"
    assert [d["Name"] for d in spec.metric_definitions] == ["test:accuracy", "test:mse"]


def test_plain_local_images_are_untouched(images_env) -> None:
    svc, backend, _ = images_env
    svc.create(request("plain-1"))
    spec = backend.launched[0]
    assert spec.image == "img"
    assert [d["Name"] for d in spec.metric_definitions] == ["loss", "acc"]
    assert "_LocalImage" in svc.describe("plain-1")  # internal, dropped by the API layer


def test_recovery_runs_the_image_chosen_at_create_time(images_env, tmp_path) -> None:
    svc, backend, _ = images_env
    svc.create(builtin_request("xgb-2"))
    later = FakeBackend(lambda spec: FakeScript(), FakeClock())
    # After a restart the stand-in is gone from the engine: the job keeps its image.
    images = ImageResolver(image_exists=lambda image: False)
    restarted = TrainingService(svc.store, later, Settings(state_dir=tmp_path), FakeClock(),
                                images)
    assert restarted.recover() == ["xgb-2"]
    assert [s.image for s in later.launched] == ["smlocal/xgboost:latest"]


def test_user_metric_definitions_come_first_for_builtins(images_env) -> None:
    svc, backend, _ = images_env
    req = builtin_request("xgb-3")
    req["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "validation:auc", "Regex": r"auc=(\S+)"}]
    svc.create(copy.deepcopy(req))
    defs = backend.launched[0].metric_definitions
    assert defs[0] == {"Name": "validation:auc", "Regex": r"auc=(\S+)"}
    assert sum(d["Name"] == "validation:auc" for d in defs) == 1
