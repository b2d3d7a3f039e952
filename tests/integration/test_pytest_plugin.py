"""The pytest plugin (orchestrator/pytest_plugin.py, entry point `pytest11`) as a user meets it:
pytest runs in a subprocess (pytester) on a small test file that only uses the fixtures, with
no conftest: the plugin comes from the installed entry point."""

from __future__ import annotations

import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.docker, pytest.mark.slow]

USER_TESTS = '''
import pytest

pytestmark = pytest.mark.smlocal_docker


def test_trains_and_reports(run_training_job, upload_channel, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "rows.csv").write_text("1,2\\n")
    result = run_training_job(
        "smlocal/probe:latest",
        hyperparameters={"metrics": "loss=0.5,0.25", "model_files": "model.txt", "report": 1},
        channels={"train": folder, "extra": upload_channel({"x/y.txt": "hello"})},
        metric_definitions={"loss": r"^loss=([0-9.]+)"})
    result.assert_completed()
    assert result.metric_series["loss"] == [0.5, 0.25]
    assert "loss" in result.final_metrics
    assert (result.model_dir / "model.txt").exists()
    assert '"rows.csv"' in result.log and '"x/y.txt"' in result.log  # the probe's report


def test_tuning_job(run_tuning_job, sagemaker_client):
    result = run_tuning_job({
        "HyperParameterTuningJobName": "plugin-tune",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"CategoricalParameterRanges": [
                {"Name": "metrics", "Values": ["loss=0.5", "loss=0.25"]}]}},
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {
                "TrainingImage": "smlocal/probe:latest", "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]},
            "RoleArn": "arn:aws:iam::123456789012:role/any",
            "OutputDataConfig": {"S3OutputPath": "s3://smlocal-pytest/tune/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 300}}})
    assert result.status == "Completed" and len(result.training_jobs) == 2
    assert result.best_training_job["FinalHyperParameterTuningJobObjectiveMetric"][
        "Value"] == 0.25


def test_broken_container(run_training_job):
    result = run_training_job("smlocal/probe:latest", hyperparameters={
        "exit_code": 2, "failure_message": "bad value in row 7", "final_lines": "reading row 7"})
    result.assert_completed()
'''


def test_the_entry_point_is_declared_and_installed() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["pytest11"] == {
        "smlocal": "orchestrator.pytest_plugin"}
    assert "orchestrator.pytest_plugin" in {e.value for e in entry_points(group="pytest11")}, (
        "reinstall: pip install -e .")


def test_a_users_tests_pass_and_a_broken_container_fails_with_its_reason(pytester,
                                                                          smlocal_image):
    smlocal_image("probe")
    pytester.makepyfile(test_container=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=600)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: training job probe-* ended Failed: AlgorithmError: bad value in "
        "row 7*", "*--- last log lines ---*", "*reading row 7*"])


def test_a_running_server_and_the_docker_marker(pytester, smlocal_image, tmp_path,
                                                monkeypatch) -> None:
    """--smlocal-endpoint uses a running server; without Docker the marked tests skip with the
    reason."""
    from orchestrator.app import SmlocalApp
    from orchestrator.config import Settings

    smlocal_image("probe")
    pytester.makepyfile(test_container=USER_TESTS.split("def test_tuning_job")[0])
    app = SmlocalApp(settings=Settings(state_dir=tmp_path / "state"), port=0).start()
    try:
        result = pytester.runpytest_subprocess("-q", f"--smlocal-endpoint={app.url}",
                                               timeout=600)
        result.assert_outcomes(passed=1)
        from orchestrator.client.endpoint import client

        jobs = client("sagemaker", app.url).list_training_jobs()["TrainingJobSummaries"]
        assert len(jobs) == 1  # it ran on that server, not on one the plugin started
    finally:
        app.stop()
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    skipped = pytester.runpytest_subprocess("-q", "-rs", timeout=300)
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*smlocal: no Docker engine answers*"])
