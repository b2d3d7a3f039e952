"""Integration tests of this project's training container, with smlocal's pytest plugin
(installed with smlocal: `pip install smlocal`; no conftest needed). Each test runs the image
as SageMaker would: /opt/ml contract, channels from S3, metrics parsed from the log."""

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.smlocal_docker  # skipped, with the reason, when Docker is missing

PROJECT = Path(__file__).resolve().parents[1]
DATA = PROJECT / "data"
METRICS = {"train:loss": r"train:loss=([0-9.]+)",
           "validation:loss": r"validation:loss=([0-9.]+)"}


@pytest.fixture(scope="session")
def image():
    """Build the image once per test session (BASE_IMAGE: see the Dockerfile)."""
    tag = "my-container:test"
    base = os.environ.get("BASE_IMAGE", "smlocal/python-base:latest")
    subprocess.run(["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={base}", "-t", tag,
                    str(PROJECT)], check=True, capture_output=True)
    return tag


def test_it_learns_and_saves_a_model(run_training_job, image):
    result = run_training_job(image, hyperparameters={"epochs": 30, "learning_rate": 0.5},
                              channels={"train": DATA / "train",
                                        "validation": DATA / "validation"},
                              metric_definitions=METRICS)
    result.assert_completed()
    losses = result.metric_series["validation:loss"]
    assert len(losses) == 30 and losses[-1] < losses[0] * 0.8
    assert result.final_metrics["validation:loss"] < 0.6
    assert (result.model_dir / "model.json").exists()


def test_a_missing_channel_fails_with_a_reason(run_training_job, image):
    result = run_training_job(image, channels={"validation": DATA / "validation"})
    assert result.status == "Failed"
    assert result.failure_reason == "AlgorithmError: ValueError: channel 'train' has no .csv file"


def test_smlocal_check_passes(smlocal_endpoint, image):
    """The whole contract checklist, SIGTERM included (a long enough run to be stopped)."""
    run = subprocess.run(
        ["smlocal", "--endpoint", smlocal_endpoint, "check", image,
         "--hp", "epochs=20", "--hp", "epoch_seconds=0.1",
         "--channel", f"train={DATA / 'train'}", "--metric", "loss=train:loss=([0-9.]+)"],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PASS  handles SIGTERM" in run.stdout
