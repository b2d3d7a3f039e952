"""Framework estimators of the SageMaker SDK v2 (script mode) on the local framework stand-ins.

`sagemaker.sklearn.SKLearn` and `sagemaker.xgboost.XGBoost` compute the real AWS image URI
(`…/sagemaker-scikit-learn:1.2-1-cpu-py3`, `…/sagemaker-xgboost:1.7-1`), upload the user's
script to S3 and set the script-mode hyperparameters (`sagemaker_program`,
`sagemaker_submit_directory`); smlocal runs the images `smlocal/sklearn-framework:latest` and
`smlocal/xgboost-framework:latest` (containers/*-framework, the SageMaker training toolkit), whose
`train` downloads the script from our S3 and runs it with the hyperparameters as arguments.
`PyTorch` and `TensorFlow` estimators run on `smlocal/pytorch-framework:latest` and
`smlocal/tensorflow-framework:latest` the same way (each with its framework's own toolkit).

Images: `bash scripts/build-images.sh sklearn-framework xgboost-framework pytorch-framework`;
the TensorFlow stand-in is optional (not built by the set-up, so its test skips in CI):
`smlocal images build tensorflow-framework`.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.integration import test_sdk
from tests.integration.test_sdk import BUCKET, NUMBER, ROLE, client, explicit_session, inputs

# The SDK and a real server on a free port (test_sdk's module fixtures; pytest finds them here).
sdk, server = test_sdk.sdk, test_sdk.server

pytestmark = [pytest.mark.docker, pytest.mark.slow]

METRIC = "validation:accuracy"
METRICS = [{"Name": METRIC, "Regex": f"{METRIC}={NUMBER}"}]

# What a user writes for a framework image: SM_* variables, hyperparameters as arguments.
SCRIPT_HEAD = """\
import argparse, os
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--max_depth", type=int, default=6)
parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
parser.add_argument("--validation", default=os.environ["SM_CHANNEL_VALIDATION"])
args, _ = parser.parse_known_args()


def load(folder):
    data = np.vstack([np.loadtxt(os.path.join(folder, f), delimiter=",", ndmin=2)
                      for f in sorted(os.listdir(folder))])
    return data[:, 1:], data[:, 0]


(x, y), (vx, vy) = load(args.train), load(args.validation)
print("max_depth", args.max_depth, "train rows", len(y), flush=True)
"""
SCRIPT_TAIL = f'print(f"{METRIC}={{accuracy:.4f}}", flush=True)\n'

SKLEARN_TRAIN = """\
import joblib
from sklearn.tree import DecisionTreeClassifier
model = DecisionTreeClassifier(max_depth=args.max_depth, random_state=0).fit(x, y)
accuracy = model.score(vx, vy)
joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
"""

XGBOOST_TRAIN = """\
import xgboost as xgb
booster = xgb.train({"max_depth": args.max_depth, "objective": "binary:logistic"},
                    xgb.DMatrix(x, label=y), num_boost_round=10)
accuracy = float(((booster.predict(xgb.DMatrix(vx)) > 0.5) == vy).mean())
booster.save_model(os.path.join(args.model_dir, "xgboost-model.json"))
"""

PYTORCH_TRAIN = """\
import torch
from torch import nn
torch.manual_seed(0)
mean, std = x.mean(0), x.std(0) + 1e-6
tx, tvx = (torch.tensor((a - mean) / std, dtype=torch.float32) for a in (x, vx))
ty, tvy = torch.tensor(y).long(), torch.tensor(vy).long()
model = nn.Sequential(nn.Linear(tx.shape[1], 16), nn.ReLU(), nn.Linear(16, 2))
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for _ in range(20 * args.max_depth):
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(tx), ty).backward()
    optimizer.step()
