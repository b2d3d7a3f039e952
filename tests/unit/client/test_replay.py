"""`smlocal replay` and `SmLocal.CreateFixedPointsTuningJob` against the real app on the scripted
fake backend: the replay runs exactly the chosen configurations in order, and the report's
differences and rank correlations equal a hand computation. The fake training script gives
replayed jobs a different objective (a deterministic perturbation), so local and remote differ."""

from __future__ import annotations

import json
import threading
import time
import zlib

import boto3
import pytest
from botocore.exceptions import ClientError

from orchestrator.app import SmlocalApp
from orchestrator.client.cli import main
from orchestrator.client.extensions import call
from orchestrator.client.replay import report, select
from orchestrator.clock import FakeClock
from orchestrator.config import Settings
from orchestrator.controller.harness import tuning_request
from orchestrator.runner.base import JobSpec
from orchestrator.runner.fake import FakeBackend, FakeScript
from tests.fake_backed import START


def loss(spec: JobSpec) -> float:
    hp = spec.hyperparameters
    base = (float(hp["lr"]) - 0.3) ** 2 + int(hp["depth"]) / 100
    if "-replay-" in spec.name or spec.name.startswith("again-"):  # "another machine"
        base += (zlib.crc32(hp["lr"].encode()) % 1000) / 20000
    return base


def script(spec: JobSpec) -> FakeScript:
    if spec.name.startswith("slow-"):  # runs until stopped (one line per backend step)
        return FakeScript(lines=["loss=1.0"] * 1_000_000)
    return FakeScript(lines=[f"loss={loss(spec):.6f}"])


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    clock = FakeClock(START)
    app = SmlocalApp(settings=Settings(state_dir=tmp_path_factory.mktemp("state"),
                                       backend="fake"), port=0, clock=clock,
                     backend=FakeBackend(script, clock)).start()
    stop = threading.Event()

    def stepper():
        while not stop.is_set():
            app.backend.step()
            time.sleep(0.05)

    thread = threading.Thread(target=stepper, daemon=True)
    thread.start()
    sm = boto3.client("sagemaker", endpoint_url=app.url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")
    sm.create_hyper_parameter_tuning_job(**tuning_request("src", "Random", 8, 3))
    deadline = time.monotonic() + 120
    while sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="src")[
            "HyperParameterTuningJobStatus"] != "Completed":
        assert time.monotonic() < deadline, "source tuning job did not complete"
        time.sleep(0.2)
    yield app, sm
    stop.set()
    thread.join(timeout=5)
    app.stop()


def summaries(sm, name):
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, MaxResults=100)["TrainingJobSummaries"]
    return sorted(jobs, key=lambda s: (s["CreationTime"], s["TrainingJobName"]))


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    out = [0.0] * len(xs)
    for r, i in enumerate(order, 1):
        out[i] = float(r)  # no ties in these data
    return out


def spearman_by_hand(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    return 1 - 6 * sum((x - y) ** 2 for x, y in zip(ra, rb, strict=True)) / (n * (n * n - 1))


def kendall_by_hand(a, b):
    c = d = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            s = (a[i] - a[j]) * (b[i] - b[j])
            c, d = c + (s > 0), d + (s < 0)
    return (c - d) / (c + d)


def value(s):
    return s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]


