"""The SageMaker Python SDK v2 against smlocal, with only the endpoint changed.

Recipe (what a user writes; the README copies it):

1. Point every AWS client of the process at smlocal, with any region and dummy credentials::

       export AWS_ENDPOINT_URL=http://127.0.0.1:4577   # botocore >= 1.34 honours it
       export AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x

   AWS_ENDPOINT_URL sends SageMaker, S3 *and* CloudWatch Logs (the SDK tails training logs
   through it: `Estimator.fit()` has `logs="All"` by default) to smlocal, so nothing can reach
   AWS by accident.

2. Build the session with the bucket and telemetry set explicitly, and always pass `role=`::

       session = sagemaker.Session(
           default_bucket="my-bucket",          # else the SDK asks STS (on AWS) for the account
           sagemaker_config={"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {
               "Modules": {"TelemetryOptOut": True}}}})   # else fit() calls an AWS URL

   `role` must be an ARN string: `sagemaker.get_execution_role()` asks IAM/STS on AWS.
   `sagemaker_config=` also keeps the SDK from applying ~/.config/sagemaker/config.yaml.

Without environment variables (one process talking to AWS and to smlocal), give the clients
explicitly: `sagemaker.Session(boto_session=boto3.Session(region_name=..., aws_access_key_id=..,
aws_secret_access_key=..), sagemaker_client=<sagemaker client with endpoint_url>, ...)` and then
set `session.s3_client` / `session.s3_resource` to S3 clients with `endpoint_url` (the Session
constructor has no parameter for them). The SDK still creates its CloudWatch Logs client from the
boto session, so either also export `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS` (botocore names it after the service id "CloudWatch Logs"), or pass `logs="None"` to `fit()`.
`tests.sdk_v2.explicit_session` is that recipe; the tuner test uses it, the estimator test the first.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import tarfile
import time
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from orchestrator.app import SmlocalApp
from orchestrator.client.demo import upload_example_data
from orchestrator.config import Settings
from tests.sdk_v2 import DUMMY_CREDENTIALS, REGION, TELEMETRY_OFF, explicit_session, sdk_v2

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROLE = "arn:aws:iam::123456789012:role/x"
BUCKET = "smlocal-sdk"
OBJECTIVE = "validation:logloss"
NUMBER = r"([0-9.]+(?:[eE][-+]?[0-9]+)?)"
METRICS = [{"Name": f"validation:{m}", "Regex": f"validation:{m}={NUMBER}"}
           for m in ("logloss", "auc", "accuracy")]


@pytest.fixture(scope="module")
def sdk() -> Any:
    """The `sagemaker` package (v2); skips, or fails under SMLOCAL_REQUIRE_DOCKER=1, without it."""
    return sdk_v2()


@pytest.fixture(scope="module")
def server(sdk, tmp_path_factory, docker_client, gbm_image) -> Any:
    """A real smlocal on a free port: `.url`, and `.data_uri` (example CSVs in our S3)."""
    app = SmlocalApp(settings=Settings(state_dir=tmp_path_factory.mktemp("state"),
                                       stop_grace_seconds=2.0), port=0).start()
    try:
        s3 = client(app.url, "s3")
        s3.create_bucket(Bucket=BUCKET)
        yield SimpleNamespace(url=app.url, data_uri=upload_example_data(s3))
        stop_running_jobs(client(app.url, "sagemaker"))
    finally:
        app.stop()  # leaves containers running (a restart re-adopts them), hence the above


def stop_running_jobs(sm: Any, timeout: float = 60) -> None:
    """After a failed test: stop what is still running so that no container outlives us."""
    for summary in sm.list_training_jobs(StatusEquals="InProgress",
                                         MaxResults=100)["TrainingJobSummaries"]:
        sm.stop_training_job(TrainingJobName=summary["TrainingJobName"])
    deadline = time.monotonic() + timeout
    while sm.list_training_jobs(StatusEquals="Stopping", MaxResults=100)["TrainingJobSummaries"]:
        assert time.monotonic() < deadline, "training jobs still Stopping after the tests"
        time.sleep(0.5)


def client(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=REGION, **DUMMY_CREDENTIALS)


def inputs(data_uri: str) -> dict[str, Any]:
    from sagemaker.inputs import TrainingInput

    return {ch: TrainingInput(f"{data_uri}/{ch}/", content_type="text/csv")
            for ch in ("train", "validation")}


def estimator(sdk: Any, session: Any, image: str, **hyperparameters: Any) -> Any:
    from sagemaker.estimator import Estimator

    return Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                     output_path=f"s3://{BUCKET}/sdk/output", hyperparameters=hyperparameters,
                     metric_definitions=METRICS, sagemaker_session=session)


def final_metric(job: dict[str, Any], name: str = OBJECTIVE) -> float:
    values = [m["Value"] for m in job.get("FinalMetricDataList", []) if m["MetricName"] == name]
    assert values, f"{job['TrainingJobName']} has no final {name}: {job.get('FinalMetricDataList')}"
    return values[0]


def assert_model_in_s3(s3: Any, uri: str) -> None:
    """`uri` is an object in our S3 and a gzip tarball with at least one file."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert any(m.isfile() for m in tar.getmembers()), f"{uri} holds no file"


