"""`smlocal tune` of each of the spec's nine example request bodies, UNCHANGED, as a user runs
it: the real CLI in a subprocess against a real server on Docker, after uploading what each
example reads to the S3 keys it names. Asserts what the command prints and its exit code, and
for example 07 (PyTorch, script mode, Hyperband) everything the service reports.

- 06 (built-in XGBoost, Random, 5 jobs of 10 rounds): runs to Completed.
- 07 (PyTorch framework image, Hyperband, 32 jobs, 8 parallel, `ml.g4dn.xlarge`): the training
  script `tests/fixtures/pytorch-hyperband/train.py` and its data go up as the
  sourcedir.tar.gz that `sagemaker_submit_directory` names; runs to Completed on the PyTorch
  stand-in (CPU, with the GPU warnings in the job logs), Hyperband stopping every job by
  MaxResource and most at its rungs. The one end-to-end run of example 07. The script does its
  arithmetic in NumPy (importing torch would cost each of the 32 jobs 2 s of CPU; torch trains
  through the stand-in in test_framework_images.py).
- 01 and 03 (built-in XGBoost, Bayesian, 20 jobs of 100 rounds, 3 parallel): example 01 runs
  its whole budget to Completed through boto3 in test_builtin_images.py; here `smlocal tune`'s
  other ending: the command is watched until its first jobs completed with a built-in metric,
  then `smlocal stop` ends it and tune exits 3 saying Stopped.
- 02 (the user's own ECR image `test:tensorflow-1.10.1`, which this machine does not have):
  accepted, every training job fails saying which local image to build or tag, the tuning job
  fails (first-5-failures rule), exit 1.
- 04, 05, 08, 09 (built-in algorithms without a local stand-in): refused at create with the
  local-limitation message, exit 2, nothing created.

Images: `bash scripts/build-images.sh xgboost pytorch-framework`.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.fixtures import SPEC_EXAMPLES
from tests.integration.e2e import wait_for
from tests.integration.test_builtin_images import boto_logs, example, upload_channels
from tests.integration.test_tuning_e2e import assert_consistent, containers_of, training_jobs

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[1] / "fixtures" / "pytorch-hyperband" / "train.py"
LOCAL_LIMITATION = "a local limitation of smlocal; SageMaker accepts this request"


def cli(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator.client.cli", "--endpoint", url, *args]


def tune(url: str, name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli(url, "tune", str(SPEC_EXAMPLES / f"{name}.json"), *args),
                          capture_output=True, text=True, timeout=timeout)


def ensure_bucket(s3: Any, bucket: str) -> None:
    try:
        s3.create_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou",
                                                 "BucketAlreadyExists"):
            raise


def upload_sourcedir(s3: Any, body: dict[str, Any], data: dict[str, Path]) -> str:
    """train.py and data/{train,validation}.csv as the sourcedir.tar.gz the SDK would have
    uploaded, at the key `sagemaker_submit_directory` names."""
    hps = body["TrainingJobDefinition"]["StaticHyperParameters"]
    uri = json.loads(hps["sagemaker_submit_directory"])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(SCRIPT, arcname=json.loads(hps["sagemaker_program"]))
        for channel in ("train", "validation"):
            tar.add(data[channel], arcname=f"data/{channel}.csv")
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    ensure_bucket(s3, bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    return uri


@pytest.mark.parametrize("name", ["04-image-classification-early-stopping",
                                  "05-image-classification-warmstart",
                                  "08-multi-algorithm-fm-knn",
                                  "09-terraform-completion-criteria"])
def test_builtins_without_stand_in_print_the_local_limitation(server, name):
    app, sm, *_ = server
    run = tune(app.url, name, "--wait")
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.startswith("smlocal: ValidationException: ")
    assert LOCAL_LIMITATION in run.stderr
    assert "Built-in algorithms that run locally: xgboost." in run.stderr
    assert "created" not in run.stdout
    body = example(name)
    with pytest.raises(botocore.exceptions.ClientError):
        sm.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=body["HyperParameterTuningJobName"])


def test_02_own_ecr_image_missing_locally_fails_saying_what_to_build(server):
    app, sm, *_ = server
    body = example("02-byo-keras-custom-metrics")
    name = body["HyperParameterTuningJobName"]
    image = body["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]
    run = tune(app.url, "02-byo-keras-custom-metrics", "--wait", timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "created arn:aws:sagemaker:" in run.stdout
    ended = [line for line in run.stdout.splitlines() if " ended " in line and "Failed" in line]
    assert len(ended) >= 5, run.stdout
    assert (f"ClientError: TrainingImage {image} is in Amazon ECR, which smlocal does not pull "
            "from; it runs the same-named local image test:tensorflow-1.10.1 instead") in ended[0]
    assert f"tuning job {name} ended Failed" in run.stdout
    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert d["HyperParameterTuningJobStatus"] == "Failed"
    assert f"reason: {d['FailureReason']}" in " ".join(run.stdout.split())


def test_06_runs_to_completed_and_prints_the_best_job(server, smlocal_image, example_data):
    app, sm, s3, _ = server
    smlocal_image("xgboost")
    body = example("06-xgboost-random-log-scaling")
    name = body["HyperParameterTuningJobName"]
    upload_channels(s3, body, example_data)
    run = tune(app.url, "06-xgboost-random-log-scaling", "--wait", timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    best = d["BestTrainingJob"]
    assert d["TrainingJobStatusCounters"]["Completed"] == 5
    assert f"tuning job {name} ended Completed" in run.stdout
    metric = best["FinalHyperParameterTuningJobObjectiveMetric"]
    assert f"best training job: {best['TrainingJobName']}  validation:auc = " in run.stdout
    assert metric["MetricName"] == "validation:auc" and 0.5 < metric["Value"] <= 1
    assert len(re.findall(r"ended \S+  Completed  objective 0\.\d+", run.stdout)) == 5


@pytest.mark.parametrize("name", ["01-xgboost-direct-marketing-bayesian",
                                  "03-devguide-xgboost-random-seed"])
def test_01_and_03_run_their_first_jobs_then_stop(server, smlocal_image, example_data, name,
                                                   tmp_path):
    """Watch the command until two jobs completed with the built-in metric, then stop the
    tuning job from another `smlocal` and check that tune says so and exits 3 (example 01's
    whole run: test_builtin_images.py)."""
    app, sm, s3, _ = server
    smlocal_image("xgboost")
    body = example(name)
    job = body["HyperParameterTuningJobName"]
    upload_channels(s3, body, example_data)
    out = tmp_path / "stdout"
    with open(out, "w") as stdout:
        proc = subprocess.Popen(cli(app.url, "tune", str(SPEC_EXAMPLES / f"{name}.json"),
                                    "--wait"), stdout=stdout, stderr=subprocess.STDOUT, text=True)
    try:
        def two_completed() -> list[str] | None:
            assert proc.poll() is None, out.read_text()
            done = re.findall(r"ended \S+  Completed  objective (0\.\d+)", out.read_text())
            return done if len(done) >= 2 else None

        values = wait_for(two_completed, 600, every=1, what=f"two completed jobs of {job}")
        assert all(0.5 < float(v) <= 1 for v in values)  # validation:auc, the built-in metric
        stop = subprocess.run(cli(app.url, "stop", job), capture_output=True, text=True,
                              timeout=60)
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(timeout=300) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
    printed = out.read_text()
    assert f"tuning job {job} ended Stopped" in printed
    assert "best training job: " in printed and "validation:auc = 0." in printed


def hyperband_resource(app_url: str, job: str) -> int:
    """How many objective values the job printed (Hyperband's resource: one per epoch)."""
    return boto_logs(app_url, job).count("'eval_accuracy': ")


@pytest.mark.timeout(1800)
def test_07_pytorch_hyperband_runs_unchanged_on_the_pytorch_stand_in(
        server, smlocal_image, example_data, docker_client):
    app, sm, s3, _ = server
    stand_in = smlocal_image("pytorch-framework")
    body = example("07-pytorch-hyperband")
    name = body["HyperParameterTuningJobName"]
    image = body["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"]
    upload_sourcedir(s3, body, example_data)
    started = time.monotonic()
    run = tune(app.url, "07-pytorch-hyperband", "--wait", timeout=1500)
    print(f"example 07: {time.monotonic() - started:.0f} s")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr
    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert f"tuning job {name} ended Completed" in run.stdout
    jobs = training_jobs(sm, name)
    assert len(jobs) == 32
    assert [j.get("FailureReason") for j in jobs if j["TrainingJobStatus"] == "Failed"] == []
    assert_consistent(sm, s3, d, jobs, "accuracy", maximize=True)
    best = d["BestTrainingJob"]
    assert f"best training job: {best['TrainingJobName']}  accuracy = " in run.stdout
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] > 0.9
    assert set(best["TunedHyperParameters"]) == {"lr"}

    # Hyperband (MinResource 1, MaxResource 8, rungs 1 and 3): the script would run 20 epochs,
    # so every job is stopped, by MaxResource at the latest; many stop at a rung. A stop takes
    # effect a poll and a SIGTERM after the decision: a few more epochs of slack.
    resources = {j["TrainingJobName"]: hyperband_resource(app.url, j["TrainingJobName"])
                 for j in jobs}
    assert {j["TrainingJobStatus"] for j in jobs} == {"Stopped"}, resources
    assert all(1 <= r <= 10 for r in resources.values()), resources  # 8 + two of slack
    assert sum(r < 8 for r in resources.values()) >= 16, resources
    for j in jobs:
        assert 1e-6 <= float(j["HyperParameters"]["lr"]) <= 0.1
        assert j["AlgorithmSpecification"]["TrainingImage"] == image

    log = boto_logs(app.url, best["TrainingJobName"])
    assert f"TrainingImage {image} (PyTorch framework image) runs as its local stand-in " \
           f"{stand_in}; WARNING: a GPU image" in log
    assert "ml.g4dn.xlarge is a GPU type; running on CPU only" in log
    assert re.search(r"\[smlocal\] PyTorch framework stand-in: torch \d+\.\d+", log), log[:2000]
    assert "Invoking script with the following command:" in log  # the toolkit ran train.py
    assert not containers_of(docker_client, name)
