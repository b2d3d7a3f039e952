"""The built-in XGBoost stand-in image (containers/xgboost) honours the documented algorithm
contract: hyperparameters, text/csv and text/libsvm channels, one metric line per round in the
built-in's log format (read here with the MetricDefinitions regexes AWS uses for built-in
XGBoost jobs), early stopping, failure files, SIGTERM, and a model file `xgboost-model` that
PyPI's xgboost loads.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import OptMl, run_container, start_container

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    # `xgboost-model` has no extension, as the built-in's; XGBoost says it guesses the format.
    pytest.mark.filterwarnings("ignore:.*Unknown file format"),
]

# The shape of every MetricDefinitions regex of built-in XGBoost jobs (DescribeTrainingJob's
# AlgorithmSpecification), e.g. validation:auc; see containers/xgboost/train.py for the sources.
AWS_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
ROUND = re.compile(r"^\[(\d+)\]#011")


def aws_regex(metric_name: str) -> str:
    channel, metric = metric_name.split(":", 1)
    return rf".*\[[0-9]+\].*#011{channel}-{metric}:{AWS_NUMBER}.*"


def metric_values(logs: str, metric_name: str) -> list[float]:
    """Every observation of a metric, as the platform reads them (re.search per line)."""
    pattern = re.compile(aws_regex(metric_name))
    return [float(m.group(1)) for line in logs.splitlines() if (m := pattern.search(line))]


def rounds(logs: str) -> list[int]:
    return [int(m.group(1)) for line in logs.splitlines() if (m := ROUND.match(line))]


@pytest.fixture(scope="session")
def xgboost_image(smlocal_image) -> str:
    return smlocal_image("xgboost")


# --- small generated data sets ---------------------------------------------------------------


def binary_data(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Label first: a noisy logistic function of 6 features."""
    x = rng.normal(size=(rows, 6))
    logit = 2.0 * x[:, 0] - 1.5 * x[:, 1] + x[:, 2] * x[:, 3]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(float)
    return np.column_stack([y, x])


def write_csv(path: Path, data: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, data, delimiter=",", fmt="%.6g")
    return path


