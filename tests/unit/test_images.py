"""Image resolution (orchestrator.images) and the built-in algorithm table
(orchestrator.builtin_algorithms, orchestrator.aws_image_registries)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from orchestrator import aws_image_registries
from orchestrator.builtin_algorithms import ALGORITHMS, MAXIMIZE, MINIMIZE, runnable_locally
from orchestrator.images import (
    ImageMap,
    ImageResolver,
    MapFile,
    builtin_algorithm,
    framework_stand_in,
    parse_ecr,
    stand_in_images,
)
from orchestrator.metrics.parser import MetricParser
from orchestrator.runner.base import LogLine

XGB_LEGACY = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:latest"  # example 01
XGB_1 = "825641698319.dkr.ecr.us-east-2.amazonaws.com/xgboost:1"  # example 06
XGB_FRAMEWORK = "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.0-1-cpu-py3"
IC = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
PYTORCH = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:1.12-gpu-py38"
OWN = "111122223333.dkr.ecr.us-west-2.amazonaws.com/smlocal/probe:latest"
STAND_IN = "smlocal/xgboost:latest"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SKLEARN_STAND_IN = "smlocal/sklearn-framework:latest"
XGB_FRAMEWORK_STAND_IN = "smlocal/xgboost-framework:latest"
PYTORCH_STAND_IN = "smlocal/pytorch-framework:latest"
TENSORFLOW_STAND_IN = "smlocal/tensorflow-framework:latest"
MXNET = "763104351884.dkr.ecr.us-east-1.amazonaws.com/mxnet-training:1.9.0-cpu-py38"
SCRIPT_MODE = {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": '"s3://b/src.tgz"'}


def resolver(present: set[str] | None = None, mapping: dict[str, str] | None = None
             ) -> ImageResolver:
    present = {STAND_IN} if present is None else present
    image_map = ImageMap(tuple((mapping or {}).items()), "test map")
    return ImageResolver(lambda: image_map, lambda image: image in present)


def sdk_image_uris(family: str, scopes: tuple[str, ...]) -> set[str]:
    """Every image URI of `family` that the SDK's image_uris knows (read from its config file):
    each version in each region; skips without the SDK."""
    spec = importlib.util.find_spec("sagemaker")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the SageMaker Python SDK is not installed (pip install -e '.[sdk]')")
    config = Path(next(iter(spec.submodule_search_locations))) / "image_uri_config"
    data = json.loads((config / f"{family}.json").read_text())
    uris = set()
    for scope in scopes:
        for version, entry in data[scope]["versions"].items():
            for region, account in entry["registries"].items():
                domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
                tag = version if entry["repository"] == "xgboost" else f"{version}-cpu-py3"
                uris.add(f"{account}.dkr.ecr.{region}.{domain}/{entry['repository']}:{tag}")
    return uris


# -- recognising AWS images ------------------------------------------------------------------


@pytest.mark.parametrize("uri", [
    XGB_LEGACY, XGB_1, XGB_FRAMEWORK,
    "390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/xgboost:1",  # China partition
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "257758044811.dkr.ecr.us-east-2.amazonaws.com/sagemaker-xgboost:1.5-1",
])
def test_xgboost_images_of_every_kind_are_builtin_xgboost(uri: str) -> None:
    algorithm = builtin_algorithm(uri)
    assert algorithm is not None and algorithm.name == "xgboost"
    assert algorithm.stand_in == STAND_IN
    assert resolver().resolve(uri).image == STAND_IN


def test_every_xgboost_registry_of_the_sdk_resolves_to_the_stand_in() -> None:
    """All regions and versions that the SDK's image_uris knows (read from its config file)."""
    uris = sdk_image_uris("xgboost", ("training",))
    assert len(uris) > 100
    r = resolver()
    assert {u for u in uris if r.resolve(u).image != STAND_IN} == set()


def test_registry_tables_come_from_the_sdk() -> None:
    assert aws_image_registries.SDK_VERSION
    assert len(aws_image_registries.REGISTRY_ACCOUNTS) > 100
    repos = aws_image_registries.REPOSITORIES
    assert repos["xgboost"] == ("xgboost",) and repos["sagemaker-xgboost"] == ("xgboost",)
    assert "pytorch" in repos["pytorch-training"]
    # Every algorithm of the metric table is an image family the SDK knows.
    families = {f for fs in repos.values() for f in fs}
    assert set(ALGORITHMS) <= families


