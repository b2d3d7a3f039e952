"""Hand computations for the issue 11 chain (test_sagemaker_roundtrip.py): what `compare
--json` and `cost` must say, worked out from boto3's answers and the shipped price table
without the client's code."""

from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
import pytest

PRICES = json.loads(resources.files("orchestrator.client").joinpath(
    "data", "sagemaker-training-prices.json").read_text())


def value(s: dict) -> float | None:
    metric = s.get("FinalHyperParameterTuningJobObjectiveMetric")
    return metric and metric["Value"]


def running_best(values: list[float | None]) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    for i, v in enumerate(values, 1):
        if v is not None:
            out.append((i, v if not out or v < out[-1][1] else out[-1][1]))
    return out


def first_index_within(values: list[float | None], target: float) -> int | None:
    return next((i for i, b in running_best(values) if b <= target), None)


def billed(jobs: list[dict]) -> dict[str, float]:
    return {d["TrainingJobName"]: d["BillableTimeInSeconds"]
            * d["ResourceConfig"]["InstanceCount"]
            * PRICES["prices"][d["ResourceConfig"]["InstanceType"]] / 3600 for d in jobs}


def projected(jobs: list[dict]) -> dict[str, float]:
    return {d["TrainingJobName"]: (d["TrainingEndTime"] - d["TrainingStartTime"]).total_seconds()
            * d["ResourceConfig"]["InstanceCount"]
            * PRICES["prices"][d["ResourceConfig"]["InstanceType"]] / 3600 for d in jobs}


def renamed(payload, names: dict[str, str]):
    """`payload` as JSON text with every name in `names` (longest first) replaced."""
    text = json.dumps(payload, default=str, sort_keys=True)
    for old in sorted(names, key=len, reverse=True):
        text = re.sub(re.escape(old), names[old], text)
    return json.loads(text)


def check_run(run: dict, tuning: dict, jobs: list[dict], costs: dict[str, float],
              kind: str) -> None:
    """One run of `compare --json` against its Describe and training job summaries."""
    values = [value(s) for s in jobs]
    scored = [v for v in values if v is not None]
    best_v = min(scored)
    best_i = values.index(best_v) + 1
    config = tuning["HyperParameterTuningJobConfig"]
    assert run["name"] == tuning["HyperParameterTuningJobName"]
    assert run["status"] == tuning["HyperParameterTuningJobStatus"] == "Completed"
    assert run["strategy"] == config["Strategy"]
    assert run["objective"] == {"metric": "validation:logloss", "type": "Minimize"}
    assert run["max_jobs"] == config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 6
    assert run["max_parallel"] == config["ResourceLimits"]["MaxParallelTrainingJobs"] == 2
    assert run["training_job_status_counters"] == tuning["TrainingJobStatusCounters"]
    assert run["training_job_status_counters"]["Completed"] == sum(
        s["TrainingJobStatus"] == "Completed" for s in jobs) == 6
    assert run["objective_status_counters"] == tuning["ObjectiveStatusCounters"]
    assert run["objective_status_counters"]["Succeeded"] == len(scored) == 6
    assert run["jobs"] == len(jobs) == 6
    assert run["best"] == {"value": best_v, "training_job": jobs[best_i - 1]["TrainingJobName"],
                           "index": best_i,
                           "hyperparameters": jobs[best_i - 1]["TunedHyperParameters"]}
    best_job = tuning["BestTrainingJob"]
    assert run["best"]["training_job"] == best_job["TrainingJobName"]
    assert run["best"]["hyperparameters"] == best_job["TunedHyperParameters"]
    assert best_job["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == best_v
    qs = np.percentile(scored, [0, 10, 25, 50, 75, 90, 100])
    assert run["quantiles"] == {k: pytest.approx(q) for k, q in zip(
        ("min", "p10", "p25", "median", "p75", "p90", "max"), qs, strict=True)}
    assert run["jobs_to_within"] == {
        label: first_index_within(values, best_v + p * abs(best_v))
        for label, p in (("1%", 0.01), ("5%", 0.05))}
    curve = run["best_so_far"]
    assert curve["by_index"] == [list(p) for p in running_best(values)]
    ends = sorted((s["TrainingEndTime"], value(s)) for s in jobs)
    t0, best_t = tuning["CreationTime"], []
    for t, v in ends:
        best_t.append([pytest.approx((t - t0).total_seconds()),
                       min(v, best_t[-1][1]) if best_t else v])
    assert curve["by_time"] == best_t
    spent = np.cumsum([costs[s["TrainingJobName"]] for s in jobs])
    assert curve["by_cost"] == [[pytest.approx(c), b] for c, (_, b) in
                                zip(spent, running_best(values), strict=True)]
    secs = [(s["TrainingEndTime"] - s["TrainingStartTime"]).total_seconds() for s in jobs]
    assert run["training_seconds"] == {
        "jobs": 6, "median": pytest.approx(np.percentile(secs, 50)),
        "p90": pytest.approx(np.percentile(secs, 90)), "total": pytest.approx(sum(secs))}
    assert (run["stopped"], run["failed"], run["failures_by_reason"]) == (0, 0, {})
    l2 = [float(s["TunedHyperParameters"]["l2_regularization"]) for s in jobs]  # Linear 0..10
    assert run["coverage"]["l2_regularization"] == {
        "kind": "Continuous", "jobs": 6, "span": pytest.approx((max(l2) - min(l2)) / 10),
        "bins": len({min(9, int(x)) for x in l2}) / 10}
    lr = np.log([float(s["TunedHyperParameters"]["learning_rate"]) for s in jobs])
    lo, hi = np.log(0.01), np.log(0.5)  # Logarithmic: the span on the log scale
    assert run["coverage"]["learning_rate"]["span"] == pytest.approx(
        (lr.max() - lr.min()) / (hi - lo))
    assert run["cost"]["kind"] == kind
    assert run["cost"]["per_job"] == {k: pytest.approx(v) for k, v in costs.items()}
    assert run["cost"]["total"] == pytest.approx(sum(costs.values()))
