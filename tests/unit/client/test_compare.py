"""`orchestrator.client.compare`: hand-computed examples and properties."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from orchestrator.client.compare import (
    Run,
    best,
    best_so_far_by_index,
    best_so_far_by_time,
    compare,
    coverage,
    jobs_to_reach,
    jobs_to_within,
    quantile,
    request_differences,
    stopped_and_failed,
    training_seconds,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def tuning(name: str, kind: str = "Minimize", strategy: str = "Bayesian",
           metric: str = "loss") -> dict:
    return {
        "HyperParameterTuningJobName": name, "HyperParameterTuningJobStatus": "Completed",
        "CreationTime": T0,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": kind, "MetricName": metric},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001",
                                               "MaxValue": "1", "ScalingType": "Logarithmic"}],
                "IntegerParameterRanges": [{"Name": "depth", "MinValue": "0",
                                            "MaxValue": "10", "ScalingType": "Linear"}],
                "CategoricalParameterRanges": [{"Name": "opt", "Values": ["adam", "sgd", "rms"]}]},
        },
        "TrainingJobDefinition": {"StaticHyperParameters": {"epochs": "3"},
                                  "ResourceConfig": {"InstanceType": "ml.m5.large"}},
        "TrainingJobStatusCounters": {"Completed": 4}, "ObjectiveStatusCounters": {},
    }


def job(i: int, value: float | None, status: str = "Completed", start: float = 0,
        end: float | None = None, hp: dict | None = None, reason: str | None = None) -> dict:
    s = {"TrainingJobName": f"j-{i:03d}", "TrainingJobStatus": status,
         "CreationTime": T0 + dt.timedelta(seconds=i),
         "TrainingStartTime": T0 + dt.timedelta(seconds=start),
         "TunedHyperParameters": hp or {"lr": "0.01", "depth": "5", "opt": "adam"}}
    if end is not None:
        s["TrainingEndTime"] = T0 + dt.timedelta(seconds=end)
    if value is not None:
        s["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": "loss", "Value": value}
    if reason:
        s["FailureReason"] = reason
    return s


def run_of(values: list[float | None], kind: str = "Minimize", name: str = "a") -> Run:
    return Run(tuning(name, kind), [job(i, v, start=i, end=i + 10) for i, v in
                                    enumerate(values, 1)])


def test_best_and_best_so_far_by_index_minimize():
    r = run_of([0.5, None, 0.3, 0.4, 0.3, 0.1])
    assert best(r) == {"value": 0.1, "training_job": "j-006", "index": 6,
                       "hyperparameters": {"lr": "0.01", "depth": "5", "opt": "adam"}}
    assert best_so_far_by_index(r) == [(1, .5), (3, .3), (4, .3), (5, .3), (6, .1)]


def test_best_maximize_takes_the_first_of_ties():
    r = run_of([0.5, 0.9, 0.9, 0.2], kind="Maximize")
    assert best(r)["index"] == 2 and best(r)["value"] == 0.9


def test_jobs_to_within_minimize_by_hand():
    # best 1.00; 1 %: <= 1.01 first at job 3 (1.005); 5 %: <= 1.05 first at job 2 (1.04)
    r = run_of([2.0, 1.04, 1.005, 1.0])
    assert jobs_to_within(r) == {"1%": 3, "5%": 2}


def test_jobs_to_within_maximize_by_hand():
    # best 0.90; 1 %: >= 0.891 at job 3 (0.895); 5 %: >= 0.855 at job 2 (0.86)
    r = run_of([0.5, 0.86, 0.895, 0.9], kind="Maximize")
    assert jobs_to_within(r) == {"1%": 3, "5%": 2}


def test_jobs_to_within_negative_objective_uses_the_magnitude():
    # Maximize, best -10: 1 % is -10.1, 5 % is -10.5
    r = run_of([-20, -10.4, -10.05, -10], kind="Maximize")
    assert jobs_to_within(r) == {"1%": 3, "5%": 2}


def test_jobs_to_within_best_zero_uses_the_spread():
    # best 0, spread 2 -> 1 % is 0.02, 5 % is 0.1
    r = run_of([2.0, 0.09, 0.015, 0.0])
    assert jobs_to_within(r) == {"1%": 3, "5%": 2}


def test_jobs_to_within_without_objectives():
    assert jobs_to_within(run_of([None, None])) == {"1%": None, "5%": None}


def test_best_so_far_by_time_orders_by_end_time():
    r = Run(tuning("a"), [job(1, 0.5, start=0, end=100), job(2, 0.7, start=1, end=20),
                          job(3, 0.4, start=2, end=50)])
    assert best_so_far_by_time(r) == [(20.0, 0.7), (50.0, 0.4), (100.0, 0.4)]


def test_quantiles_and_training_seconds_by_hand():
    assert quantile([1, 2, 3, 4], 50) == 2.5
    assert quantile([1, 2, 3, 4], 90) == pytest.approx(3.7)
    r = Run(tuning("a"), [job(i, 1.0, start=0, end=d) for i, d in enumerate([10, 20, 30, 40,
                                                                             100], 1)])
    assert training_seconds(r) == {"jobs": 5, "median": 30.0, "p90": pytest.approx(76.0),
                                   "total": 200.0}


def test_coverage_by_hand():
    hps = [{"lr": "0.001", "depth": "0", "opt": "adam"},
           {"lr": "0.01", "depth": "4", "opt": '"sgd"'},  # SDK-quoted categorical
           {"lr": "0.1", "depth": "5", "opt": "adam"}]
    r = Run(tuning("a"), [job(i, 1.0, hp=h) for i, h in enumerate(hps, 1)])
    c = coverage(r)
    # log10 range [-3, 0]; tried -3..-1 -> span 2/3; bins of width 0.3: 0, 6, 10->9 ... 3 bins
    assert c["lr"]["span"] == pytest.approx(2 / 3)
    assert c["lr"]["bins"] == pytest.approx(0.3)
    # linear [0, 10]: tried 0..5 -> span 0.5; bins 0, 4, 5 -> 3 of 10
    assert c["depth"] == {"kind": "Integer", "jobs": 3, "span": 0.5, "bins": 0.3}
    assert c["opt"]["levels_tried"] == 2 and c["opt"]["levels"] == 3
    assert c["opt"]["per_level"]["adam"] == {"jobs": 2, "share": pytest.approx(2 / 3)}
    assert c["opt"]["per_level"]["rms"] == {"jobs": 0, "share": 0.0}


def test_stopped_and_failed_by_reason():
    r = Run(tuning("a"), [job(1, None, "Failed", reason="AlgorithmError: boom"),
                          job(2, None, "Failed", reason="AlgorithmError: boom"),
                          job(3, None, "Failed", reason="ClientError: bad"),
                          job(4, 0.3, "Stopped"), job(5, 0.2)])
    assert stopped_and_failed(r) == {"stopped": 1, "failed": 3, "failures_by_reason": {
        "AlgorithmError: boom": 2, "ClientError: bad": 1}}


def test_request_differences_match_ranges_by_name():
    a, b = tuning("a"), tuning("b", strategy="Random")
    b["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"][0][
        "MaxValue"] = "12"
    b["TrainingJobDefinition"]["StaticHyperParameters"]["seed"] = "1"
    diffs = request_differences([Run(a, []), Run(b, [])])
    assert diffs == [
        {"path": "HyperParameterTuningJobConfig.ParameterRanges.IntegerParameterRanges[depth]"
                 ".MaxValue", "values": {"a": "10", "b": "12"}},
        {"path": "HyperParameterTuningJobConfig.Strategy",
         "values": {"a": "Bayesian", "b": "Random"}},
        {"path": "TrainingJobDefinition.StaticHyperParameters.seed",
         "values": {"a": None, "b": "1"}},
    ]


def test_compare_reach_matrix_by_hand():
    a = run_of([0.9, 0.5, 0.2], name="a")       # best 0.2
    b = run_of([0.4, 0.3, 0.6, 0.25], name="b")  # best 0.25
    out = compare([a, b])
    assert out["jobs_to_reach"] == {"a": {"b": 3}, "b": {"a": None}}
    assert out["same_objective"] and out["request_differences"] == []
    assert [r["name"] for r in out["runs"]] == ["a", "b"]


def test_reach_is_none_across_different_objectives():
    a, b = run_of([0.9], name="a"), run_of([0.4], kind="Maximize", name="b")
    out = compare([a, b])
    assert out["jobs_to_reach"] == {"a": {"b": None}, "b": {"a": None}}
    assert not out["same_objective"]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("kind", ["Minimize", "Maximize"])
def test_properties(seed, kind):
    rng = random.Random(seed)
    values = [rng.choice([None, rng.uniform(-5, 5), round(rng.uniform(0, 1), 1)])
              for _ in range(rng.randint(1, 30))]
    r = run_of(values, kind=kind)
    curve = best_so_far_by_index(r)
    done = [v for v in values if v is not None]
    assert [v for _, v in curve] == sorted([v for _, v in curve], reverse=kind == "Minimize")
    if not done:
        assert best(r) is None
        return
    b = best(r)["value"]
    assert curve[-1][1] == b == (max(done) if kind == "Maximize" else min(done))
    w = jobs_to_within(r)
    assert w["5%"] <= w["1%"] <= best(r)["index"]
    # reaching one's own best takes exactly the index of the (first) best
    assert jobs_to_reach(r, b) == best(r)["index"]
    q = compare([r, run_of([0.0], name="z")])["runs"][0]["quantiles"]
    assert q["min"] <= q["p10"] <= q["p25"] <= q["median"] <= q["p75"] <= q["p90"] <= q["max"]
