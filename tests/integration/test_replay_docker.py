"""`smlocal replay` with real Docker and two servers (issue 11 item 4): the gbm example tuned on
server B (standing for SageMaker), imported into server A with `smlocal import --from-endpoint`,
then `smlocal replay --top 5` on A runs B's five best configurations in real containers. The
report's objectives, differences and rank correlations are checked against a hand computation
from the two servers' ListTrainingJobsForHyperParameterTuningJob answers, and `compare` of the
imported job and its replay against the same data."""

from __future__ import annotations

import json
import math

import pytest

from orchestrator.client.cli import main
from orchestrator.client.demo import demo_request, upload_example_data
from orchestrator.server_process import ServerProcess
from tests.integration.e2e import clients, wait_for

# 6 + 5 real training jobs on a busy machine: more than pytest-timeout's default 600 s
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(2400)]
NAME = "rpl-gbm"
ENDED = ("Completed", "Failed", "Stopped")


@pytest.fixture(scope="module")
def servers(tmp_path_factory, gbm_image):
    a = ServerProcess(tmp_path_factory.mktemp("a") / "state", SMLOCAL_BACKEND="docker")
    b = ServerProcess(tmp_path_factory.mktemp("b") / "state", SMLOCAL_BACKEND="docker")
    yield a, b
    a.stop()
    b.stop()


def status(sm, name: str) -> str:
    return sm.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)["HyperParameterTuningJobStatus"]


def jobs(sm, name: str) -> list[dict]:
    out = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, MaxResults=100)["TrainingJobSummaries"]
    return sorted(out, key=lambda s: (s["CreationTime"], s["TrainingJobName"]))


def value(s: dict) -> float:
    return s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]


def average_ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(a: list[float], b: list[float]) -> float:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    return cov / math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))


def kendall_tau_b(a: list[float], b: list[float]) -> float:
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif da * db > 0:
                concordant += 1
            else:
                discordant += 1
    n_a = concordant + discordant + ties_b  # pairs not tied in a
    n_b = concordant + discordant + ties_a
    return (concordant - discordant) / math.sqrt(n_a * n_b)


def test_replay_top_5_of_an_imported_job(servers, capsys):
    a, b = servers
    sm_a, s3_a = clients(a.url)
    sm_b, s3_b = clients(b.url)
    data = upload_example_data(s3_b)
    assert upload_example_data(s3_a) == data  # the same data under the same URI on both
    req = demo_request(NAME, data, jobs=6, parallel=2)
    config = req["HyperParameterTuningJobConfig"]
    config["Strategy"] = "Random"
    for r in config["ParameterRanges"]["IntegerParameterRanges"]:
        if r["Name"] == "max_iter":  # short jobs
            r.update(MinValue="10", MaxValue="60")
    sm_b.create_hyper_parameter_tuning_job(**req)
    wait_for(lambda: status(sm_b, NAME) in ENDED, timeout=1200, every=2,
             what="the tuning job on server B")
    assert status(sm_b, NAME) == "Completed"

    assert main(["--endpoint", a.url, "import", NAME, "--from-endpoint", b.url]) == 0
    capsys.readouterr()
    code = main(["--endpoint", a.url, "replay", NAME, "--top", "5", "--parallel", "2",
                 "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    result = json.loads(captured.out)
    replay = f"{NAME}-replay"
    assert result["replay"] == replay and status(sm_a, replay) == "Completed"

    remote = sorted((s for s in jobs(sm_b, NAME) if s.get(
        "FinalHyperParameterTuningJobObjectiveMetric")), key=value)[:5]
    local = jobs(sm_a, replay)
    assert [s["TunedHyperParameters"] for s in local] == [
        s["TunedHyperParameters"] for s in remote]  # the same configurations, in that order
    r, m = [value(s) for s in remote], [value(s) for s in local]
    rows = result["configurations"]
    assert [x["remote_training_job"] for x in rows] == [s["TrainingJobName"] for s in remote]
    assert [x["local_training_job"] for x in rows] == [s["TrainingJobName"] for s in local]
    assert [x["remote_objective"] for x in rows] == r
    assert [x["local_objective"] for x in rows] == m
    assert [x["difference"] for x in rows] == [pytest.approx(y - x) for x, y in zip(r, m,
                                                                                      strict=True)]
    assert result["pairs"] == 5
    assert result["spearman"] == pytest.approx(pearson(average_ranks(r), average_ranks(m)))
    assert result["kendall"] == pytest.approx(kendall_tau_b(r, m))
    assert result["best_same"] is (min(range(5), key=r.__getitem__)
                                   == min(range(5), key=m.__getitem__))

    # compare the imported job and its replay: the bests are the data's
    assert main(["--endpoint", a.url, "compare", NAME, replay, "--json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    by_name = {x["name"]: x for x in cmp["runs"]}
    assert by_name[NAME]["best"]["value"] == min(value(s) for s in jobs(sm_b, NAME)
                                                 if s.get("FinalHyperParameterTuningJobObjectiveMetric"))
    assert by_name[replay]["best"]["value"] == min(m)
    assert by_name[NAME]["jobs"] == 6 and by_name[replay]["jobs"] == 5
    assert {d["path"] for d in cmp["request_differences"]} >= {
        "HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs"}
