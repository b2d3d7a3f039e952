"""`smlocal compare` through the CLI against the real app on the scripted fake backend: the JSON
asserted field by field against what the public API says, the HTML page, and bad input."""

from __future__ import annotations

import json

import boto3
import pytest

from orchestrator.app import SmlocalApp
from orchestrator.client.cli import main
from orchestrator.clock import FakeClock
from orchestrator.config import Settings
from orchestrator.controller.harness import quadratic, tuning_request
from orchestrator.runner.fake import FakeBackend
from tests.fake_backed import START, step_until


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    clock = FakeClock(START)
    app = SmlocalApp(settings=Settings(state_dir=tmp_path_factory.mktemp("state"),
                                       backend="fake"),
                     port=0, clock=clock, backend=FakeBackend(quadratic, clock)).start()
    sm = boto3.client("sagemaker", endpoint_url=app.url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")
    sm.create_hyper_parameter_tuning_job(**tuning_request("cmp-random", "Random", 6, 2))
    sm.create_hyper_parameter_tuning_job(**tuning_request("cmp-bayes", "Bayesian", 5, 1))

    def done():
        return all(sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=n)[
            "HyperParameterTuningJobStatus"] == "Completed" for n in ("cmp-random", "cmp-bayes"))

    step_until(app, done, "both tuning jobs complete", timeout=120)
    yield app, sm
    app.stop()


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def summaries(sm, name):
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, MaxResults=100)["TrainingJobSummaries"]
    return sorted(jobs, key=lambda s: (s["CreationTime"], s["TrainingJobName"]))


def test_compare_json_field_by_field(server, capsys, tmp_path):
    app, sm = server
    html = tmp_path / "c.html"
    code, out, _ = run_cli(capsys, "--endpoint", app.url, "compare", "cmp-random", "cmp-bayes",
                           "--json", "--html", str(html))
    assert code == 0
    result = json.loads(out)
    assert result["same_objective"] is True
    assert result["request_differences"] == [
        {"path": "HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs",
         "values": {"cmp-random": 6, "cmp-bayes": 5}},
        {"path": "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs",
         "values": {"cmp-random": 2, "cmp-bayes": 1}},
        {"path": "HyperParameterTuningJobConfig.Strategy",
         "values": {"cmp-random": "Random", "cmp-bayes": "Bayesian"}}]
    bests = {}
    for run in result["runs"]:
        name = run["name"]
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        jobs = summaries(sm, name)
        values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in jobs]
        assert run["status"] == "Completed" and run["jobs"] == len(jobs) == len(values)
        assert run["training_job_status_counters"] == d["TrainingJobStatusCounters"]
        assert run["objective_status_counters"] == d["ObjectiveStatusCounters"]
        b = d["BestTrainingJob"]
        assert run["best"]["training_job"] == b["TrainingJobName"]
        assert run["best"]["value"] == b["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        assert run["best"]["hyperparameters"] == b["TunedHyperParameters"]
        assert run["best"]["index"] == values.index(min(values)) + 1
        assert run["quantiles"]["min"] == min(values) and run["quantiles"]["max"] == max(values)
        running = [min(values[:i + 1]) for i in range(len(values))]
        assert [v for _, v in run["best_so_far"]["by_index"]] == running
        best = min(values)
        assert run["jobs_to_within"]["1%"] == next(
            i + 1 for i, v in enumerate(running) if v <= best + 0.01 * abs(best))
        depths = {s["TunedHyperParameters"]["depth"] for s in jobs}
        assert run["coverage"]["depth"]["span"] == pytest.approx(
            (max(map(int, depths)) - min(map(int, depths))) / 8)
        assert run["failed"] == 0 and run["stopped"] == 0
        # cost through cost.py's function API; best-so-far against cumulative cost by hand
        cost = run["cost"]
        assert cost["kind"] == "projected" and cost["currency"] == "USD"
        per_job = [cost["per_job"][s["TrainingJobName"]] for s in jobs]
        assert cost["total"] == pytest.approx(sum(per_job))
        spent = [sum(per_job[:i + 1]) for i in range(len(per_job))]
        assert run["best_so_far"]["by_cost"] == [[pytest.approx(c), v]
                                                 for c, v in zip(spent, running, strict=True)]
        bests[name] = (best, running)
    for a, b in (("cmp-random", "cmp-bayes"), ("cmp-bayes", "cmp-random")):
        target, running = bests[b][0], bests[a][1]
        expect = next((i + 1 for i, v in enumerate(running) if v <= target), None)
        assert result["jobs_to_reach"][a][b] == expect
    page = html.read_text()
    assert page.count('data-chart="best-by-') == 3 and "cmp-bayes" in page
    assert "<script src" not in page and 'href="http' not in page and "url(http" not in page


def test_compare_terminal_table(server, capsys):
    app, _ = server
    code, out, _ = run_cli(capsys, "--endpoint", app.url, "compare", "cmp-random", "cmp-bayes")
    assert code == 0
    assert "jobs to within 1% of best" in out and "Request differences (3)" in out


@pytest.mark.parametrize("argv, code, message", [
    (["compare", "cmp-random"], 2, "at least two"),
    (["compare", "cmp-random", "cmp-random"], 2, "named twice"),
    (["compare", "cmp-random", "nope"], 2, "ResourceNotFound"),
])
def test_compare_bad_input(server, capsys, argv, code, message):
    app, _ = server
    got, _, err = run_cli(capsys, "--endpoint", app.url, *argv)
    assert got == code and message in err


def test_compare_wrong_endpoint(capsys):
    got, _, err = run_cli(capsys, "--endpoint", "http://127.0.0.1:9", "compare", "a", "b")
    assert got == 4 and "cannot reach" in err
