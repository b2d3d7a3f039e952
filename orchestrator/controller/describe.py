"""Describe payloads computed from stored reality: counters, best job, summaries (spec §2.2, §4.4).

Pure functions of the stored documents, read through the typed records of `controller.records`
(which names the internal `_` fields); the API layer filters them to the output shapes. The
best training job is the one with the lowest loss (`records.TrainingRecord.loss`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.controller.records import Doc, TrainingRecord
from orchestrator.controller.spec import TuningSpec
from orchestrator.status import ObjectiveStatus, TrainingJobStatus, WarmStartType

Job = Doc | TrainingRecord


def _record(job: Job) -> TrainingRecord:
    return job if isinstance(job, TrainingRecord) else TrainingRecord.of(job)


def objective_value(job: Job) -> float | None:
    """The latest value of the job's objective metric (spec §3.2 M3), or None."""
    return _record(job).objective


def objective_status(job: Job) -> str:
    return _record(job).objective_status


def training_summary(job: Job, multi_definition: bool = False) -> dict[str, Any]:
    """HyperParameterTrainingJobSummary of one training job."""
    rec = _record(job)
    doc = rec.doc
    out: dict[str, Any] = {
        "TrainingJobName": rec.name,
        "TrainingJobArn": doc["TrainingJobArn"],
        "TuningJobName": rec.tuning_job,
        "CreationTime": rec.creation_time,
        "TrainingStartTime": doc.get("TrainingStartTime"),
        "TrainingEndTime": doc.get("TrainingEndTime"),
        "TrainingJobStatus": rec.status,
        "TunedHyperParameters": dict(rec.tuned),
        "FailureReason": doc.get("FailureReason"),
        "ObjectiveStatus": rec.objective_status,
    }
    if multi_definition and rec.definition:
        out["TrainingJobDefinitionName"] = rec.definition
    if rec.objective is not None and out["ObjectiveStatus"] != ObjectiveStatus.Failed:
        # Real outputs omit `Type` here (spec §2.2 [OBS]).
        out["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "MetricName": rec.objective_metric, "Value": rec.objective}
    return {k: v for k, v in out.items() if v is not None}


def status_counters(jobs: Sequence[Job]) -> dict[str, int]:
    # TrainingJobStatusCounters: Stopping counts as InProgress, Failed splits by its kind.
    done, running, stopped = (TrainingJobStatus.Completed.value,
                              TrainingJobStatus.InProgress.value, TrainingJobStatus.Stopped.value)
    counters = {done: 0, running: 0, "RetryableError": 0, "NonRetryableError": 0, stopped: 0}
    for job in map(_record, jobs):
        if job.status in (TrainingJobStatus.InProgress, TrainingJobStatus.Stopping):
            counters[running] += 1
        elif job.status == TrainingJobStatus.Failed:
            kind = "RetryableError" if job.failure_kind == "internal" else "NonRetryableError"
            counters[kind] += 1
        else:
            counters[job.status] += 1
    return counters


def objective_counters(jobs: Sequence[Job]) -> dict[str, int]:
    counters = {s.value: 0 for s in ObjectiveStatus}
    for job in jobs:
        counters[_record(job).objective_status] += 1
    return counters


def best_job(jobs: Sequence[Job]) -> TrainingRecord | None:
    """Lowest loss among Succeeded jobs; ties go to the earliest created (spec §4.3 O1)."""
    best: TrainingRecord | None = None
    best_loss = 0.0
    for job in sorted(map(_record, jobs), key=lambda j: (j.creation_time, j.launch_index)):
        value = job.loss
        if value is not None and (best is None or value < best_loss):
            best, best_loss = job, value
    return best


def describe_tuning_job(doc: Doc, jobs: Sequence[Job], now: float,
                        parent_jobs: Sequence[Job] = ()) -> dict[str, Any]:
    multi = "TrainingJobDefinitions" in doc
    records = [_record(j) for j in jobs]
    out = {k: v for k, v in doc.items() if not k.startswith("_")}
    out["TrainingJobStatusCounters"] = status_counters(records)
    out["ObjectiveStatusCounters"] = objective_counters(records)
    best = best_job(records)
    if best is not None:
        out["BestTrainingJob"] = training_summary(best, multi)
    warm = TuningSpec.of(doc).warm_start
    if warm is not None and warm.type == WarmStartType.IdenticalDataAndAlgorithm:
        overall = best_job(records + [_record(j) for j in parent_jobs])
        if overall is not None:
            out["OverallBestTrainingJob"] = training_summary(overall, multi)
    end = doc.get("HyperParameterTuningEndTime")
    out["ConsumedResources"] = {"RuntimeInSeconds": int((end or now) - doc["CreationTime"])}
    return out
