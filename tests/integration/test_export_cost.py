"""Export to "AWS" with real Docker: the gbm example tuned on server A (in-process), exported
with `smlocal export --submit --copy-data` to server B (`smlocal serve` in a child process,
standing for SageMaker), and run to completion there on B's copy of the data; then `smlocal
cost` of both, against the formula over their Describe answers, also once B's job is
imported back into A (`smlocal import`: billed by default)."""

from __future__ import annotations

import json

import pytest

from orchestrator.client.cli import main
from orchestrator.client.demo import demo_request
from orchestrator.server_process import ServerProcess
from tests.integration.e2e import clients, wait_for

# two servers' jobs on a shared 2-core machine: generous, as the rules ask
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]
ECR = "111122223333.dkr.ecr.us-east-1.amazonaws.com/smlocal/gbm:latest"  # runs smlocal/gbm
ROLE = "arn:aws:iam::111122223333:role/SageMakerRole"
PRICE = 0.115  # ml.m5.large in the shipped table


def small_request(name: str, data_uri: str) -> dict:
    """The demo's request with cheap ranges: a few seconds per job even on a loaded machine
    (the full ranges reach 300 iterations of depth 8)."""
    request = demo_request(name, data_uri, 3, 2)
    ints = request["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"]
    for r in ints:
        if r["Name"] in ("max_iter", "max_depth"):
            r.update(MinValue="2", MaxValue="20" if r["Name"] == "max_iter" else "3")
    return request


def status(sm, name: str) -> str:
    return sm.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)["HyperParameterTuningJobStatus"]


def jobs(sm, name: str) -> list[dict]:
    summaries = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)["TrainingJobSummaries"]
    return [sm.describe_training_job(TrainingJobName=s["TrainingJobName"]) for s in summaries]


@pytest.fixture(scope="module")
def server_b(tmp_path_factory, gbm_image):
    b = ServerProcess(tmp_path_factory.mktemp("b") / "state", SMLOCAL_BACKEND="docker")
    yield b
    b.stop()


def test_export_submit_copy_data_runs_on_b_and_cost_matches(server, server_b, monkeypatch,
                                                            capsys):
    app, sm_a, _, data_uri = server
    sm_a.create_hyper_parameter_tuning_job(**small_request("exp-gbm", data_uri))
    wait_for(lambda: status(sm_a, "exp-gbm") in ("Completed", "Failed", "Stopped"),
             timeout=800, what="the tuning job on A")
    assert status(sm_a, "exp-gbm") == "Completed"

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")       # the target's own credential chain
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    code = main(["--endpoint", app.url, "export", "exp-gbm", "--image",
                 f"smlocal/gbm:latest={ECR}", "--bucket", "smlocal-demo=aws-bucket/amt",
                 "--role-arn", ROLE, "--name", "exp-gbm-aws", "--submit", "--to-endpoint",
                 server_b.url, "--copy-data"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip().endswith("hyper-parameter-tuning-job/exp-gbm-aws")

    sm_b, s3_b = clients(server_b.url)
    wait_for(lambda: status(sm_b, "exp-gbm-aws") in ("Completed", "Failed", "Stopped"),
             timeout=800, what="the exported tuning job on B")
    assert status(sm_b, "exp-gbm-aws") == "Completed", server_b.log()[-3000:]
    on_b = jobs(sm_b, "exp-gbm-aws")
    assert len(on_b) == 3
    for d in on_b:
        assert d["TrainingJobStatus"] == "Completed"
        assert d["AlgorithmSpecification"]["TrainingImage"] == ECR
        assert [c["DataSource"]["S3DataSource"]["S3Uri"] for c in d["InputDataConfig"]] == [
            "s3://aws-bucket/amt/gbm/data/train/", "s3://aws-bucket/amt/gbm/data/validation/"]
        assert d["ModelArtifacts"]["S3ModelArtifacts"].startswith("s3://aws-bucket/amt/gbm/")
        assert any(m["MetricName"] == "validation:logloss" for m in d["FinalMetricDataList"])
    keys = {o["Key"] for o in s3_b.list_objects_v2(Bucket="aws-bucket",
                                                   Prefix="amt/gbm/data/")["Contents"]}
    assert keys == {"amt/gbm/data/train/train.csv", "amt/gbm/data/validation/validation.csv"}

    # cost on A (projected from measured time) and on B as if billed by SageMaker
    assert main(["--endpoint", app.url, "cost", "exp-gbm", "--json"]) == 0
    projected = json.loads(capsys.readouterr().out)
    measured = [(d["TrainingEndTime"] - d["TrainingStartTime"]).total_seconds()
                for d in jobs(sm_a, "exp-gbm")]
    assert projected["kind"] == "projected"
    assert projected["total"] == pytest.approx(sum(measured) * PRICE / 3600)
    assert main(["--endpoint", server_b.url, "cost", "exp-gbm-aws", "--billed", "--json"]) == 0
    billed = json.loads(capsys.readouterr().out)
    assert billed["total"] == pytest.approx(
        sum(d["BillableTimeInSeconds"] for d in on_b) * PRICE / 3600)

    # imported back into A, the job is priced as billed without being told
    assert main(["--endpoint", app.url, "import", "exp-gbm-aws", "--from-endpoint",
                 server_b.url]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["--endpoint", app.url, "cost", "exp-gbm-aws", "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert imported["kind"] == "billed" and imported["total"] == pytest.approx(billed["total"])
