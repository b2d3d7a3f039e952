"""`smlocal race`: planning by hand (grid levels, variants), every variant accepted by the real
service's rules, and a whole race through the CLI on the scripted fake backend."""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest

from orchestrator.app import SmlocalApp
from orchestrator.client.cli import main
from orchestrator.client.race import (
    RaceError,
    grid_levels,
    grid_ranges,
    strategies_from,
    variants,
)
from orchestrator.clock import FakeClock
from orchestrator.config import Settings
from orchestrator.controller.harness import quadratic, tuning_request
from orchestrator.runner.fake import FakeBackend
from tests.fake_backed import START

ALL = ["Bayesian", "Random", "Grid", "Hyperband"]


def test_grid_levels_by_hand():
    assert grid_levels([3, 100], 6) == [3, 2]          # 6 points; (2, 3) is as balanced
    assert grid_levels([9, 100], 8) == [4, 2]
    assert grid_levels([2, 2], 10) == [2, 2]           # capped by the integer ranges
    assert grid_levels([100, 100, 100], 27) == [3, 3, 3]
    assert grid_levels([], 5) == []


def test_grid_ranges_levels_by_hand():
    ranges = {"ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.01",
                                             "MaxValue": "1", "ScalingType": "Logarithmic"}],
              "IntegerParameterRanges": [{"Name": "depth", "MinValue": "1", "MaxValue": "3"}],
              "CategoricalParameterRanges": [{"Name": "opt", "Values": ["a", "b"]}]}
    out = grid_ranges(ranges, 12)  # 12 // 2 = 6 numeric points: depth 3 x lr 2
    assert out == {"CategoricalParameterRanges": [
        {"Name": "opt", "Values": ["a", "b"]},
        {"Name": "depth", "Values": ["1", "2", "3"]},
        {"Name": "lr", "Values": ["0.01", "1"]}]}
    assert grid_ranges(ranges, 13)["CategoricalParameterRanges"][2]["Values"] == ["0.01", "1"]
    three = grid_ranges({"ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "0.01", "MaxValue": "1", "ScalingType": "Logarithmic"}]}, 3)
    assert three["CategoricalParameterRanges"][0]["Values"] == ["0.01", "0.1", "1"]
    with pytest.raises(RaceError, match="categorical ranges alone have 2 combinations"):
        grid_ranges(ranges, 1)


def test_strategies_and_names():
    assert strategies_from("bayesian, Grid") == ["Bayesian", "Grid"]
    with pytest.raises(RaceError, match="unknown strategy Annealing"):
        strategies_from("Bayesian,Annealing")
    with pytest.raises(RaceError, match="named twice"):
        strategies_from("Random,random")
    with pytest.raises(RaceError, match="not a valid name"):
        variants(tuning_request(), ["Hyperband"], "p" * 30)


def test_variants_share_budget_and_parallelism():
    plan = variants(tuning_request(max_jobs=9, parallel=3), ALL, "r", max_resource=4)
    assert list(plan) == ALL
    for strategy, v in plan.items():
        config = v["HyperParameterTuningJobConfig"]
        assert v["HyperParameterTuningJobName"] == f"r-{strategy.lower()}"
        assert config["Strategy"] == strategy
        assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 9,
                                            "MaxParallelTrainingJobs": 3}
    grid = plan["Grid"]["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert [r["Name"] for r in grid["CategoricalParameterRanges"]] == ["depth", "lr"]
    hb = plan["Hyperband"]["HyperParameterTuningJobConfig"]
    assert hb["StrategyConfig"] == {"HyperbandStrategyConfig": {"MaxResource": 4}}
    assert hb["TrainingJobEarlyStoppingType"] == "Off"
    assert "StrategyConfig" not in plan["Random"]["HyperParameterTuningJobConfig"]


def test_hyperband_needs_a_max_resource():
    req = tuning_request()
    req["TrainingJobDefinition"]["StaticHyperParameters"] = {}
    with pytest.raises(RaceError, match="--hyperband-max-resource"):
        variants(req, ["Hyperband"], "r")
    del req["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    with pytest.raises(RaceError, match="budget"):
        variants(req, ["Random"], "r")


@pytest.fixture
def app(tmp_path):
    clock = FakeClock(START)
    app = SmlocalApp(settings=Settings(state_dir=tmp_path / "state", backend="fake"), port=0,
                     clock=clock, backend=FakeBackend(quadratic, clock)).start()
    stop = threading.Event()

    def stepper():  # the fake backend's jobs end only when stepped
        while not stop.is_set():
            app.backend.step()
            time.sleep(0.05)

    thread = threading.Thread(target=stepper, daemon=True)
    thread.start()
    yield app
    stop.set()
    thread.join(timeout=5)
    app.stop()


def test_every_variant_is_accepted_by_the_service(app):
    sm = boto3.client("sagemaker", endpoint_url=app.url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")
    for v in variants(tuning_request(max_jobs=6, parallel=2), ALL, "ok").values():
        sm.create_hyper_parameter_tuning_job(**v)


def test_race_through_the_cli(app, tmp_path, capsys):
    path = tmp_path / "req.json"
    path.write_text(json.dumps(tuning_request(max_jobs=6, parallel=2)))
    html = tmp_path / "race.html"
    code = main(["--endpoint", app.url, "race", str(path), "--name-prefix", "rc",
                 "--strategies", "Random,Grid,Hyperband", "--json", "--html", str(html),
                 "--hyperband-max-resource", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(out)  # progress went to stderr
    race = result["race"]
    assert race["order"] == "sequential"
    assert race["runs"] == {"Random": "rc-random", "Grid": "rc-grid", "Hyperband": "rc-hyperband"}
    assert race["budget"] == dict.fromkeys(race["runs"], 6)
    runs = {r["name"]: r for r in result["runs"]}
    for strategy, name in race["runs"].items():
        assert runs[name]["jobs"] == 6 and runs[name]["strategy"] == strategy
        curve = runs[name]["best_so_far"]["by_index"]
        for other, other_name in race["runs"].items():
            if other == strategy:
                continue
            target = runs[other_name]["best"]["value"]
            expect = next((i for i, v in curve if v <= target), None)
            assert race["jobs_to_reach"][strategy][other] == expect
    assert html.read_text().count('data-chart="best-by-') == 3  # jobs, wall time, cost


def test_race_bad_input(tmp_path, capsys):
    path = tmp_path / "req.json"
    path.write_text("{")
    assert main(["race", str(path)]) == 2
    assert "invalid JSON" in capsys.readouterr().err
    path.write_text(json.dumps(tuning_request()))
    assert main(["race", str(path), "--strategies", "Bayesian,Nope"]) == 2
    assert "unknown strategy Nope" in capsys.readouterr().err
