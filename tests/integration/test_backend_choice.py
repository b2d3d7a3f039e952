"""`Settings(backend=...)` chooses where training jobs run; the app wiring knows no engine.

The "fake" backend (the real lifecycle on in-process containers) runs a whole training job
through the public API without Docker: staging, config files, logs, the model upload to the
app's own S3, restart re-adoption.
"""

from __future__ import annotations

import uuid

import pytest

from orchestrator.app import SmlocalApp
from orchestrator.config import Settings
from tests.integration.e2e import clients, wait_for

BUCKET = "choice"


def training_request(name: str, **hyperparameters: str) -> dict:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "smlocal/probe:latest",
                                   "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
        "HyperParameters": hyperparameters,
    }


def status(sm, name: str) -> str:
    return sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]


def test_the_fake_backend_runs_a_training_job_end_to_end(tmp_path) -> None:
    settings = Settings(state_dir=tmp_path / "state", backend="fake", stop_grace_seconds=1.0)
    app = SmlocalApp(settings=settings, port=0).start()
    try:
        sm, s3 = clients(app.url)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="data/a.csv", Body=b"1,2\n")
        name = f"fake-{uuid.uuid4().hex[:8]}"
        request = training_request(name, model_files="m.bin", final_lines="done")
        request["InputDataConfig"] = [{
            "ChannelName": "train",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                            "S3Uri": f"s3://{BUCKET}/data/"}}}]
        sm.create_training_job(**request)
        wait_for(lambda: status(sm, name) == "Completed", timeout=60, every=0.1,
                 what=f"{name} to complete")
        d = sm.describe_training_job(TrainingJobName=name)
        assert d["ModelArtifacts"]["S3ModelArtifacts"] == (
            f"s3://{BUCKET}/out/{name}/output/model.tar.gz")
        s3.head_object(Bucket=BUCKET, Key=f"out/{name}/output/model.tar.gz")
    finally:
        app.stop()


def test_a_restarted_app_re_adopts_the_fake_backend_s_running_job(tmp_path) -> None:
    # In the server's process: the fake engine's "containers" are threads of the process that
    # runs the jobs, so only there do they outlive the app (test_job_process.py: the runner).
    settings = Settings(state_dir=tmp_path / "state", backend="fake", stop_grace_seconds=1.0,
                        job_process=False)
    app = SmlocalApp(settings=settings, port=0).start()
    name = f"fake-{uuid.uuid4().hex[:8]}"
    try:
        sm, s3 = clients(app.url)
        s3.create_bucket(Bucket=BUCKET)
        sm.create_training_job(**training_request(name, sleep_seconds="2", model_files="m"))
        wait_for(lambda: status(sm, name) == "InProgress"
                 and sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"]
                 == "Training", timeout=30, every=0.05, what="training")
    finally:
        app.stop()  # the "containers" keep running, as Docker's would
    again = SmlocalApp(settings=settings, port=0).start()
    try:
        sm, _s3 = clients(again.url)
        wait_for(lambda: status(sm, name) == "Completed", timeout=60, every=0.1,
                 what=f"{name} to complete after the restart")
    finally:
        again.stop()


def test_an_unknown_backend_name_is_refused_before_anything_runs(tmp_path) -> None:
    app = SmlocalApp(settings=Settings(state_dir=tmp_path, backend="nope"), port=0)
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        app.start()


def test_smlocal_serve_backend_flag(tmp_path) -> None:
    """`smlocal serve --backend fake` runs jobs in-process; an unknown name exits 2 naming
    the known backends."""
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cli = [sys.executable, "-m", "orchestrator.client.cli", "serve", "--port", str(port),
           "--state-dir", str(tmp_path / "state")]
    bad = subprocess.run([*cli, "--backend", "nope"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2
    assert "nope" in bad.stderr and "docker" in bad.stderr and "fake" in bad.stderr
    server = subprocess.Popen([*cli, "--backend", "fake"], stdout=subprocess.PIPE, text=True)
    try:
        assert "backend: fake" in server.stdout.readline()
        sm, s3 = clients(f"http://127.0.0.1:{port}")
        s3.create_bucket(Bucket=BUCKET)
        name = f"flag-{uuid.uuid4().hex[:8]}"
        sm.create_training_job(**training_request(name, final_lines="done"))
        wait_for(lambda: status(sm, name) == "Completed", timeout=60, every=0.1,
                 what=f"{name} to complete")
    finally:
        server.terminate()
        server.wait(timeout=30)