@pytest.mark.timeout(300)
def test_estimator_fit_single_training_job(sdk, server, gbm_image, monkeypatch, capsys):
    for name, value in {"AWS_ENDPOINT_URL": server.url, "AWS_DEFAULT_REGION": REGION,
                        "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(name, value)
    session = sdk.Session(default_bucket=BUCKET, sagemaker_config=TELEMETRY_OFF)
    est = estimator(sdk, session, gbm_image, max_iter=20, learning_rate=0.1, max_depth=3)

    est.fit(inputs(server.data_uri))  # wait=True, logs="All": tails the logs as on AWS

    job_name = est.latest_training_job.name
    job = client(server.url, "sagemaker").describe_training_job(TrainingJobName=job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["HyperParameters"] == {"max_iter": "20", "learning_rate": "0.1", "max_depth": "3"}
    assert est.model_data == job["ModelArtifacts"]["S3ModelArtifacts"] == (
        f"s3://{BUCKET}/sdk/output/{job_name}/output/model.tar.gz")
    assert_model_in_s3(client(server.url, "s3"), est.model_data)
    # The container's own log, as the SDK printed it, agrees with the parsed final metric.
    printed = capsys.readouterr().out
    final = re.search(rf"\[final\] .*{OBJECTIVE}={NUMBER}", printed)
    assert final, f"the SDK did not print the training log:\n{printed[-2000:]}"
    assert final_metric(job) == pytest.approx(float(final.group(1)))

    # TrainingJobAnalytics: the series through CloudWatch GetMetricStatistics (the SDK's own
    # request, 1-s periods), the same points a direct call returns, ending at the final value.
    from sagemaker.analytics import TrainingJobAnalytics

    frame = TrainingJobAnalytics(job_name, metric_names=[OBJECTIVE], sagemaker_session=session,
                                 period=1).dataframe().sort_values("timestamp")
    assert len(frame) > 0 and set(frame["metric_name"]) == {OBJECTIVE}
    direct = sorted(client(server.url, "cloudwatch").get_metric_statistics(
        Namespace="/aws/sagemaker/TrainingJobs", MetricName=OBJECTIVE,
        Dimensions=[{"Name": "TrainingJobName", "Value": job_name}],
        StartTime=job["TrainingStartTime"], EndTime=job["TrainingEndTime"] + dt.timedelta(
            minutes=1), Period=1, Statistics=["Average", "Minimum", "Maximum"],
    )["Datapoints"], key=lambda p: p["Timestamp"])
    assert list(frame["value"]) == pytest.approx([p["Average"] for p in direct])
    assert direct[-1]["Minimum"] <= final_metric(job) <= direct[-1]["Maximum"]


@pytest.mark.timeout(300)
def test_hyperparameter_tuner_fit_wait_attach_analytics(sdk, server, gbm_image):
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter

    session = explicit_session(server.url, BUCKET, sdk)
    sm, s3 = session.sagemaker_client, session.s3_client
    tuner = HyperparameterTuner(
        estimator(sdk, session, gbm_image, max_iter=20),
        objective_metric_name=OBJECTIVE, objective_type="Minimize",
        hyperparameter_ranges={
            "learning_rate": ContinuousParameter(0.01, 0.5, scaling_type="Logarithmic"),
            "max_depth": IntegerParameter(1, 6)},
        metric_definitions=METRICS, max_jobs=4, max_parallel_jobs=2, strategy="Bayesian")

    tuner.fit(inputs(server.data_uri), wait=False)
    name = tuner.latest_tuning_job.name
    assert re.fullmatch(r"gbm-\d{6}-\d{4}", name), name  # SDK default: <image repo>-%y%m%d-%H%M
    tuner.wait()

    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 4
    ranges = described["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert ranges["ContinuousParameterRanges"][0]["ScalingType"] == "Logarithmic"
    summaries = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, MaxResults=100)["TrainingJobSummaries"]
    jobs = {s["TrainingJobName"]: sm.describe_training_job(TrainingJobName=s["TrainingJobName"])
            for s in summaries}
    assert len(jobs) == 4
    objective = {n: final_metric(j) for n, j in jobs.items()}
    for job in jobs.values():
        hp = job["HyperParameters"]
        assert 0.01 <= float(hp["learning_rate"]) <= 0.5 and 1 <= int(hp["max_depth"]) <= 6
        assert hp["max_iter"] == "20" and hp["_tuning_objective_metric"] == OBJECTIVE

    # best_training_job(): the minimum of the jobs' own final objective values.
    best = tuner.best_training_job()
    assert objective[best] == min(objective.values())

    # attach() rebuilds the tuner from Describe alone.
    attached = HyperparameterTuner.attach(name, sagemaker_session=session)
    assert attached.best_training_job() == best
    assert (attached.objective_metric_name, attached.objective_type) == (OBJECTIVE, "Minimize")
    assert (attached.max_jobs, attached.max_parallel_jobs) == (4, 2)
    attached_ranges = attached.hyperparameter_ranges()
    assert {r["Name"] for kind in attached_ranges.values() for r in kind} == {
        "learning_rate", "max_depth"}
    assert attached.estimator.image_uri == gbm_image
    assert attached.estimator.hyperparameters() == {"max_iter": "20"}

    # analytics(): one row per training job, objective and hyperparameters as described.
    frame = tuner.analytics().dataframe()
    assert sorted(frame["TrainingJobName"]) == sorted(jobs)
    for row in frame.to_dict("records"):
        job = jobs[row["TrainingJobName"]]
        assert row["TrainingJobStatus"] == "Completed"
        assert row["FinalObjectiveValue"] == pytest.approx(objective[row["TrainingJobName"]])
        assert row["learning_rate"] == pytest.approx(float(job["HyperParameters"]["learning_rate"]))
        assert row["max_depth"] == int(job["HyperParameters"]["max_depth"])

    # best_estimator(): Estimator.attach() on the best job; its model is really in S3.
    best_estimator = tuner.best_estimator()
    assert best_estimator.latest_training_job.name == best
    assert best_estimator.model_data == jobs[best]["ModelArtifacts"]["S3ModelArtifacts"]
    assert_model_in_s3(s3, best_estimator.model_data)
