"""Typed records: tuning and training jobs as the controller sees them.

The store keeps JSON documents shaped like the Describe responses, plus internal fields whose
names start with `_` (the API drops them). This module is the one place that reads those
internal fields: `TrainingRecord.of(doc)` and `TuningRecord.of(doc)` name each of them as a
field, and `launch_fields` writes them when the reconciler launches a training job. The
document itself stays on the record (`doc`) for the members that are only echoed in responses.

Internal fields of a training job launched by a tuning job: `_TuningJobName`,
`_TunedHyperParameters`, `_DefinitionName`, `_ObjectiveMetric`, `_ObjectiveType`,
`_LaunchIndex`; of every training job: `_FailureKind` ("algorithm" | "internal", set by the
training service) and `_StopCause`. Of a tuning job: `_Spec` (the normalized tuning spec,
`controller.spec`), `_Ending` (the end decided while jobs still stop), `_Exhausted` (the
strategies have nothing left to propose); documents written before the spec existed hold
`_Seed` and `_Hyperband` instead of `_Spec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from orchestrator.controller.spec import DefinitionSpec, TuningSpec
from orchestrator.status import ObjectiveStatus, TrainingJobStatus
from orchestrator.strategies.base import Params
from orchestrator.strategies.objective import loss, maximizes

Doc = dict[str, Any]


def _objective_value(doc: Mapping[str, Any]) -> float | None:
    """The latest value of the job's objective metric (spec §3.2 M3), or None."""
    metric = doc.get("_ObjectiveMetric")
    for m in doc.get("FinalMetricDataList") or []:
        if m["MetricName"] == metric:
            return float(m["Value"])
    return None


@dataclass(frozen=True)
class TrainingRecord:
    name: str
    status: str  # TrainingJobStatus's value
    creation_time: float
    finished_at: float  # TrainingEndTime, else LastModifiedTime, else 0 (ordering only)
    tuning_job: str | None  # _TuningJobName
    tuned: Params  # _TunedHyperParameters
    definition: str | None  # _DefinitionName
    objective_metric: str | None  # _ObjectiveMetric
    objective_type: str | None  # _ObjectiveType
    launch_index: int  # _LaunchIndex (1-based; 0 for jobs not launched by a tuning job)
    failure_kind: str | None  # _FailureKind
    stop_cause: str | None  # _StopCause
    objective: float | None  # the objective metric's final value, if any
    doc: Mapping[str, Any] = field(compare=False, repr=False)

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> TrainingRecord:
        return cls(
            name=doc["TrainingJobName"], status=doc["TrainingJobStatus"],
            creation_time=doc["CreationTime"],
            finished_at=doc.get("TrainingEndTime") or doc.get("LastModifiedTime") or 0.0,
            tuning_job=doc.get("_TuningJobName"),
            tuned=dict(doc.get("_TunedHyperParameters") or {}),
            definition=doc.get("_DefinitionName"),
            objective_metric=doc.get("_ObjectiveMetric"),
            objective_type=doc.get("_ObjectiveType"),
            launch_index=int(doc.get("_LaunchIndex", 0)),
            failure_kind=doc.get("_FailureKind"), stop_cause=doc.get("_StopCause"),
            objective=_objective_value(doc), doc=doc,
        )

    # Derived members are computed once: the reconciler keeps a record while its stored
    # document stays the same (`controller.tick`), and reads them on every tick.
    @cached_property
    def key(self) -> str:
        """The store's key of the job (metric series are keyed by it)."""
        return self.name.lower()

    @cached_property
    def objective_status(self) -> str:
        """Pending while running; Succeeded when it ended Completed/Stopped with an objective
        (early-stopped jobs keep theirs, spec §4.3 O2); Failed otherwise."""
        if self.status in (TrainingJobStatus.InProgress, TrainingJobStatus.Stopping):
            return ObjectiveStatus.Pending.value
        if self.status in (TrainingJobStatus.Completed, TrainingJobStatus.Stopped) and (
            self.objective is not None
        ):
            return ObjectiveStatus.Succeeded.value
        return ObjectiveStatus.Failed.value

    @cached_property
    def succeeded_objective(self) -> float | None:
        """The objective when the objective status is Succeeded, else None."""
        return self.objective if self.objective_status == ObjectiveStatus.Succeeded else None

    @cached_property
    def loss(self) -> float | None:
        """The objective as a loss (lower is better), or None without one."""
        value = self.succeeded_objective
        return None if value is None else loss(value, maximizes(self.objective_type))

    @cached_property
    def end_order_key(self) -> tuple[float, float]:
        return (self.finished_at, self.creation_time)


def launch_fields(tuning_job: str, definition: DefinitionSpec, params: Params,
                  index: int) -> Doc:
    """The internal fields of a training job the reconciler launches (read by `TrainingRecord`)."""
    return {
        "_TuningJobName": tuning_job,
        "_TunedHyperParameters": dict(params),
        "_DefinitionName": definition.name,
        "_ObjectiveMetric": definition.objective.metric,
        "_ObjectiveType": definition.objective.type,
        "_LaunchIndex": index,
    }


@dataclass(frozen=True)
class Ending:
    """An end decided while training jobs still stop (`_Ending`)."""

    status: str  # TuningJobStatus's value
    failure_reason: str | None
    reason: str | None  # the completion criterion, for the log

    def to_dict(self) -> Doc:
        return {"Status": self.status, "FailureReason": self.failure_reason,
                "Reason": self.reason}


@dataclass(frozen=True)
class TuningRecord:
    name: str
    arn: str
    status: str  # TuningJobStatus's value
    creation_time: float
    spec: TuningSpec  # _Spec (or built from the stored request)
    ending: Ending | None  # _Ending
    exhausted: bool  # _Exhausted
    completion_details: Mapping[str, Any]  # TuningJobCompletionDetails
    doc: Mapping[str, Any] = field(compare=False, repr=False)

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> TuningRecord:
        ending = doc.get("_Ending")
        return cls(
            name=doc["HyperParameterTuningJobName"], arn=doc["HyperParameterTuningJobArn"],
            status=doc["HyperParameterTuningJobStatus"], creation_time=doc["CreationTime"],
            spec=TuningSpec.of(doc),
            ending=None if not ending else Ending(ending["Status"], ending.get("FailureReason"),
                                                  ending.get("Reason")),
            exhausted=bool(doc.get("_Exhausted")),
            completion_details=doc.get("TuningJobCompletionDetails") or {}, doc=doc,
        )
