"""Describe payloads computed from stored reality: counters, best job, summaries (spec §2.2, §4.4).

Pure functions of the stored documents, read through the typed records of `controller.records`
(which names the internal `_` fields); the API layer filters them to the output shapes. The
best training job is the one with the lowest loss (`records.TrainingRecord.loss`).

`status_counters`, `objective_counters` and `best_job` define the aggregates over a tuning
job's training jobs; the service reads the same aggregates from the store's training-job index
(`controller.job_index`, kept per job with each write), and tests hold the two equal.
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


def counter_of(job: Job) -> str:
    """The job's member of TrainingJobStatusCounters: Stopping counts as InProgress, Failed
    splits by its kind."""
    rec = _record(job)
    if rec.status in (TrainingJobStatus.InProgress, TrainingJobStatus.Stopping):
        return TrainingJobStatus.InProgress.value
    if rec.status == TrainingJobStatus.Failed:
        return "RetryableError" if rec.failure_kind == "internal" else "NonRetryableError"
    return rec.status


def zero_status_counters() -> dict[str, int]:
    return {TrainingJobStatus.Completed.value: 0, TrainingJobStatus.InProgress.value: 0,
            "RetryableError": 0, "NonRetryableError": 0, TrainingJobStatus.Stopped.value: 0}


def zero_objective_counters() -> dict[str, int]:
    return {s.value: 0 for s in ObjectiveStatus}


def status_counters(jobs: Sequence[Job]) -> dict[str, int]:
    counters = zero_status_counters()
    for job in jobs:
        counter = counter_of(job)
        counters[counter] = counters.get(counter, 0) + 1
    return counters


def objective_counters(jobs: Sequence[Job]) -> dict[str, int]:
    counters = zero_objective_counters()
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


def wants_overall_best(doc: Doc) -> bool:
    """OverallBestTrainingJob is reported for IdenticalDataAndAlgorithm warm starts."""
    warm = TuningSpec.of(doc).warm_start
    return warm is not None and warm.type == WarmStartType.IdenticalDataAndAlgorithm


def for_definitions(summary: dict[str, Any], multi_definition: bool) -> dict[str, Any]:
    """A summary made with `multi_definition=True`, as a tuning job of one definition or of
    several shows it."""
    if multi_definition:
        return summary
    return {k: v for k, v in summary.items() if k != "TrainingJobDefinitionName"}


def describe_tuning_job(doc: Doc, counters: tuple[dict[str, int], dict[str, int]],
                        best: dict[str, Any] | None, overall: dict[str, Any] | None,
                        now: float) -> dict[str, Any]:
    """The Describe payload from the job's document and its aggregates: `counters` (status,
    objective), the summaries of its `best` training job and of the `overall` best one (with
    its warm-start parents'; ignored unless `wants_overall_best`), both as
    `training_summary(..., multi_definition=True)` makes them."""
    multi = "TrainingJobDefinitions" in doc
    out = {k: v for k, v in doc.items() if not k.startswith("_")}
    out["TrainingJobStatusCounters"], out["ObjectiveStatusCounters"] = counters
    if best is not None:
        out["BestTrainingJob"] = for_definitions(best, multi)
    if overall is not None and wants_overall_best(doc):
        out["OverallBestTrainingJob"] = for_definitions(overall, multi)
    end = doc.get("HyperParameterTuningEndTime")
    out["ConsumedResources"] = {"RuntimeInSeconds": int((end or now) - doc["CreationTime"])}
    return out