def test_replay_top_k_through_the_cli(app, capsys):
    app_, sm = app
    code = main(["--endpoint", app_.url, "replay", "src", "--top", "5", "--parallel", "2",
                 "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    src = summaries(sm, "src")
    top = sorted(src, key=value)[:5]
    assert result["source"] == "src" and result["replay"] == "src-replay"
    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="src-replay")
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["HyperParameterTuningJobConfig"]["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 2}
    tags = sm.list_tags(ResourceArn=d["HyperParameterTuningJobArn"])["Tags"]
    assert {"Key": "smlocal:strategy", "Value": "FixedPoints"} in tags
    assert {"Key": "smlocal:replay-of", "Value": "src"} in tags
    local = summaries(sm, "src-replay")
    # the i-th local job ran the i-th best configuration of the source
    assert [s["TunedHyperParameters"] for s in local] == [s["TunedHyperParameters"] for s in top]
    remote_values, local_values = [value(s) for s in top], [value(s) for s in local]
    rows = result["configurations"]
    assert [r["remote_objective"] for r in rows] == remote_values
    assert [r["local_objective"] for r in rows] == local_values
    assert [r["difference"] for r in rows] == [
        pytest.approx(b - a) for a, b in zip(remote_values, local_values, strict=True)]
    assert any(r["difference"] != 0 for r in rows)
    assert result["pairs"] == 5
    assert result["spearman"] == pytest.approx(spearman_by_hand(remote_values, local_values))
    assert result["kendall"] == pytest.approx(kendall_by_hand(remote_values, local_values))
    best_remote = min(range(5), key=lambda i: remote_values[i])
    best_local = min(range(5), key=lambda i: local_values[i])
    assert result["best_same"] is (best_remote == best_local)
    assert result["remote_best"] == best_remote + 1 and result["local_best"] == best_local + 1


def test_replay_terminal_report(app, capsys):
    app_, _ = app
    assert main(["--endpoint", app_.url, "replay", "src", "--top", "2", "--name",
                 "again-src"]) == 0
    out = capsys.readouterr().out
    assert "src replayed as again-src" in out and "Spearman" in out


@pytest.mark.parametrize("argv, message", [
    (["replay", "nope"], "ResourceNotFound"),
    (["replay", "src", "--top", "0"], "--top must be at least 1"),
    (["replay", "src", "--name", "src"], "ResourceInUse"),
    (["replay", "src", "--name", "bad_name!"], "ValidationException"),
])
def test_replay_bad_input(app, capsys, argv, message):
    app_, _ = app
    assert main(["--endpoint", app_.url, *argv]) == 2
    assert message in capsys.readouterr().err


def test_replay_refuses_a_running_source(app, capsys):
    app_, sm = app
    sm.create_hyper_parameter_tuning_job(**tuning_request("slow", "Random", 2, 1))
    try:
        assert main(["--endpoint", app_.url, "replay", "slow"]) == 2
        assert "slow is InProgress: replay a tuning job once it has ended" in \
            capsys.readouterr().err
    finally:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="slow")


def test_extension_rejects_points_outside_the_ranges(app):
    app_, sm = app
    body = tuning_request("pts", "Random", 1, 1)
    with pytest.raises(ClientError) as err:
        call(app_.url, "CreateFixedPointsTuningJob", {"TuningJob": body, "Points": [
            {"lr": "0.5", "depth": "3"}, {"lr": "7", "depth": "3"}, {"lr": "0.5"}]})
    e = err.value.response["Error"]
    assert e["Code"] == "ValidationException"
    assert e["Message"] == ("Points[1]: lr='7' is not a number in [0.0, 1.0]; "
                            "Points[2]: missing tuned hyperparameters depth")
    with pytest.raises(ClientError):
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="pts")


def test_select_top_and_dedupe():
    tuning = tuning_request()
    tuning["HyperParameterTuningJobName"] = "t"

    def s(name, v, lr):
        out = {"TrainingJobName": name, "TunedHyperParameters": {"lr": lr, "depth": "1"}}
        if v is not None:
            out["FinalHyperParameterTuningJobObjectiveMetric"] = {"Value": v}
        return out

    jobs = [s("a", 0.5, "0.1"), s("b", None, "0.2"), s("c", 0.2, "0.3"), s("d", 0.2, "0.3"),
            s("e", 0.9, "0.4")]
    assert [j["TrainingJobName"] for j in select(tuning, jobs, None)] == ["a", "b", "c", "e"]
    assert [j["TrainingJobName"] for j in select(tuning, jobs, 2)] == ["c", "a"]
    rep = report({**tuning, "HyperParameterTuningJobStatus": "Completed"}, jobs[:1],
                 {"HyperParameterTuningJobName": "r", "HyperParameterTuningJobStatus": "Completed"},
                 [])
    assert rep["pairs"] == 0 and rep["spearman"] is None and rep["best_same"] is None
