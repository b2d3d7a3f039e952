"""The SageMaker training toolkit (PyPI sagemaker-training) runs unmodified in our containers.

Image: containers/toolkit (scripts/build-images.sh builds it through containers/toolkit/build.sh,
which needs Debian packages and PyPI).
Hyperparameters are JSON-encoded as the SageMaker Python SDK sends them.
"""

# Fixtures are imported from runner_fixtures; pytest passes them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import io
import json
import tarfile

import pytest

from orchestrator.runner.base import Channel
from tests.integration.runner_fixtures import docker_env, probe_image, s3_server  # noqa: F401

pytestmark = pytest.mark.docker


@pytest.fixture
def toolkit(docker_env, smlocal_image):
    docker_env.image = smlocal_image("toolkit")
    return docker_env


def report(env) -> dict:
    for text in env.sink.texts():
        if text.startswith("TOOLKIT_REPORT "):
            return json.loads(text[len("TOOLKIT_REPORT ") :])
    raise AssertionError(env.sink.texts()[-30:])


def sdk_hyperparameters(**values) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in values.items()}


def test_script_mode_with_code_in_the_image(toolkit) -> None:
    env = toolkit
    env.s3.put(env.bucket, "data/train/x.csv", b"1")
    spec = env.spec(
        hyperparameters=sdk_hyperparameters(
            sagemaker_program="train.py", sagemaker_submit_directory="/opt/program", epochs=3
        ),
        channels=(Channel("train", f"s3://{env.bucket}/data/train/"),),
    )
    outcome = env.run(spec, timeout=120)
    assert outcome.kind == "completed", env.sink.texts()[-20:]
    got = report(env)
    assert got["argv"] == ["--epochs", "3"]
    assert got["train_files"] == ["x.csv"]
    sm = got["sm"]
    assert sm["SM_CURRENT_HOST"] == "algo-1" and json.loads(sm["SM_HOSTS"]) == ["algo-1"]
    assert sm["SM_MODEL_DIR"] == "/opt/ml/model"
    assert sm["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert json.loads(sm["SM_HPS"]) == {"epochs": 3}
    assert sm["SM_CURRENT_INSTANCE_TYPE"] == "ml.m5.large"
    assert "epoch=3 loss=0.3333" in env.sink.texts()
    members = env.s3.tar_members(env.bucket, env.model_key(spec))
    assert json.loads(members["model.json"]) == {"epochs": 3}


def test_script_mode_downloads_its_code_from_our_s3(toolkit) -> None:
    env = toolkit
    script = b"print('from s3 sourcedir', flush=True)\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("s3_train.py")
        info.size = len(script)
        tar.addfile(info, io.BytesIO(script))
    env.s3.put(env.bucket, "code/sourcedir.tar.gz", buffer.getvalue())
    spec = env.spec(
        hyperparameters=sdk_hyperparameters(
            sagemaker_program="s3_train.py",
            sagemaker_submit_directory=f"s3://{env.bucket}/code/sourcedir.tar.gz",
        )
    )
    outcome = env.run(spec, timeout=120)
    assert outcome.kind == "completed", env.sink.texts()[-20:]
    assert "from s3 sourcedir" in env.sink.texts()


def test_a_failing_user_script_reports_the_toolkit_failure(toolkit) -> None:
    env = toolkit
    spec = env.spec(
        hyperparameters=sdk_hyperparameters(
            sagemaker_program="train.py", sagemaker_submit_directory="/opt/program", fail="boom"
        )
    )
    outcome = env.run(spec, timeout=120)
    assert outcome.kind == "failed" and outcome.exit_code != 0
    # The toolkit writes /opt/ml/output/failure; it becomes the FailureReason text.
    assert outcome.failure_reason and "ExecuteUserScriptError" in outcome.failure_reason
    assert "boom" in outcome.failure_reason


def test_two_instances_with_the_toolkit(toolkit) -> None:
    env = toolkit
    spec = env.spec(
        hyperparameters=sdk_hyperparameters(
            sagemaker_program="train.py", sagemaker_submit_directory="/opt/program"
        ),
        instance_count=2,
    )
    assert env.run(spec, timeout=120).kind == "completed", env.sink.texts()[-20:]
    hosts = {ln.host for ln in env.sink.lines if ln.text.startswith("TOOLKIT_REPORT ")}
    assert hosts == {"algo-1", "algo-2"}


def test_toolkit_under_network_isolation(toolkit) -> None:
    # The toolkit resolves every host name before running the script; with no network the
    # own name must still resolve, or it would wait 15 minutes.
    env = toolkit
    spec = env.spec(
        hyperparameters=sdk_hyperparameters(
            sagemaker_program="train.py", sagemaker_submit_directory="/opt/program"
        ),
        network_isolation=True,
    )
    assert env.run(spec, timeout=120).kind == "completed", env.sink.texts()[-20:]
