"""Describe payloads computed from stored reality: counters, best job, summaries (spec §2.2, §4.4).

Pure functions of the stored documents; the API layer filters them to the output shapes.
Internal fields of a tuning-launched training job document:
`_TuningJobName`, `_TunedHyperParameters`, `_DefinitionName`, `_ObjectiveMetric`,
`_ObjectiveType`, `_LaunchIndex`, `_FailureKind` ("algorithm" | "internal"), `_StopCause`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.status import ObjectiveStatus, TrainingJobStatus
from orchestrator.storage.db import Doc


def objective_value(job: Doc) -> float | None:
    """The latest value of the job's objective metric (spec §3.2 M3), or None."""
    metric = job.get("_ObjectiveMetric")
    for m in job.get("FinalMetricDataList") or []:
        if m["MetricName"] == metric:
            return float(m["Value"])
    return None


def objective_status(job: Doc) -> str:
    """Pending while running; Succeeded when it ended Completed/Stopped with an objective
    (early-stopped jobs keep theirs, spec §4.3 O2); Failed otherwise."""
    status = job["TrainingJobStatus"]
    if status in (TrainingJobStatus.InProgress, TrainingJobStatus.Stopping):
        return ObjectiveStatus.Pending.value
    if status in (TrainingJobStatus.Completed, TrainingJobStatus.Stopped) and (
        objective_value(job) is not None
    ):
        return ObjectiveStatus.Succeeded.value
    return ObjectiveStatus.Failed.value


def training_summary(job: Doc, multi_definition: bool = False) -> dict[str, Any]:
    """HyperParameterTrainingJobSummary of one training job."""
    out: dict[str, Any] = {
        "TrainingJobName": job["TrainingJobName"],
        "TrainingJobArn": job["TrainingJobArn"],
        "TuningJobName": job.get("_TuningJobName"),
        "CreationTime": job["CreationTime"],
        "TrainingStartTime": job.get("TrainingStartTime"),
        "TrainingEndTime": job.get("TrainingEndTime"),
        "TrainingJobStatus": job["TrainingJobStatus"],
        "TunedHyperParameters": dict(job.get("_TunedHyperParameters") or {}),
        "FailureReason": job.get("FailureReason"),
        "ObjectiveStatus": objective_status(job),
    }
    if multi_definition and job.get("_DefinitionName"):
        out["TrainingJobDefinitionName"] = job["_DefinitionName"]
    value = objective_value(job)
    if value is not None and out["ObjectiveStatus"] != ObjectiveStatus.Failed:
        # Real outputs omit `Type` here (spec §2.2 [OBS]).
        out["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "MetricName": job["_ObjectiveMetric"], "Value": value}
    return {k: v for k, v in out.items() if v is not None}


def status_counters(jobs: Sequence[Doc]) -> dict[str, int]:
    counters = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0,
                "Stopped": 0}
    for job in jobs:
        status = job["TrainingJobStatus"]
        if status in (TrainingJobStatus.InProgress, TrainingJobStatus.Stopping):
            counters["InProgress"] += 1
        elif status == TrainingJobStatus.Failed:
            kind = "RetryableError" if job.get("_FailureKind") == "internal" else "NonRetryableError"
            counters[kind] += 1
        else:
            counters[status] += 1
    return counters


def objective_counters(jobs: Sequence[Doc]) -> dict[str, int]:
    counters = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for job in jobs:
        counters[objective_status(job)] += 1
    return counters


def better(a: float, b: float, maximize: bool) -> bool:
    return a > b if maximize else a < b


def best_job(jobs: Sequence[Doc]) -> Doc | None:
    """Best objective among Succeeded jobs; ties go to the earliest created (spec §4.3 O1)."""
    best: Doc | None = None
    for job in sorted(jobs, key=lambda j: (j["CreationTime"], j.get("_LaunchIndex", 0))):
        if objective_status(job) != ObjectiveStatus.Succeeded:
            continue
        value = objective_value(job)
        assert value is not None
        maximize = job.get("_ObjectiveType") == "Maximize"
        if best is None or better(value, objective_value(best), maximize):  # type: ignore[arg-type]
            best = job
    return best


def describe_tuning_job(doc: Doc, jobs: Sequence[Doc], now: float,
                        parent_jobs: Sequence[Doc] = ()) -> dict[str, Any]:
    multi = "TrainingJobDefinitions" in doc
    out = {k: v for k, v in doc.items() if not k.startswith("_")}
    out["TrainingJobStatusCounters"] = status_counters(jobs)
    out["ObjectiveStatusCounters"] = objective_counters(jobs)
    best = best_job(jobs)
    if best is not None:
        out["BestTrainingJob"] = training_summary(best, multi)
    warm = doc.get("WarmStartConfig") or {}
    if warm.get("WarmStartType") == "IdenticalDataAndAlgorithm":
        overall = best_job(list(jobs) + list(parent_jobs))
        if overall is not None:
            out["OverallBestTrainingJob"] = training_summary(overall, multi)
    end = doc.get("HyperParameterTuningEndTime")
    out["ConsumedResources"] = {"RuntimeInSeconds": int((end or now) - doc["CreationTime"])}
    return out
