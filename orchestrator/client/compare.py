"""`smlocal compare`: what differs between tuning jobs, computed from the public API's answers.

Pure functions of one `Run` per tuning job (its DescribeHyperParameterTuningJob answer and its
ListTrainingJobsForHyperParameterTuningJob summaries); `gather_run` reads them, the rendering
lives in `compare_render`. Definitions (also the keys of `compare --json`, which are stable):

- **index**: a training job's 1-based position in creation order among *all* the tuning job's
  training jobs (failed and stopped ones included: they spent budget).
- **best**: the best final objective (min for Minimize, max for Maximize) over the jobs that
  reported one, with its training job, index and tuned hyperparameters.
- **within p of the best** (`jobs_to_within`, p = 1 % and 5 %): a value v is within p of the
  best b when it is no worse than b by more than p·scale, where scale = |b|; when |b| is
  negligible against the spread of the run's objectives (|b| ≤ 1e-9 × (max − min), e.g. a
  best loss of exactly 0) the spread is the scale instead, so "1 %" keeps a meaning near zero.
  For Minimize: v ≤ b + p·scale; for Maximize: v ≥ b − p·scale. The figure is the smallest
  index whose best-so-far is within p (None when no job has an objective).
- **jobs_to_reach[A][B]**: the smallest index of A whose best-so-far is at least as good as
  B's best (no tolerance); None when A never got there, or when A and B do not optimise the
  same metric in the same direction.
- **best_so_far**: `by_index` (index, value) for every job with an objective, in creation
  order; `by_time` (seconds from the tuning job's creation to the job's TrainingEndTime,
  value), in end order: when each result became known; `by_cost` (cost of all jobs so far in
  creation order, value), empty without a price for every job.
- **cost**: `orchestrator.client.costing.cost_summary` (billed or projected SageMaker cost,
  from `orchestrator.client.cost`), None when no price table could be read.
- **coverage** per tuned hyperparameter: Integer/Continuous ranges give `span` (share of the
  range between the smallest and largest value tried) and `bins` (share of 10 equal bins
  holding a value tried), both in the range's scale (Logarithmic: log; Auto and Linear:
  linear, as smlocal searches Auto); Categorical ranges give the count and share of jobs per
  level, and `levels_tried` / `levels`.
- **training_seconds**: TrainingEndTime − TrainingStartTime of the jobs with both; `median` and
  `p90` by linear interpolation (numpy's default).
- **quantiles** of the final objectives: min, p10, p25, median, p75, p90, max (same method).
- **stopped**: jobs that ended Stopped (early stopping, Hyperband, or the tuning job's stop);
  **failures**: Failed jobs counted by FailureReason.
- **request_differences**: every leaf of the request parts (tuning config, training job
  definition(s), warm start) whose value is not the same in all runs, as a dotted path with
  the value per run (None: absent); list items with a `Name`, `ChannelName` or
  `DefinitionName` are matched by it, other list items by position.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.client.analytics import (
    objective_metric,
    objective_type,
    training_job_summaries,
)
from orchestrator.client.report import parameter_ranges

TOLERANCES = {"1%": 0.01, "5%": 0.05}
REQUEST_PARTS = ("HyperParameterTuningJobConfig", "TrainingJobDefinition",
                 "TrainingJobDefinitions", "WarmStartConfig", "Autotune")
LIST_KEYS = ("Name", "ChannelName", "DefinitionName")
BINS = 10
QUANTILES = {"min": 0, "p10": 10, "p25": 25, "median": 50, "p75": 75, "p90": 90, "max": 100}
CostFn = Callable[["Run"], dict[str, Any] | None]


@dataclass
class Run:
    """One tuning job as the public API shows it; `jobs` in creation order."""

    tuning: dict[str, Any]
    jobs: list[dict[str, Any]]
    cost: dict[str, Any] | None = field(default=None)

    @property
    def name(self) -> str:
        return self.tuning["HyperParameterTuningJobName"]

    @property
    def maximize(self) -> bool:
        return objective_type(self.tuning) == "Maximize"


def gather_run(sm: Any, name: str) -> Run:
    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    d.pop("ResponseMetadata", None)
    jobs = sorted(training_job_summaries(sm, name),
                  key=lambda s: (s["CreationTime"], s["TrainingJobName"]))
    return Run(d, jobs)


# -- small numeric helpers -------------------------------------------------------------------
def value_of(summary: dict[str, Any]) -> float | None:
    metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
    return float(metric["Value"]) if metric else None


def quantile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between order statistics."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def better(a: float, b: float, maximize: bool) -> bool:
    """a at least as good as b."""
    return a >= b if maximize else a <= b


def within(v: float, best: float, p: float, maximize: bool, spread: float) -> bool:
    scale = abs(best) if abs(best) > 1e-9 * spread else spread
    return v >= best - p * scale if maximize else v <= best + p * scale


# -- per run ---------------------------------------------------------------------------------
def indexed_values(run: Run) -> list[tuple[int, float]]:
    return [(i, v) for i, s in enumerate(run.jobs, 1) if (v := value_of(s)) is not None]


def best_so_far_by_index(run: Run) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    for i, v in indexed_values(run):
        out.append((i, v if not out or better(v, out[-1][1], run.maximize) else out[-1][1]))
    return out


def best_so_far_by_time(run: Run) -> list[tuple[float, float]]:
    t0 = run.tuning["CreationTime"]
    ended = sorted((s["TrainingEndTime"], v) for s in run.jobs
                   if (v := value_of(s)) is not None and s.get("TrainingEndTime"))
    out: list[tuple[float, float]] = []
    for t, v in ended:
        keep = not out or better(v, out[-1][1], run.maximize)
        out.append(((t - t0).total_seconds(), v if keep else out[-1][1]))
    return out


def best_so_far_by_cost(run: Run) -> list[tuple[float, float]]:
    """(cost of every job so far in creation order, best so far) at each job with an
    objective; empty without costs or when a job has no price."""
    per_job = (run.cost or {}).get("per_job") or {}
    if not per_job or any(per_job.get(s["TrainingJobName"]) is None for s in run.jobs):
        return []
    out: list[tuple[float, float]] = []
    spent = 0.0
    for s in run.jobs:
        spent += per_job[s["TrainingJobName"]]
        v = value_of(s)
        if v is not None:
            out.append((spent, v if not out or better(v, out[-1][1], run.maximize)
                        else out[-1][1]))
    return out


def best(run: Run) -> dict[str, Any] | None:
    values = indexed_values(run)
    if not values:
        return None
    pick = (max if run.maximize else min)(values, key=lambda iv: iv[1])  # first of ties
    s = run.jobs[pick[0] - 1]
    return {"value": pick[1], "training_job": s["TrainingJobName"], "index": pick[0],
            "hyperparameters": dict(s["TunedHyperParameters"])}


def jobs_to_within(run: Run) -> dict[str, int | None]:
    values = [v for _, v in indexed_values(run)]
    b = best(run)
    if b is None:
        return dict.fromkeys(TOLERANCES)
    spread = max(values) - min(values)
    curve = best_so_far_by_index(run)
    return {label: next(i for i, v in curve if within(v, b["value"], p, run.maximize, spread))
            for label, p in TOLERANCES.items()}


def jobs_to_reach(run: Run, target: float) -> int | None:
    return next((i for i, v in best_so_far_by_index(run) if better(v, target, run.maximize)),
                None)


def quantiles(run: Run) -> dict[str, float] | None:
    values = [v for _, v in indexed_values(run)]
    return {k: quantile(values, q) for k, q in QUANTILES.items()} if values else None


def training_seconds(run: Run) -> dict[str, Any]:
    secs = [(s["TrainingEndTime"] - s["TrainingStartTime"]).total_seconds() for s in run.jobs
            if s.get("TrainingStartTime") and s.get("TrainingEndTime")]
    return {"jobs": len(secs), "median": quantile(secs, 50) if secs else None,
            "p90": quantile(secs, 90) if secs else None, "total": sum(secs)}


def _level(raw: str, levels: list[str]) -> str:
    """A categorical value as its level; SDK framework jobs show them JSON-quoted."""
    return raw.strip('"') if raw not in levels and raw.strip('"') in levels else raw


def _scaled(x: float, r: dict[str, Any]) -> float | None:
    if r.get("ScalingType") in ("Logarithmic", "ReverseLogarithmic"):
        lo, hi = float(r["MinValue"]), float(r["MaxValue"])
        if r["ScalingType"] == "ReverseLogarithmic":  # 1 - x is log-spaced
            x, lo, hi = 1 - x, 1 - hi, 1 - lo
        return math.log(x) if x > 0 and lo > 0 else None
    return x


def coverage(run: Run) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, r in parameter_ranges(run.tuning).items():
        tried = [s["TunedHyperParameters"][name] for s in run.jobs
                 if name in s["TunedHyperParameters"]]
        if r["Kind"] == "Categorical":
            levels = list(r["Values"])
            counts = Counter(_level(x, levels) for x in tried)
            out[name] = {"kind": "Categorical", "levels": len(levels),
                         "levels_tried": sum(1 for v in levels if counts[v]),
                         "per_level": {v: {"jobs": counts[v],
                                           "share": counts[v] / len(tried) if tried else 0.0}
                                       for v in levels}}
            continue
        out[name] = {"kind": r["Kind"], "jobs": len(tried), **_numeric_coverage(tried, r)}
    return out


def _numeric_coverage(tried: list[str], r: dict[str, Any]) -> dict[str, float]:
    lo, hi = _scaled(float(r["MinValue"]), r), _scaled(float(r["MaxValue"]), r)
    if lo is None or hi is None:
        return {"span": 0.0, "bins": 0.0}
    lo, hi = min(lo, hi), max(lo, hi)
    xs = [x for v in tried if (x := _scaled(float(v), r)) is not None]
    if hi == lo:
        return {"span": 1.0 if xs else 0.0, "bins": 1.0 if xs else 0.0}
    if not xs:
        return {"span": 0.0, "bins": 0.0}
    span = (max(xs) - min(xs)) / (hi - lo)
    bins = {min(BINS - 1, max(0, int((x - lo) / (hi - lo) * BINS))) for x in xs}
    return {"span": span, "bins": len(bins) / BINS}


def stopped_and_failed(run: Run) -> dict[str, Any]:
    reasons = Counter(s.get("FailureReason", "(no reason given)") for s in run.jobs
                      if s["TrainingJobStatus"] == "Failed")
    return {"stopped": sum(1 for s in run.jobs if s["TrainingJobStatus"] == "Stopped"),
            "failed": sum(reasons.values()),
            "failures_by_reason": dict(reasons.most_common())}


def summarise(run: Run) -> dict[str, Any]:
    """Everything `compare` says about one run (the JSON keys, see the module docstring)."""
    d = run.tuning
    config = d["HyperParameterTuningJobConfig"]
    limits = config.get("ResourceLimits", {})
    return {
        "name": run.name,
        "status": d["HyperParameterTuningJobStatus"],
        "strategy": config.get("Strategy"),
        "objective": {"metric": objective_metric(d), "type": objective_type(d)},
        "max_jobs": limits.get("MaxNumberOfTrainingJobs"),
        "max_parallel": limits.get("MaxParallelTrainingJobs"),
        "training_job_status_counters": dict(d.get("TrainingJobStatusCounters", {})),
        "objective_status_counters": dict(d.get("ObjectiveStatusCounters", {})),
        "jobs": len(run.jobs),
        "best": best(run),
        "quantiles": quantiles(run),
        "jobs_to_within": jobs_to_within(run),
        "best_so_far": {"by_index": [list(p) for p in best_so_far_by_index(run)],
                        "by_time": [list(p) for p in best_so_far_by_time(run)],
                        "by_cost": [list(p) for p in best_so_far_by_cost(run)]},
        "coverage": coverage(run),
        "training_seconds": training_seconds(run),
        **stopped_and_failed(run),
        "cost": run.cost,
    }


# -- across runs -----------------------------------------------------------------------------
def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{path}.{k}" if path else k, out)
    elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        for i, x in enumerate(value):
            key = next((str(x[k]) for k in LIST_KEYS if k in x), str(i))
            _flatten(x, f"{path}[{key}]", out)
    elif isinstance(value, dt.datetime):
        out[path] = value.isoformat()
    else:
        out[path] = value


def request_differences(runs: list[Run]) -> list[dict[str, Any]]:
    flat = []
    for run in runs:
        leaves: dict[str, Any] = {}
        for part in REQUEST_PARTS:
            if part in run.tuning:
                _flatten(run.tuning[part], part, leaves)
        flat.append(leaves)
    paths = sorted({p for leaves in flat for p in leaves})
    out = []
    for path in paths:
        values = [leaves.get(path) for leaves in flat]
        if any(v != values[0] for v in values[1:]):
            out.append({"path": path, "values": {r.name: v for r, v in zip(runs, values,
                                                                          strict=True)}})
    return out


def same_objective(a: Run, b: Run) -> bool:
    return (objective_metric(a.tuning), a.maximize) == (objective_metric(b.tuning), b.maximize)


def reach_matrix(runs: list[Run]) -> dict[str, dict[str, int | None]]:
    """A → B → jobs A needed to reach B's best (see the module docstring)."""
    bests = {r.name: best(r) for r in runs}
    return {a.name: {b.name: jobs_to_reach(a, bests[b.name]["value"])
                     if bests[b.name] is not None and same_objective(a, b) else None
                     for b in runs if b.name != a.name} for a in runs}


def compare(runs: list[Run]) -> dict[str, Any]:
    """The whole comparison (what `compare --json` prints)."""
    first = runs[0]
    return {
        "runs": [summarise(r) for r in runs],
        "same_objective": all(same_objective(first, r) for r in runs[1:]),
        "request_differences": request_differences(runs),
        "jobs_to_reach": reach_matrix(runs),
    }
