"""`smlocal race` on the gbm example container under real Docker: Bayesian, Random, Grid and
Hyperband each run the same request with the same budget (4 training jobs, 2 in parallel), and
the jobs-to-reach figures equal a computation from each run's own training jobs as
ListTrainingJobsForHyperParameterTuningJob returns them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from orchestrator.client.demo import demo_request

# 16 real training jobs one run after another: more than pytest-timeout's 600 s on a busy machine
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(2400)]

STRATEGIES = ["Bayesian", "Random", "Grid", "Hyperband"]
BUDGET, PARALLEL = 4, 2  # Grid: 2 depths x 2 learning rates, the same 4 jobs


def race_request(data: str) -> dict:
    req = demo_request("race-gbm", data, jobs=BUDGET, parallel=PARALLEL)
    config = req["HyperParameterTuningJobConfig"]
    config["ParameterRanges"] = {
        "ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": "0.02",
                                       "MaxValue": "0.5", "ScalingType": "Logarithmic"}],
        "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "4",
                                    "ScalingType": "Linear"}]}
    # 40 rounds, metrics every 10: four values before the final one (Hyperband's resource)
    req["TrainingJobDefinition"]["StaticHyperParameters"] = {"max_iter": "40",
                                                             "eval_every": "10"}
    return req


def by_hand(sm, name: str) -> tuple[list[float], float]:
    """Best-so-far per training job in creation order (jobs with an objective), and the best."""
    jobs, kwargs = [], {"HyperParameterTuningJobName": name, "MaxResults": 100}
    while True:
        page = sm.list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
        jobs += page["TrainingJobSummaries"]
        if "NextToken" not in page:
            break
        kwargs["NextToken"] = page["NextToken"]
    jobs.sort(key=lambda s: (s["CreationTime"], s["TrainingJobName"]))
    assert len(jobs) == BUDGET
    running, out = None, []
    for i, s in enumerate(jobs, 1):
        metric = s.get("FinalHyperParameterTuningJobObjectiveMetric")
        if metric:
            running = metric["Value"] if running is None else min(running, metric["Value"])
            out.append((i, running))
    return out, running


def test_race_on_the_gbm_example(server, tmp_path):
    app, sm, _, data = server
    path = tmp_path / "request.json"
    path.write_text(json.dumps(race_request(data)))
    html = tmp_path / "race.html"
    run = subprocess.run(
        [sys.executable, "-m", "orchestrator.client.cli", "--endpoint", app.url, "race",
         str(path), "--strategies", ",".join(STRATEGIES), "--name-prefix", "gbm-race",
         "--hyperband-min-resource", "1", "--hyperband-max-resource", "4", "--json",
         "--html", str(html)], capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(run.stdout)  # progress went to stderr
    race = result["race"]
    assert list(race["runs"]) == STRATEGIES
    assert race["budget"] == dict.fromkeys(STRATEGIES, BUDGET)
    assert race["parallel"] == dict.fromkeys(STRATEGIES, PARALLEL)
    runs = {r["name"]: r for r in result["runs"]}
    curves, bests = {}, {}
    for strategy, name in race["runs"].items():
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        assert d["HyperParameterTuningJobConfig"]["Strategy"] == strategy
        assert d["HyperParameterTuningJobStatus"] == "Completed"
        assert runs[name]["jobs"] == BUDGET
        curves[strategy], bests[strategy] = by_hand(sm, name)
        assert runs[name]["best_so_far"]["by_index"] == [list(p) for p in curves[strategy]]
        assert runs[name]["best"]["value"] == bests[strategy]
    grid = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=race["runs"][
        "Grid"])["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert grid["CategoricalParameterRanges"] == [
        {"Name": "max_depth", "Values": ["2", "4"]},
        {"Name": "learning_rate", "Values": ["0.02", "0.5"]}]
    for a in STRATEGIES:
        for b in STRATEGIES:
            if a != b:
                expect = next((i for i, v in curves[a] if v <= bests[b]), None)
                assert race["jobs_to_reach"][a][b] == expect, (a, b)
    page = html.read_text()
    assert page.count('data-chart="best-by-') == 3  # against jobs, wall time, cost
    assert all(f"gbm-race-{s.lower()}" in page for s in STRATEGIES)