accuracy = float((model(tvx).argmax(1) == tvy).float().mean())
torch.save(model.state_dict(), os.path.join(args.model_dir, "model.pth"))
"""

# Keras 2 (TensorFlow 2.15): model.save(folder) writes a SavedModel, as SageMaker TensorFlow
# scripts do for TensorFlow Serving (a numeric version folder).
TENSORFLOW_TRAIN = """\
import tensorflow as tf
tf.random.set_seed(0)
mean, std = x.mean(0), x.std(0) + 1e-6
model = tf.keras.Sequential([tf.keras.layers.Dense(16, activation="relu"),
                             tf.keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit((x - mean) / std, y, epochs=10 * args.max_depth, verbose=2)
accuracy = float(model.evaluate((vx - mean) / std, vy, verbose=0)[1])
model.save(os.path.join(args.model_dir, "1"))
"""


def write_script(folder: Path, train: str) -> Path:
    path = folder / "train.py"
    path.write_text(SCRIPT_HEAD + train + SCRIPT_TAIL)
    return path


@pytest.fixture
def session(sdk, server, monkeypatch) -> Any:
    # The SDK tails the job's log through a CloudWatch Logs client of its boto session; botocore
    # names the service's variable after its id "CloudWatch Logs".
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", server.url)
    return explicit_session(server.url, BUCKET, sdk)


def model_files(s3: Any, uri: str) -> dict[str, bytes]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read()
                for m in tar.getmembers() if m.isfile()}


def fit_and_check(est: Any, server: Any, repository: str, stand_in: str) -> dict[str, bytes]:
    """fit() → Completed on `stand_in`, the metric parsed; the files of model.tar.gz."""
    assert f"/{repository}:" in est.training_image_uri()  # the real AWS URI, computed by the SDK
    # logs="None": fit() then polls DescribeTrainingJob every 5 s. Tailing the logs (the
    # default) asks for the job's status only every 30 s, after 10 s sleeps (the SDK's
    # _logs_for_job), which made each of these tests wait 20-40 s after its job had ended;
    # test_sdk.py fits with the default and tails the logs. The log is read below instead.
    est.fit(inputs(server.data_uri), logs="None")
    name = est.latest_training_job.name
    sm = client(server.url, "sagemaker")
    job = sm.describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["AlgorithmSpecification"]["TrainingImage"] == est.training_image_uri()
    hp = job["HyperParameters"]
    assert json.loads(hp["sagemaker_program"]) == "train.py"
    assert json.loads(hp["sagemaker_submit_directory"]).startswith("s3://")
    assert hp["max_depth"] == "3"
    values = [m["Value"] for m in job.get("FinalMetricDataList", [])
              if m["MetricName"] == METRIC]
    assert values and 0.8 < values[0] <= 1.0, job.get("FinalMetricDataList")
    logs = client(server.url, "logs")
    stream = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                       logStreamNamePrefix=name)["logStreams"][0]["logStreamName"]
    text = "\n".join(e["message"] for e in logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream,
        startFromHead=True)["events"])
    assert f"runs as its local stand-in {stand_in}" in text
    return model_files(client(server.url, "s3"), est.model_data)


@pytest.mark.timeout(300)
def test_sklearn_estimator_runs_on_the_sklearn_framework_stand_in(
        sdk, server, session, smlocal_image, tmp_path):
    from sagemaker.sklearn import SKLearn

    stand_in = smlocal_image("sklearn-framework")
    est = SKLearn(entry_point=write_script(tmp_path, SKLEARN_TRAIN).name, source_dir=str(tmp_path),
                  framework_version="1.2-1", instance_type="ml.m5.large", instance_count=1,
                  role=ROLE, hyperparameters={"max_depth": 3}, metric_definitions=METRICS,
                  output_path=f"s3://{BUCKET}/framework/output", sagemaker_session=session)
    files = fit_and_check(est, server, "sagemaker-scikit-learn", stand_in)
    assert files.get("model.joblib"), sorted(files)


@pytest.mark.timeout(300)
def test_xgboost_estimator_in_script_mode_runs_on_the_xgboost_framework_stand_in(
        sdk, server, session, smlocal_image, tmp_path):
    from sagemaker.xgboost import XGBoost

    stand_in = smlocal_image("xgboost-framework")
    est = XGBoost(entry_point=write_script(tmp_path, XGBOOST_TRAIN).name,
                  source_dir=str(tmp_path), framework_version="1.7-1",
                  instance_type="ml.m5.large", instance_count=1, role=ROLE,
                  hyperparameters={"max_depth": 3}, metric_definitions=METRICS,
                  output_path=f"s3://{BUCKET}/framework/output", sagemaker_session=session)
    files = fit_and_check(est, server, "sagemaker-xgboost", stand_in)
    model = json.loads(files["xgboost-model.json"])
    assert "learner" in model


@pytest.mark.timeout(300)
def test_pytorch_estimator_runs_on_the_pytorch_stand_in(sdk, server, session, smlocal_image,
                                                       tmp_path):
    from sagemaker.pytorch import PyTorch

    stand_in = smlocal_image("pytorch-framework")
    est = PyTorch(entry_point=write_script(tmp_path, PYTORCH_TRAIN).name,
                  source_dir=str(tmp_path), framework_version="2.2", py_version="py310",
                  instance_type="ml.m5.large", instance_count=1, role=ROLE,
                  hyperparameters={"max_depth": 3}, metric_definitions=METRICS,
                  output_path=f"s3://{BUCKET}/framework/output", sagemaker_session=session)
    files = fit_and_check(est, server, "pytorch-training", stand_in)
    assert files.get("model.pth"), sorted(files)


def optional_image(docker_client: Any, name: str) -> str:
    """An optional stand-in (containers/<name>/OPTIONAL: not built by the set-up, so not in
    CI): skipped with the reason when it is not built, even with SMLOCAL_REQUIRE_DOCKER=1."""
    import docker.errors

    from orchestrator.client.images_commands import ROOT

    assert (ROOT / "containers" / name / "OPTIONAL").is_file(), f"{name} is not optional"
    tag = f"smlocal/{name}:latest"
    try:
        docker_client.images.get(tag)
    except docker.errors.ImageNotFound:
        pytest.skip(f"optional image {tag} is not built (smlocal images build {name})")
    return tag


@pytest.mark.timeout(900)
def test_tensorflow_estimator_runs_on_the_tensorflow_stand_in(sdk, server, session,
                                                              docker_client, tmp_path):
    from sagemaker.tensorflow import TensorFlow

    stand_in = optional_image(docker_client, "tensorflow-framework")
    est = TensorFlow(entry_point=write_script(tmp_path, TENSORFLOW_TRAIN).name,
                     source_dir=str(tmp_path), framework_version="2.13", py_version="py310",
                     instance_type="ml.m5.large", instance_count=1, role=ROLE,
                     hyperparameters={"max_depth": 3}, metric_definitions=METRICS,
                     output_path=f"s3://{BUCKET}/framework/output", sagemaker_session=session)
    files = fit_and_check(est, server, "tensorflow-training", stand_in)
    assert "1/saved_model.pb" in files, sorted(files)
