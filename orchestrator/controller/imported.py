"""Imported tuning jobs (issue 11 item 2): finished tuning jobs copied from another SageMaker
endpoint (real AWS, another smlocal) and stored read-only beside local ones.

`plan_import` turns an import request (`ext_import`) into the documents the store keeps:

- the tuning job's Describe **as the source answered it**, and per training job its Describe
  and its `ListTrainingJobsForHyperParameterTuningJob` summary, served back unchanged
  (counters, best job, summaries are not recomputed: they are the remote's facts);
- ARNs of what is stored here are rewritten to this endpoint (its region and account, the local
  name) so that ListTags/AddTags/DescribeTrainingJob work on them; the original ARNs are kept
  in the tag `smlocal:imported-arn`. References to what was not imported (warm-start parents,
  the OverallBestTrainingJob of a parent, S3 URIs, roles, images) stay as they were;
- `--as NEW` renames the tuning job and its training jobs (`<old>-NNN-xxxx` → `<NEW>-NNN-xxxx`,
  others `<NEW>-<old name>`), so one remote job can be imported twice;
- the internal fields the controller reads (`records.TrainingRecord`) are filled from the
  remote data, so an imported job can be a warm-start parent like a local one;
- the internal field `_Imported` ({Source, ImportedAt, OriginalArn}) and the tags
  `smlocal:imported-from` (the source) and `smlocal:imported-arn` mark every stored document.

Imported jobs are terminal, so the reconcile loop (which only visits InProgress/Stopping tuning
jobs) and `TrainingService.recover` (InProgress/Stopping training jobs) never touch them; Stop
is refused (`refuse_stop`), Delete drops the local copy and its training jobs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import Settings
from orchestrator.errors import ResourceInUse, ValidationError
from orchestrator.status import TuningJobStatus, training_is_terminal, tuning_is_terminal
from orchestrator.storage.db import Store

Doc = dict[str, Any]
IMPORTED = "_Imported"
TAG_SOURCE = "smlocal:imported-from"
TAG_ARN = "smlocal:imported-arn"
MARKER_TAGS = (TAG_SOURCE, TAG_ARN)
_CHILD = re.compile(r"-(\d{3})-[0-9a-zA-Z]+$")
_TAG_VALUE_MAX = 256


def is_imported(doc: Doc | None) -> bool:
    return bool(doc) and IMPORTED in doc


def source_of(doc: Doc) -> str:
    return str(doc[IMPORTED]["Source"])


def refuse_stop(doc: Doc | None, what: str, name: str) -> None:
    """Stop* on an imported job: a ValidationException that says why and what to do."""
    if is_imported(doc):
        raise ValidationError(
            f"The {what} {name} was imported from {source_of(doc)} and is a read-only copy of "
            f"a job that already ended there: it cannot be stopped. Delete the tuning job to "
            "drop the local copy.")


def refuse_marker_change(doc: Doc | None, keys: list[str]) -> None:
    """AddTags/DeleteTags must not remove or forge the import marks of an imported job."""
    touched = sorted(set(keys) & set(MARKER_TAGS))
    if is_imported(doc) and touched:
        raise ValidationError(f"Tag {touched[0]} marks an imported job and cannot be changed.")


@dataclass
class ImportPlan:
    tuning: Doc
    training: list[Doc] = field(default_factory=list)
    metrics: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)
    tags: dict[str, list[dict[str, str]]] = field(default_factory=dict)


def plan_import(request: Doc, settings: Settings, now: float) -> ImportPlan:
    """The documents an import stores, or a ValidationError naming every problem found."""
    remote = request["TuningJob"]
    old_name = remote["HyperParameterTuningJobName"]
    name = request.get("HyperParameterTuningJobName") or old_name
    source = request["Source"]
    problems = _problems(remote, request["TrainingJobs"])
    if problems:
        raise ValidationError.from_problems(problems)
    names = _training_names(old_name, name, [t["Description"]["TrainingJobName"]
                                             for t in request["TrainingJobs"]])
    tuning_arn = settings.arn("hyper-parameter-tuning-job", name)
    marker = {"Source": source, "ImportedAt": now}
    tuning = {**remote, "HyperParameterTuningJobName": name,
              "HyperParameterTuningJobArn": tuning_arn,
              IMPORTED: {**marker, "OriginalArn": remote.get("HyperParameterTuningJobArn")}}
    for key in ("BestTrainingJob", "OverallBestTrainingJob"):
        if key in tuning:
            tuning[key] = _rename_summary(tuning[key], names, name, tuning_arn, settings)
    plan = ImportPlan(tuning)
    plan.tags[tuning_arn] = _tags(request.get("Tags"), source,
                                  remote.get("HyperParameterTuningJobArn"))
    objectives = _objectives(remote)
    for index, item in enumerate(request["TrainingJobs"], start=1):
        doc = _training_doc(item, remote, names, name, tuning_arn, settings, objectives, index,
                            marker)
        plan.training.append(doc)
        plan.tags[doc["TrainingJobArn"]] = _tags(item.get("Tags"), source,
                                                 item["Description"].get("TrainingJobArn"))
        plan.metrics[doc["TrainingJobName"]] = [
            (series["MetricName"], float(v), float(t))
            for series in item.get("MetricSeries") or []
            for t, v in zip(series["Timestamps"], series["Values"], strict=True)]
    return plan


def _problems(remote: Doc, jobs: list[Doc]) -> list[str]:
    name = remote["HyperParameterTuningJobName"]
    problems = []
    status = remote["HyperParameterTuningJobStatus"]
    if not tuning_is_terminal(status):
        problems.append(f"Tuning job {name} is {status} at its source; only tuning jobs that "
                        "ended (Completed, Stopped, Failed) can be imported. Wait for it to end.")
    seen: set[str] = set()
    for item in jobs:
        d = item["Description"]
        job = d["TrainingJobName"]
        if job.lower() in seen:
            problems.append(f"Training job {job} is listed more than once.")
        seen.add(job.lower())
        if not training_is_terminal(d["TrainingJobStatus"]):
            problems.append(f"Training job {job} is {d['TrainingJobStatus']}; every training job "
                            "of an imported tuning job must have ended.")
        owner = (item.get("Summary") or {}).get("TuningJobName")
        if owner and owner.lower() != name.lower():
            problems.append(f"Training job {job} belongs to tuning job {owner}, not {name}.")
        for series in item.get("MetricSeries") or []:
            if len(series["Timestamps"]) != len(series["Values"]):
                problems.append(f"Metric series {series['MetricName']} of {job} has "
                                f"{len(series['Timestamps'])} timestamps but "
                                f"{len(series['Values'])} values.")
    return problems


def _training_names(old: str, new: str, names: list[str]) -> dict[str, str]:
    """Remote training job name → local name (unchanged unless the tuning job is renamed)."""
    if old == new:
        return {n: n for n in names}
    out = {}
    for n in names:
        local = new + n[len(old):] if n.lower().startswith(old.lower() + "-") else f"{new}-{n}"
        out[n] = local[:63].rstrip("-")
    if len({v.lower() for v in out.values()}) != len(out):
        raise ValidationError(f"Renamed to {new}, two training jobs would get the same name; "
                              "choose a shorter name.")
    return out


def _rename_summary(summary: Doc, names: dict[str, str], tuning: str, tuning_arn: str,
                    settings: Settings) -> Doc:
    """A training-job summary pointing at the local copies, when the job was imported."""
    job = summary.get("TrainingJobName")
    if job not in names:
        return summary  # a parent's job, not imported: kept as the source said
    out = {**summary, "TrainingJobName": names[job],
           "TrainingJobArn": settings.arn("training-job", names[job])}
    if "TuningJobName" in out:
        out["TuningJobName"] = tuning
    return out


def _objectives(remote: Doc) -> dict[str | None, tuple[str | None, str | None]]:
    """Definition name → (objective metric, type); None keys the single definition."""
    config = remote.get("HyperParameterTuningJobConfig") or {}
    main = config.get("HyperParameterTuningJobObjective") or {}
    out: dict[str | None, tuple[str | None, str | None]] = {
        None: (main.get("MetricName"), main.get("Type"))}
    for d in remote.get("TrainingJobDefinitions") or []:
        objective = d.get("TuningObjective") or main
        out[d.get("DefinitionName")] = (objective.get("MetricName"), objective.get("Type"))
    return out


def _tuned_names(remote: Doc, definition: str | None) -> set[str]:
    ranges = (remote.get("HyperParameterTuningJobConfig") or {}).get("ParameterRanges")
    for d in remote.get("TrainingJobDefinitions") or []:
        if d.get("DefinitionName") == definition:
            ranges = d.get("HyperParameterRanges")
    return {r["Name"] for kind in (ranges or {}).values() for r in kind}


def _training_doc(item: Doc, remote_tuning: Doc, names: dict[str, str], tuning: str,
                  tuning_arn: str, settings: Settings, objectives: dict, index: int,
                  marker: Doc) -> Doc:
    remote = item["Description"]
    old = remote["TrainingJobName"]
    local = names[old]
    arn = settings.arn("training-job", local)
    summary = item.get("Summary")
    definition = (summary or {}).get("TrainingJobDefinitionName")
    if summary is not None:
        tuned = dict(summary.get("TunedHyperParameters") or {})
        summary = {**summary, "TrainingJobName": local, "TrainingJobArn": arn,
                   "TuningJobName": tuning}
    else:
        keep = _tuned_names(remote_tuning, definition)
        tuned = {k: v for k, v in (remote.get("HyperParameters") or {}).items() if k in keep}
    metric, kind = objectives.get(definition, objectives[None])
    launch = _CHILD.search(old)
    doc = {**remote, "TrainingJobName": local, "TrainingJobArn": arn, "TuningJobArn": tuning_arn,
           IMPORTED: {**marker, "OriginalArn": remote.get("TrainingJobArn")},
           "_TuningJobName": tuning, "_TunedHyperParameters": tuned,
           "_DefinitionName": definition, "_ObjectiveMetric": metric, "_ObjectiveType": kind,
           "_LaunchIndex": int(launch.group(1)) if launch else index}
    if summary is not None:
        doc["_Summary"] = summary
    if remote["TrainingJobStatus"] == "Failed":
        doc["_FailureKind"] = "algorithm"
    return doc


def _tags(tags: list[dict[str, str]] | None, source: str, original_arn: str | None
          ) -> list[dict[str, str]]:
    out = [t for t in tags or [] if t["Key"] not in MARKER_TAGS]
    out.append({"Key": TAG_SOURCE, "Value": source[:_TAG_VALUE_MAX]})
    if original_arn:
        out.append({"Key": TAG_ARN, "Value": original_arn[:_TAG_VALUE_MAX]})
    return out


def describe_tuning_job(doc: Doc) -> Doc:
    """Describe of an imported tuning job: what its source answered (internal fields are
    dropped by the API)."""
    return dict(doc)


def tuning_summary(doc: Doc) -> Doc:
    """ListHyperParameterTuningJobs' summary of an imported job, from its stored Describe."""
    config = doc["HyperParameterTuningJobConfig"]
    return {k: doc.get(k) for k in (
        "HyperParameterTuningJobName", "HyperParameterTuningJobArn",
        "HyperParameterTuningJobStatus", "CreationTime", "HyperParameterTuningEndTime",
        "LastModifiedTime", "TrainingJobStatusCounters", "ObjectiveStatusCounters")} | {
        "Strategy": config["Strategy"], "ResourceLimits": config.get("ResourceLimits")}


def stored_training_summary(doc: Doc) -> Doc | None:
    """The source's summary of an imported training job (None for local jobs)."""
    return doc.get("_Summary") if is_imported(doc) else None



def delete(store: Store, doc: Doc) -> None:
    """DeleteHyperParameterTuningJob of an imported job: the local copy, its training jobs,
    their metric series and tags go; refused while a running local job warm-starts from it."""
    name = doc["HyperParameterTuningJobName"]
    active = store.list_tuning_jobs(statuses=[TuningJobStatus.InProgress.value,
                                              TuningJobStatus.Stopping.value])
    for child in active:
        parents = (child.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs", [])
        if any(p.get("HyperParameterTuningJobName", "").lower() == name.lower()
               for p in parents):
            raise ResourceInUse(
                f"Tuning job {child['HyperParameterTuningJobName']} is running and warm-starts "
                f"from {name}; delete {name} once it has ended.")
    jobs = store.list_training_jobs(tuning_job=name)
    store.delete_tuning_job_with_training_jobs(
        name, [doc["HyperParameterTuningJobArn"], *(j["TrainingJobArn"] for j in jobs)])