def test_parse_ecr() -> None:
    own = parse_ecr(OWN)
    assert own is not None
    assert (own.account, own.region, own.repository, own.tag) == (
        "111122223333", "us-west-2", "smlocal/probe", "latest")
    assert own.local_name == "smlocal/probe:latest" and not own.aws_owned
    untagged = parse_ecr("111122223333.dkr.ecr.eu-west-1.amazonaws.com/trainer")
    assert untagged is not None and untagged.local_name == "trainer:latest"
    digest = "sha256:" + "a" * 64
    pinned = parse_ecr(f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/trainer@{digest}")
    assert pinned is not None and pinned.local_name == f"trainer@{digest}"
    for plain in ("smlocal/gbm:latest", "python:3.11", "localhost:5000/x:1", "img"):
        assert parse_ecr(plain) is None


# -- framework stand-ins ---------------------------------------------------------------------


@pytest.mark.parametrize("uri", [
    SKLEARN,
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:0.20.0-cpu-py3",
    "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-scikit-learn:0.23-1-cpu-py3",
    "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-scikit-learn:1.2-1-cpu-py3",
])
@pytest.mark.parametrize("hyperparameters", [SCRIPT_MODE, None, {}])
def test_scikit_learn_images_run_the_sklearn_framework_stand_in(uri, hyperparameters) -> None:
    stand_in = framework_stand_in(uri, hyperparameters)
    assert stand_in is not None and stand_in.image == SKLEARN_STAND_IN
    assert builtin_algorithm(uri, hyperparameters) is None
    result = resolver({SKLEARN_STAND_IN}).resolve(uri, hyperparameters)
    assert (result.image, result.failure) == (SKLEARN_STAND_IN, None)
    assert result.note == (f"TrainingImage {uri} (scikit-learn framework image) runs as its "
                           f"local stand-in {SKLEARN_STAND_IN}")


@pytest.mark.parametrize("uri", [
    XGB_FRAMEWORK,
    "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "257758044811.dkr.ecr.us-east-2.amazonaws.com/sagemaker-xgboost:1.5-1",
])
def test_script_mode_sagemaker_xgboost_is_a_framework_not_the_builtin(uri: str) -> None:
    assert builtin_algorithm(uri, SCRIPT_MODE) is None
    present = {STAND_IN, XGB_FRAMEWORK_STAND_IN}
    result = resolver(present).resolve(uri, SCRIPT_MODE)
    assert result.image == XGB_FRAMEWORK_STAND_IN
    assert result.note == (f"TrainingImage {uri} (XGBoost framework image) runs as its local "
                           f"stand-in {XGB_FRAMEWORK_STAND_IN}")
    # Without script-mode hyperparameters the same image is the built-in algorithm.
    assert resolver(present).resolve(uri, {"sagemaker_program": '"t.py"'}).image \
        == XGB_FRAMEWORK_STAND_IN
    assert resolver(present).resolve(uri, {"num_round": "10"}).image == STAND_IN
    assert resolver(present).resolve(uri).image == STAND_IN
    assert framework_stand_in(uri, {"num_round": "10"}) is None


def test_framework_stand_ins_need_an_aws_registry_and_a_known_repository() -> None:
    own = "111122223333.dkr.ecr.us-west-2.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    assert framework_stand_in(own, SCRIPT_MODE) is None
    assert resolver({SKLEARN_STAND_IN}).resolve(own, SCRIPT_MODE).image is None
    assert framework_stand_in(MXNET, SCRIPT_MODE) is None  # a framework without a stand-in
    assert framework_stand_in("smlocal/sklearn-framework:latest", SCRIPT_MODE) is None
    assert framework_stand_in(XGB_LEGACY, SCRIPT_MODE) is None  # `xgboost`: built-in only


@pytest.mark.parametrize(("uri", "stand_in", "title"), [
    (PYTORCH, PYTORCH_STAND_IN, "PyTorch"),  # example 07
    ("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.3.0-cpu-py311-ubuntu20.04-"
     "sagemaker", PYTORCH_STAND_IN, "PyTorch"),
    ("520713654638.dkr.ecr.us-west-2.amazonaws.com/sagemaker-pytorch:1.5.0-cpu-py3",
     PYTORCH_STAND_IN, "PyTorch"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.13.0-cpu-py310",
     TENSORFLOW_STAND_IN, "TensorFlow"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.11-gpu-py39",
     TENSORFLOW_STAND_IN, "TensorFlow"),
    ("520713654638.dkr.ecr.us-west-2.amazonaws.com/sagemaker-tensorflow-scriptmode:1.12-cpu-py3",
     TENSORFLOW_STAND_IN, "TensorFlow"),
])
def test_pytorch_and_tensorflow_images_run_their_stand_ins(uri, stand_in, title) -> None:
    assert framework_stand_in(uri, SCRIPT_MODE).image == stand_in
    assert builtin_algorithm(uri, SCRIPT_MODE) is None
    result = resolver({stand_in}).resolve(uri, SCRIPT_MODE)
    assert (result.image, result.failure) == (stand_in, None)
    note = f"TrainingImage {uri} ({title} framework image) runs as its local stand-in {stand_in}"
    if "-gpu-" in uri:  # GPU tags run on the CPU build, and the job's log says so
        note += "; WARNING: a GPU image, the stand-in is a CPU build: training runs on CPU"
    assert result.note == note
    assert stand_in in stand_in_images()


def test_framework_inference_and_other_training_images_have_no_stand_in() -> None:
    for repository in ("pytorch-inference", "tensorflow-inference", "pytorch-training-neuron",
                       "huggingface-pytorch-training", "sagemaker-tensorflow"):
        uri = f"763104351884.dkr.ecr.us-east-1.amazonaws.com/{repository}:2.0-cpu-py310"
        assert framework_stand_in(uri, SCRIPT_MODE) is None, repository
        assert resolver(set(stand_in_images())).resolve(uri, SCRIPT_MODE).image is None


def test_every_stand_in_is_a_cpu_stand_in() -> None:
    assert stand_in_images() == {STAND_IN, SKLEARN_STAND_IN, XGB_FRAMEWORK_STAND_IN,
                                 PYTORCH_STAND_IN, TENSORFLOW_STAND_IN}


def sdk_training_repositories(family: str) -> set[tuple[str, str]]:
    """(account, repository) of every training image of `family` in the SDK's config, entries
    nested per Python version (old TensorFlow) included; skips without the SDK."""
    spec = importlib.util.find_spec("sagemaker")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the SageMaker Python SDK is not installed (pip install -e '.[sdk]')")
    config = Path(next(iter(spec.submodule_search_locations))) / "image_uri_config"
    versions = json.loads((config / f"{family}.json").read_text())["training"]["versions"]
    entries = [e for v in versions.values()
               for e in ([v] if "registries" in v else v.values() if isinstance(v, dict) else [])
               if isinstance(e, dict) and "registries" in e]
    return {(account, e["repository"]) for e in entries for account in e["registries"].values()}


@pytest.mark.parametrize(("family", "stand_in"), [("pytorch", PYTORCH_STAND_IN),
                                                  ("tensorflow", TENSORFLOW_STAND_IN)])
def test_every_sdk_training_registry_resolves_to_the_stand_in(family, stand_in) -> None:
    pairs = sdk_training_repositories(family)
    assert len(pairs) > 20
    r = resolver({stand_in})
    wrong = set()
    for account, repository in pairs:
        uri = f"{account}.dkr.ecr.us-east-1.amazonaws.com/{repository}:1.0-gpu-py3"
        if repository == "sagemaker-tensorflow":  # pre-script-mode TensorFlow 1.x: not covered
            assert r.resolve(uri, SCRIPT_MODE).image is None
        elif r.resolve(uri, SCRIPT_MODE).image != stand_in:
            wrong.add(uri)
    assert wrong == set()


def test_framework_stand_in_that_is_not_built_says_how_to_build_it() -> None:
    result = resolver(set()).resolve(SKLEARN, SCRIPT_MODE)
    assert result.image is None
    assert result.failure == (
        f"ClientError: TrainingImage {SKLEARN} is the scikit-learn framework image, which "
        f"smlocal runs with the local image {SKLEARN_STAND_IN}; that image is not built. Build "
        "it with `smlocal images build sklearn-framework`, or map it to a local image in the file named "
        'by SMLOCAL_IMAGE_MAP (JSON: {"<uri, repository:tag or glob>": "<local image>"}).')


def test_the_image_map_wins_over_framework_stand_ins() -> None:
    r = resolver({SKLEARN_STAND_IN}, {"sagemaker-scikit-learn:*": "my/sklearn:{tag}"})
    assert r.resolve(SKLEARN, SCRIPT_MODE).image == "my/sklearn:1.2-1-cpu-py3"


def test_every_sklearn_registry_of_the_sdk_resolves_to_the_stand_in() -> None:
    uris = sdk_image_uris("sklearn", ("training", "inference"))
    assert len(uris) > 50
    r = resolver({SKLEARN_STAND_IN})
    assert {u for u in uris if r.resolve(u, SCRIPT_MODE).image != SKLEARN_STAND_IN} == set()


# -- resolution ------------------------------------------------------------------------------


def test_plain_local_images_run_unchanged_without_looking_them_up() -> None:
    asked: list[str] = []
    r = ImageResolver(image_exists=lambda image: asked.append(image) or False)
    result = r.resolve("smlocal/gbm:latest")
    assert (result.image, result.failure, result.note) == ("smlocal/gbm:latest", None, None)
    assert asked == []


def test_stand_in_that_is_not_built_says_how_to_build_it() -> None:
    result = resolver(present=set()).resolve(XGB_1)
    assert result.image is None
    assert result.failure == (
        f"ClientError: TrainingImage {XGB_1} is the built-in XGBoost algorithm, which smlocal "
        f"runs with the local image {STAND_IN}; that image is not built. Build it with "
        "`smlocal images build xgboost`, or map it to a local image in the file named by "
        'SMLOCAL_IMAGE_MAP (JSON: {"<uri, repository:tag or glob>": "<local image>"}).')


def test_builtin_without_stand_in_fails_as_a_local_limitation() -> None:
    result = resolver().resolve(IC)
    assert result.image is None and result.failure is not None
    assert result.failure.startswith(
        f"ClientError: TrainingImage {IC} is the built-in Image Classification (MXNet) algorithm, "
        "which has no local stand-in in smlocal (a local limitation; built-in algorithms that "
        "run locally: xgboost).")


def test_framework_images_fail_saying_what_to_build_or_map() -> None:
    result = resolver().resolve(MXNET, {"sagemaker_program": '"train.py"'})
    assert result.image is None and result.failure is not None
    assert "ClientError: " in result.failure and "(mxnet)" in result.failure
    assert "pip install sagemaker-training" in result.failure
    assert "SMLOCAL_IMAGE_MAP" in result.failure


def test_an_aws_image_present_locally_runs_as_it_is() -> None:
    """Someone who pulled the real image (or tagged one with its URI) runs that image."""
    result = resolver(present={PYTORCH, STAND_IN}).resolve(PYTORCH)
    assert (result.image, result.note) == (PYTORCH, None)
    assert resolver(present={XGB_1, STAND_IN}).resolve(XGB_1).image == XGB_1


def test_own_ecr_uri_runs_the_same_named_local_image() -> None:
    result = resolver(present={"smlocal/probe:latest"}).resolve(OWN)
    assert result.image == "smlocal/probe:latest"
    assert result.note == f"TrainingImage {OWN} runs as the local image smlocal/probe:latest"
    missing = resolver(present=set()).resolve(OWN)
    assert missing.image is None
    assert missing.failure is not None and missing.failure.startswith(
        f"ClientError: TrainingImage {OWN} is in Amazon ECR, which smlocal does not pull from; "
        "it runs the same-named local image smlocal/probe:latest instead, and there is no such "
        "image here. Build or tag it (docker tag <your image> smlocal/probe:latest)")


def test_the_image_map_comes_first_and_matches_uri_repository_tag_and_globs() -> None:
    mapping = {
        "*.dkr.ecr.*.amazonaws.com/pytorch-training:*": "my/pytorch:{tag}",
        "image-classification": "my/ic:latest",
        "xgboost:1": "my/xgb:1",
        OWN: "probe:dev",
        "trainer:*": "{repository}:local",
    }
    r = resolver(present=set(), mapping=mapping)
    assert r.resolve(PYTORCH).image == "my/pytorch:1.12-gpu-py38"
    assert r.resolve(IC).image == "my/ic:latest"
    assert r.resolve(XGB_1).image == "my/xgb:1"  # the map wins over the stand-in
    assert r.resolve(XGB_LEGACY).failure is not None  # xgboost:latest is not mapped
    assert r.resolve(OWN).image == "probe:dev"
    assert r.resolve("trainer:v2").image == "trainer:local"  # plain names can be mapped too
    assert r.resolve(IC).note == f"TrainingImage {IC} runs as the local image my/ic:latest " \
                                 "(image map)"
    assert r.mapped(IC) == "my/ic:latest" and r.mapped(XGB_LEGACY) is None


def test_image_map_files_json_yaml_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "images.json"
    path.write_text(json.dumps({"images": {"knn": "my/knn:1"}}))
    source = MapFile(path)
    r = ImageResolver(source.current, lambda image: False)
    assert r.resolve("174872318107.dkr.ecr.us-west-2.amazonaws.com/knn:1").image == "my/knn:1"
    path.write_text("knn: my/knn:2\nkmeans: my/kmeans:1\n")  # YAML, picked up without restart
    assert r.resolve("174872318107.dkr.ecr.us-west-2.amazonaws.com/knn:1").image == "my/knn:2"
    path.write_text('["not", "a", "map"]')
    broken = r.resolve("174872318107.dkr.ecr.us-west-2.amazonaws.com/knn:1")
    assert broken.image is None and broken.failure is not None
    assert broken.failure.startswith(f"ClientError: the image map is invalid: {path}: expected "
                                     'an object of "pattern": "local image" strings')
    assert r.mapped("anything") is None
    gone = ImageResolver.from_path(tmp_path / "missing.json")
    assert "cannot read the image map" in (gone.resolve(OWN).failure or "")
    assert ImageResolver.from_path(None).resolve("img").image == "img"


# -- the built-in metric table ---------------------------------------------------------------


def test_every_algorithm_has_a_doc_and_valid_metrics() -> None:
    assert runnable_locally() == ["xgboost"]
    for algorithm in ALGORITHMS.values():
        assert algorithm.doc.startswith("https://docs.aws.amazon.com/sagemaker/latest/dg/")
        names = algorithm.metric_names
        assert len(names) == len(set(names)), algorithm.name
        for metric in algorithm.metrics:
            assert metric.direction in (MAXIMIZE, MINIMIZE)
            assert re.compile(metric.regex).groups >= 1, metric


@pytest.mark.parametrize(("algorithm", "metric", "direction"), [
    ("xgboost", "validation:auc", MAXIMIZE), ("xgboost", "validation:rmse", MINIMIZE),
    ("xgboost", "validation:logloss", MINIMIZE), ("xgboost", "validation:f1", MAXIMIZE),
    ("linear-learner", "test:binary_f_beta", MAXIMIZE),
    ("linear-learner", "validation:objective_loss", MINIMIZE),
    ("kmeans", "test:msd", MINIMIZE), ("knn", "test:accuracy", MAXIMIZE),
    ("knn", "test:mse", MINIMIZE), ("factorization-machines", "test:rmse", MINIMIZE),
    ("image-classification", "validation:accuracy", MAXIMIZE),
    ("object-detection", "validation:mAP", MAXIMIZE),
    ("forecasting-deepar", "test:mean_wQuantileLoss", MINIMIZE),
    ("ipinsights", "validation:discriminator_auc", MAXIMIZE),
    ("object2vec", "validation:cross_entropy", MINIMIZE),
    ("seq2seq", "validation:bleu", MAXIMIZE), ("randomcutforest", "test:f1", MAXIMIZE),
])
def test_documented_objective_metrics(algorithm: str, metric: str, direction: str) -> None:
    found = ALGORITHMS[algorithm].metric(metric)
    assert found is not None and found.direction == direction


def test_xgboost_regexes_parse_the_builtin_log_format() -> None:
    """One line per round, tab shown as #011 (as CloudWatch shows the built-in's output)."""
    parser = MetricParser(ALGORITHMS["xgboost"].metric_definitions())
    line = LogLine(1.0, "stdout", "algo-1", "[7]#011train-auc:0.91429#011validation-auc:0.80998")
    values = {s.name: s.value for s in parser.parse(line)}
    assert values == {"train:auc": 0.91429, "validation:auc": 0.80998}
    line = LogLine(2.0, "stdout", "algo-1", "[3]#011train-rmse:1.5e-02#011validation-rmse:0.25")
    assert {s.name: s.value for s in parser.parse(line)} == {
        "train:rmse": 0.015, "validation:rmse": 0.25}


def test_linear_learner_regexes_are_the_observed_ones() -> None:
    """Spec §11 E-obs-1: the regexes the service injected into a real linear-learner job."""
    ll = ALGORITHMS["linear-learner"]
    assert ll.metric("test:binary_f_beta").regex == (  # type: ignore[union-attr]
        r"#quality_metric: host=\S+, test binary_f_\S+ <score>=(\S+)")
    assert ll.metric("validation:objective_loss").regex == (  # type: ignore[union-attr]
        r"#quality_metric: host=\S+, validation \S+_objective <loss>=(\S+)")
    assert ll.metric("test:mse").regex == (  # type: ignore[union-attr]
        r"#quality_metric: host=\S+, test mse <loss>=(\S+)")
