"""The example training containers honour the SageMaker training contract (spec §5).

Each test runs a real image with a hand-made /opt/ml whose sub-folders are mounted separately,
then checks what a platform relies on: exit code, model files, metric lines a MetricDefinitions
regex can read, /opt/ml/output/failure, SIGTERM handling and checkpoints.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.conftest import run_container, start_container

EPOCH_LINE = re.compile(
    r"^epoch=(\d+) validation:loss=([0-9.]+) validation:accuracy=([0-9.]+) train:loss=([0-9.]+)$"
)


def metric_values(logs: str, regex: str) -> list[float]:
    """Every observation of a metric, the way the platform reads them (first group, per line)."""
    pattern = re.compile(regex)
    return [float(m.group(1)) for line in logs.splitlines() if (m := pattern.search(line))]


# --- gradient boosting -----------------------------------------------------------------------


@pytest.mark.docker
def test_gbm_trains_writes_model_and_reports_metrics(
    docker_client, gbm_image, opt_ml_factory, example_data
) -> None:
    layout = opt_ml_factory()
    layout.configure(
        {
            "learning_rate": "0.1",
            "max_depth": '"3"',  # JSON-encoded, as the SageMaker Python SDK sends values
            "num_round": "40",
            "l2_regularization": "0.5",
            "min_samples_leaf": "10",
            "_tuning_objective_metric": "validation:logloss",
        },
        example_data,
    )
    result = run_container(docker_client, gbm_image, layout)
    assert result.exit_code == 0, result.logs
    assert layout.failure is None

    iterations = [int(n) for n in re.findall(r"^\[iter (\d+)\] ", result.logs, re.M)]
    assert iterations == [10, 20, 30, 40]
    logloss = metric_values(result.logs, r"validation:logloss=([0-9.]+)")
    auc = metric_values(result.logs, r"validation:auc=([0-9.]+)")
    assert len(logloss) == len(auc) == 5  # four progress lines + the final line
    assert logloss[-1] < logloss[0] < 0.7  # learning: below a coin flip's 0.693, then lower
    assert all(0.9 < a <= 1.0 for a in auc)
    last = re.search(r"^\[iter 40\] (.*)$", result.logs, re.M)
    final = re.search(r"^\[final\] (.*)$", result.logs, re.M)
    assert last and final and final.group(1) == last.group(1)

    model = layout.root / "model" / "model.pkl"
    assert model.stat().st_size > 1000
    summary = json.loads((layout.root / "output" / "data" / "metrics.json").read_text())
    assert summary["rounds"] == 40 and summary["hyperparameters"]["max_depth"] == 3

    # The saved model is a usable estimator: load it in the same image and score validation.
    check = (
        "import pickle, numpy as np;"
        "m = pickle.load(open('/opt/ml/model/model.pkl', 'rb'));"
        "d = np.loadtxt('/opt/ml/input/data/validation/validation.csv', delimiter=',');"
        "print('accuracy=%f' % (m.predict(d[:, 1:]) == d[:, 0]).mean())"
    )
    container = docker_client.containers.run(
        gbm_image,
        entrypoint=["python3", "-c", check],
        volumes=layout.volumes(),
        network_mode="none",
        remove=True,
    )
    assert metric_values(container.decode(), r"accuracy=([0-9.]+)")[0] > 0.9


@pytest.mark.docker
@pytest.mark.parametrize(
    ("hyperparameters", "expected"),
    [
        ({"learning_rate": "-1"}, "learning_rate='-1' is invalid: must be a number and > 0"),
        ({"max_depth": "deep"}, "max_depth='deep' is invalid: must be an integer"),
        ({"max_iter": "10", "num_round": "10"}, "max_iter and num_round mean the same"),
        ({"colsample_bytree": "0.5"}, "unknown hyperparameter(s) colsample_bytree"),
    ],
)
def test_gbm_rejects_bad_hyperparameters(
    docker_client, gbm_image, opt_ml_factory, example_data, hyperparameters, expected
) -> None:
    layout = opt_ml_factory()
    layout.configure(hyperparameters, example_data)
    result = run_container(docker_client, gbm_image, layout)
    assert result.exit_code == 2, result.logs
    assert layout.failure is not None and layout.failure.startswith("ClientError: ")
    assert expected in layout.failure
    assert expected in result.logs  # the reason is in the log too
    assert not (layout.root / "model" / "model.pkl").exists()


@pytest.mark.docker
def test_gbm_names_a_missing_channel(docker_client, gbm_image, opt_ml_factory, example_data):
    layout = opt_ml_factory()
    layout.configure({}, {"train": example_data["train"]})
    result = run_container(docker_client, gbm_image, layout)
    assert result.exit_code == 2
    assert "channel 'validation' is missing" in (layout.failure or "")


@pytest.mark.docker
def test_gbm_refuses_to_serve(docker_client, gbm_image, opt_ml_factory, example_data) -> None:
    layout = opt_ml_factory()
    layout.configure({}, example_data)
    result = run_container(docker_client, gbm_image, layout, command=("serve",))
    assert result.exit_code == 2
    assert "only trains" in (layout.failure or "")


# --- epoch-based learner ---------------------------------------------------------------------


def epoch_lines(logs: str) -> list[tuple[int, float, float]]:
    """(epoch, validation loss, validation accuracy) per epoch line; every line must parse."""
    rows = []
    for line in logs.splitlines():
        if line.startswith("epoch="):
            match = EPOCH_LINE.match(line)
            assert match, f"unparsable epoch line: {line!r}"
            rows.append((int(match.group(1)), float(match.group(2)), float(match.group(3))))
    return rows


@pytest.mark.docker
def test_epoch_reports_one_observation_per_epoch(
    docker_client, epoch_image, opt_ml_factory, example_data
) -> None:
    layout = opt_ml_factory(checkpoints=True)
    hyperparameters = {
        "epochs": "6",
        "learning_rate": "0.01",
        "batch_size": "32",
        "momentum": "0.9",
        "optimizer": '"adam"',  # JSON-encoded string, as the SageMaker Python SDK sends it
    }
    layout.configure(hyperparameters, example_data)
    result = run_container(docker_client, epoch_image, layout)
    assert result.exit_code == 0, result.logs

    rows = epoch_lines(result.logs)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert len(metric_values(result.logs, r"validation:loss=([0-9.]+)")) == 6
    losses = [r[1] for r in rows]
    assert losses[-1] < losses[0] < 0.7
    assert rows[-1][2] > 0.9

    meta = json.loads((layout.root / "model" / "model.json").read_text())
    assert meta["epochs_done"] == 6 and meta["hyperparameters"]["optimizer"] == "adam"
    assert (layout.root / "model" / "model.npz").stat().st_size > 1000
    assert (layout.root / "checkpoints" / "checkpoint.npz").is_file()


def wait_for_epochs(container, count: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = container.logs().decode()
        if len(epoch_lines(logs)) >= count:
            return logs
        container.reload()
        assert container.status in ("created", "running"), logs
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} epoch lines within {timeout} s")


@pytest.mark.docker
def test_epoch_saves_on_sigterm_and_resumes_from_checkpoint(
    docker_client, epoch_image, opt_ml_factory, example_data
) -> None:
    layout = opt_ml_factory(checkpoints=True)
    slow = {"epochs": "1000", "epoch_sleep_seconds": "0.5", "optimizer": "sgd"}
    layout.configure(slow, example_data)
    container = start_container(docker_client, epoch_image, layout)
    wait_for_epochs(container, 2)

    # SIGTERM, then SIGKILL after 30 s: exit code 143 (not 137) shows the handler saved and
    # exited by itself, well inside the grace period.
    container.stop(timeout=30)
    status = container.wait(timeout=60)
    logs = container.logs().decode()
    assert status["StatusCode"] == 143, logs
    done = epoch_lines(logs)[-1][0]
    assert f"stopped by SIGTERM after epoch {done}; model saved" in logs
    meta = json.loads((layout.root / "model" / "model.json").read_text())
    assert meta["epochs_done"] == done
    assert (layout.root / "checkpoints" / "checkpoint.npz").is_file()

    # A new job with the same checkpoints resumes after the last finished epoch.
    layout.configure({**slow, "epochs": str(done + 2), "epoch_sleep_seconds": "0"}, example_data)
    result = run_container(docker_client, epoch_image, layout)
    assert result.exit_code == 0, result.logs
    assert f"resuming after epoch {done} from checkpoint" in result.logs
    assert [r[0] for r in epoch_lines(result.logs)] == [done + 1, done + 2]


@pytest.mark.docker
def test_epoch_rejects_bad_hyperparameters(
    docker_client, epoch_image, opt_ml_factory, example_data
) -> None:
    layout = opt_ml_factory()
    layout.configure({"optimizer": "lbfgs", "learning_rate": "fast"}, example_data)
    result = run_container(docker_client, epoch_image, layout)
    assert result.exit_code == 2, result.logs
    failure = layout.failure or ""
    assert "optimizer='lbfgs' is invalid: must be one of sgd, adam, rmsprop" in failure
    assert "learning_rate='fast' is invalid" in failure
    assert not (layout.root / "model" / "model.npz").exists()