def write_libsvm(path: Path, data: np.ndarray) -> Path:
    """Label first, then zero-based index:value pairs of the non-zero features."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for row in data:
        pairs = " ".join(f"{i}:{v:.6g}" for i, v in enumerate(row[1:]) if v != 0)
        lines.append(f"{row[0]:.6g} {pairs}")
    path.write_text("\n".join(lines) + "\n")
    return path


def set_content_type(layout: OptMl, content_type: str) -> None:
    path = layout.root / "input" / "config" / "inputdataconfig.json"
    config = json.loads(path.read_text())
    for channel in config.values():
        channel["ContentType"] = content_type
    path.write_text(json.dumps(config))


@pytest.fixture
def binary_channels(tmp_path) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    return {
        "train": write_csv(tmp_path / "data" / "train.csv", binary_data(rng, 800)),
        "validation": write_csv(tmp_path / "data" / "validation.csv", binary_data(rng, 300)),
    }


def load_model(layout: OptMl):
    xgb = pytest.importorskip("xgboost")
    path = layout.root / "model" / "xgboost-model"
    assert path.is_file(), sorted(p.name for p in (layout.root / "model").iterdir())
    booster = xgb.Booster()
    booster.load_model(str(path))
    return xgb, booster


# --- tests -----------------------------------------------------------------------------------


def test_binary_csv_reports_auc_and_logloss_and_saves_a_loadable_model(
    docker_client, xgboost_image, opt_ml_factory, binary_channels
) -> None:
    layout = opt_ml_factory()
    layout.configure(
        {
            "num_round": "30",
            "objective": '"binary:logistic"',  # JSON-encoded, as the SageMaker Python SDK sends
            "eval_metric": "auc,logloss",
            "eta": "0.2",
            "max_depth": "3",
            "subsample": "0.9",
            "_tuning_objective_metric": "validation:auc",
        },
        binary_channels,
    )
    # All files of a channel are read, also in sub-folders: split train in two.
    train_dir = layout.root / "input" / "data" / "train"
    data = np.loadtxt(train_dir / "train.csv", delimiter=",")
    (train_dir / "train.csv").unlink()
    write_csv(train_dir / "part-1.csv", data[:500])
    write_csv(train_dir / "more" / "part-2.csv", data[500:])
    set_content_type(layout, "csv")  # the short form the AWS examples use

    result = run_container(docker_client, xgboost_image, layout)
    assert result.exit_code == 0, result.logs
    assert layout.failure is None
    assert "channel train: csv, 2 file(s), 800 rows, 6 features" in result.logs

    assert rounds(result.logs) == list(range(30))
    auc = metric_values(result.logs, "validation:auc")
    logloss = metric_values(result.logs, "validation:logloss")
    train_logloss = metric_values(result.logs, "train:logloss")
    assert len(auc) == len(logloss) == len(train_logloss) == 30
    assert logloss[-1] < logloss[0] < 0.693  # below a coin flip, then lower
    assert train_logloss[-1] < train_logloss[0]
    assert 0.8 < auc[-1] <= 1.0
    # The documentation's example regex for train:auc-style metrics needs train right after
    # the round: `[N]#011train-...`.
    first = next(line for line in result.logs.splitlines() if line.startswith("[0]"))
    assert re.match(r"\[0\]#011train-auc:[0-9.]+#011train-logloss:[0-9.]+#011validation-", first)

    # The model predicts as well as the last logged values say.
    xgb, booster = load_model(layout)
    assert booster.num_boosted_rounds() == 30
    validation = np.loadtxt(binary_channels["validation"], delimiter=",")
    p = booster.predict(xgb.DMatrix(validation[:, 1:]))
    y = validation[:, 0]
    eps = 1e-7
    host_logloss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
    assert host_logloss == pytest.approx(logloss[-1], abs=2e-4)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, p) == pytest.approx(auc[-1], abs=2e-4)


def test_regression_libsvm_reports_rmse(docker_client, xgboost_image, opt_ml_factory, tmp_path):
    rng = np.random.default_rng(11)

    def make(rows: int) -> np.ndarray:
        x = rng.normal(size=(rows, 8)) * (rng.random((rows, 8)) < 0.6)  # sparse features
        y = 3.0 * x[:, 0] + np.sin(2 * x[:, 1]) + 0.1 * rng.normal(size=rows)
        return np.column_stack([y, x])

    train, validation = make(600), make(200)
    channels = {
        "train": write_libsvm(tmp_path / "train.libsvm", train),
        "validation": write_libsvm(tmp_path / "validation.libsvm", validation),
    }
    layout = opt_ml_factory()
    layout.configure({"num_round": "40", "max_depth": "4", "eta": "0.3"}, channels)
    set_content_type(layout, "text/libsvm")
    result = run_container(docker_client, xgboost_image, layout)
    assert result.exit_code == 0, result.logs

    # No eval_metric and the default objective reg:squarederror: rmse, as documented.
    rmse = metric_values(result.logs, "validation:rmse")
    assert len(rmse) == len(metric_values(result.logs, "train:rmse")) == 40
    assert rmse[-1] < 0.5 * rmse[0]
    assert not metric_values(result.logs, "validation:logloss")

    xgb, booster = load_model(layout)
    y = validation[:, 0]
    # libsvm leaves zeros out, and XGBoost treats absent entries as missing: do the same.
    from scipy.sparse import csr_matrix

    p = booster.predict(xgb.DMatrix(csr_matrix(validation[:, 1:])))
    assert math.sqrt(float(np.mean((p - y) ** 2))) == pytest.approx(rmse[-1], abs=1e-3)


def test_multiclass_reports_merror_and_mlogloss(
    docker_client, xgboost_image, opt_ml_factory, tmp_path
) -> None:
    rng = np.random.default_rng(3)

    def make(rows: int) -> np.ndarray:
        y = rng.integers(0, 3, size=rows)
        centres = np.array([[0, 0, 0, 0], [2, 0, 1, 0], [0, 2, 0, 1]], dtype=float)
        x = centres[y] + rng.normal(scale=0.9, size=(rows, 4))
        return np.column_stack([y, x])

    validation = make(240)
    channels = {
        "train": write_csv(tmp_path / "train.csv", make(600)),
        "validation": write_csv(tmp_path / "validation.csv", validation),
    }
    layout = opt_ml_factory()
    layout.configure(
        {
            "num_round": "25",
            "objective": "multi:softprob",
            "num_class": "3",
            "eval_metric": "merror,mlogloss",
            "eta": "0.3",
        },
        channels,
    )
    set_content_type(layout, "text/csv;label_size=1")
    result = run_container(docker_client, xgboost_image, layout)
    assert result.exit_code == 0, result.logs

    merror = metric_values(result.logs, "validation:merror")
    mlogloss = metric_values(result.logs, "validation:mlogloss")
    assert len(merror) == len(mlogloss) == 25
    assert mlogloss[-1] < mlogloss[0] < math.log(3)
    assert merror[-1] < 0.3

    xgb, booster = load_model(layout)
    p = booster.predict(xgb.DMatrix(validation[:, 1:]))
    assert p.shape == (240, 3)
    host_merror = float(np.mean(p.argmax(axis=1) != validation[:, 0]))
    assert host_merror == pytest.approx(merror[-1], abs=1e-4)


def test_default_metric_and_extra_metrics_for_classification(
    docker_client, xgboost_image, opt_ml_factory, binary_channels
) -> None:
    # Documented default for classification: error; accuracy and f1 are the built-in's own.
    layout = opt_ml_factory()
    layout.configure(
        {"num_round": "5", "objective": "binary:logistic", "eval_metric": "error,accuracy,f1"},
        binary_channels,
    )
    result = run_container(docker_client, xgboost_image, layout)
    assert result.exit_code == 0, result.logs
    error = metric_values(result.logs, "validation:error")
    accuracy = metric_values(result.logs, "validation:accuracy")
    f1 = metric_values(result.logs, "validation:f1")
    assert len(error) == len(accuracy) == len(f1) == 5
    assert all(a == pytest.approx(1 - e, abs=2e-5) for a, e in zip(accuracy, error, strict=True))
    assert all(0.5 < v <= 1 for v in f1)

    layout = opt_ml_factory()
    layout.configure(
        {"num_round": "3", "objective": "binary:logistic", "_tuning_objective_metric":
         "validation:auc"},
        binary_channels,
    )  # fmt: skip
    result = run_container(docker_client, xgboost_image, layout)
    assert result.exit_code == 0, result.logs
    assert len(metric_values(result.logs, "validation:error")) == 3  # the default metric
    assert len(metric_values(result.logs, "validation:auc")) == 3  # and the tuning objective


def test_early_stopping_stops_before_num_round_and_keeps_the_best_model(
    docker_client, xgboost_image, opt_ml_factory, binary_channels
) -> None:
    layout = opt_ml_factory()
    layout.configure(
        {
            "num_round": "500",
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "eta": "0.6",
            "max_depth": "6",
            "min_child_weight": "0",
            "early_stopping_rounds": "5",
        },
        binary_channels,
    )
    result = run_container(docker_client, xgboost_image, layout)
    assert result.exit_code == 0, result.logs

    done = rounds(result.logs)
    assert done == list(range(len(done))) and len(done) < 500
    logloss = metric_values(result.logs, "validation:logloss")
    best = int(np.argmin(logloss))
    assert len(done) - 1 - best == 5  # stopped 5 rounds without improvement
    assert f"early stopping after round {len(done) - 1}; best round {best}" in result.logs

    xgb, booster = load_model(layout)
    assert booster.num_boosted_rounds() == best + 1
    validation = np.loadtxt(binary_channels["validation"], delimiter=",")
    p = booster.predict(xgb.DMatrix(validation[:, 1:]))
    y = validation[:, 0]
    host_logloss = -np.mean(y * np.log(p + 1e-7) + (1 - y) * np.log(1 - p + 1e-7))
    assert host_logloss == pytest.approx(logloss[best], abs=2e-4)


@pytest.mark.parametrize(
    ("hyperparameters", "expected"),
    [
        ({"eta": "0.1"}, "missing required hyperparameter num_round"),
        (
            {"num_round": "10", "eta": "1.5"},
            "eta='1.5' is invalid: must be a number and >= 0 and <= 1",
        ),
        ({"num_round": "10", "objective": "binary:magic"}, "objective='binary:magic' is invalid"),
        ({"num_round": "10", "objective": "multi:softmax"}, "num_class is required"),
        ({"num_round": "ten"}, "num_round='ten' is invalid: must be an integer"),
        ({"num_round": "10", "eval_metric": "auc,bogus"}, "unknown metric 'bogus'"),
        ({"num_round": "10", "learning_rate": "0.1"}, "unknown hyperparameter(s) learning_rate"),
        ({"num_round": "10", "tree_method": "fast"}, "tree_method='fast' is invalid"),
    ],
)
def test_bad_hyperparameters_fail_with_a_reason(
    docker_client, xgboost_image, opt_ml_factory, binary_channels, hyperparameters, expected
) -> None:
    layout = opt_ml_factory()
    layout.configure(hyperparameters, binary_channels)
    result = run_container(docker_client, xgboost_image, layout)
    assert result.exit_code == 2, result.logs
    assert layout.failure is not None and layout.failure.startswith("ClientError: ")
    assert expected in layout.failure
    assert expected in result.logs
    assert not (layout.root / "model" / "xgboost-model").exists()


def test_bad_data_and_missing_train_channel_fail_with_a_reason(
    docker_client, xgboost_image, opt_ml_factory, binary_channels, tmp_path
) -> None:
    layout = opt_ml_factory()
    layout.configure({"num_round": "5"}, {"validation": binary_channels["validation"]})
    result = run_container(docker_client, xgboost_image, layout)
    assert result.exit_code == 2, result.logs
    assert "channel 'train' is missing" in (layout.failure or "")

    bad = tmp_path / "bad.csv"
    bad.write_text("label,f1,f2\n1,0.5,0.2\n")  # a header row
    layout = opt_ml_factory()
    layout.configure({"num_round": "5"}, {"train": bad})
    result = run_container(docker_client, xgboost_image, layout)
    assert result.exit_code == 2, result.logs
    assert "train/bad.csv line 1: not numeric CSV" in (layout.failure or "")

    layout = opt_ml_factory()
    layout.configure({"num_round": "5"}, {"train": binary_channels["train"]})
    set_content_type(layout, "application/x-recordio-protobuf")
    result = run_container(docker_client, xgboost_image, layout)
    assert result.exit_code == 2, result.logs
    assert "reads text/csv and text/libsvm" in (layout.failure or "")


def test_sigterm_saves_the_model_and_exits_143(
    docker_client, xgboost_image, opt_ml_factory, binary_channels
) -> None:
    layout = opt_ml_factory()
    layout.configure(
        {"num_round": "1000000", "objective": "binary:logistic", "max_depth": "8",
         "eta": "0.01", "nthread": "1"},
        binary_channels,
    )  # fmt: skip
    container = start_container(docker_client, xgboost_image, layout)
    deadline = time.monotonic() + 60
    while len(rounds(container.logs().decode())) < 5:
        container.reload()
        assert container.status in ("created", "running"), container.logs().decode()
        assert time.monotonic() < deadline, "fewer than 5 rounds within 60 s"
        time.sleep(0.2)
    container.stop(timeout=30)  # SIGTERM, SIGKILL after 30 s (137)
    status = container.wait(timeout=60)
    logs = container.logs().decode()
    assert status["StatusCode"] == 143, logs
    done = rounds(logs)
    assert f"stopped by SIGTERM after {len(done)} rounds; model saved" in logs
    _, booster = load_model(layout)
    assert booster.num_boosted_rounds() == len(done)
