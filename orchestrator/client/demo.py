"""The bundled demo: a Bayesian tuning job on the gradient-boosting example container.

Uploads the example data (scikit-learn's bundled breast-cancer set, no download) to our S3,
submits a CreateHyperParameterTuningJob body exactly as one would to AWS, and watches it.
A client like the other commands: S3 and SageMaker through boto3 against the endpoint.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from typing import Any

from orchestrator.client.endpoint import client
from orchestrator.client.tune import submit_and_watch

BUCKET = "smlocal-demo"
IMAGE = "smlocal/gbm:latest"
ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-smlocal"


def example_data(validation_fraction: float = 0.25, seed: int = 0) -> dict[str, str]:
    """Channel name → CSV text (label first, no header); deterministic split."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = int(round(len(y) * validation_fraction))
    parts = {"validation": order[:n_val], "train": order[n_val:]}
    out = {}
    for channel, idx in parts.items():
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for i in idx:
            writer.writerow([int(y[i]), *(f"{v:.6g}" for v in x[i])])
        out[channel] = buf.getvalue()
    return out


def upload_example_data(s3: Any, bucket: str = BUCKET, prefix: str = "gbm/data") -> str:
    """Put train/validation CSVs under s3://bucket/prefix/<channel>/; returns the prefix URI."""
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    for channel, text in example_data().items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{channel}/{channel}.csv", Body=text.encode())
    return f"s3://{bucket}/{prefix}"


def demo_request(name: str, data_uri: str, jobs: int = 20, parallel: int = 4) -> dict[str, Any]:
    metric = r"validation:{}=([0-9.]+(?:[eE][-+]?[0-9]+)?)"
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Minimize",
                                                 "MetricName": "validation:logloss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs,
                               "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": "0.01", "MaxValue": "0.5",
                     "ScalingType": "Logarithmic"},
                    {"Name": "l2_regularization", "MinValue": "0", "MaxValue": "10",
                     "ScalingType": "Linear"}],
                "IntegerParameterRanges": [
                    {"Name": "max_depth", "MinValue": "1", "MaxValue": "8",
                     "ScalingType": "Linear"},
                    {"Name": "max_iter", "MinValue": "10", "MaxValue": "300",
                     "ScalingType": "Logarithmic"},
                    {"Name": "min_samples_leaf", "MinValue": "2", "MaxValue": "60",
                     "ScalingType": "Auto"}],
                "CategoricalParameterRanges": [],
            },
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"eval_every": "10"},
            "AlgorithmSpecification": {
                "TrainingImage": IMAGE, "TrainingInputMode": "File",
                "MetricDefinitions": [
                    {"Name": "validation:logloss", "Regex": metric.format("logloss")},
                    {"Name": "validation:auc", "Regex": metric.format("auc")},
                    {"Name": "validation:accuracy", "Regex": metric.format("accuracy")}]},
            "RoleArn": ROLE,
            "InputDataConfig": [
                {"ChannelName": channel, "ContentType": "text/csv", "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix",
                                     "S3Uri": f"{data_uri}/{channel}/",
                                     "S3DataDistributionType": "FullyReplicated"}}}
                for channel in ("train", "validation")],
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/gbm/output/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
    }


def run_demo(endpoint: str, jobs: int = 20, parallel: int = 4, embedded: bool = False) -> int:
    data_uri = upload_example_data(client("s3", endpoint))
    name = time.strftime("gbm-demo-%y%m%d-%H%M%S")
    print(f"example data uploaded to {data_uri}/{{train,validation}}/")
    return submit_and_watch(endpoint, demo_request(name, data_uri, jobs, parallel), wait=True,
                            embedded=embedded)
