"""A bundle (`client.bundle`) from what most users already have: the CSV of the SageMaker
Python SDK's `HyperparameterTuningJobAnalytics(name).dataframe()` (`df.to_csv(...)`, with or
without the index column) and the CreateHyperParameterTuningJob request that ran it.

What the two say is kept; what they cannot say is absent, not invented:
- per row a training job: its name, status, start and end times, the tuned hyperparameters
  (written back as SageMaker writes them: integers without `.0`, categorical values as the
  request lists them, the SDK having turned every number into a float), the static ones and the
  training job definition's members from the request, and the objective's final value as the
  one entry of FinalMetricDataList (no timestamp: the CSV has none);
- absent: model artifacts, secondary status and its transitions, billable and training time,
  other metrics, metric series, failure reasons, the tuning job's end time and its consumed
  resources.
- required by SageMaker's shapes yet not in the CSV, hence approximated (documented in the
  README): each training job's CreationTime is its TrainingStartTime (the tuning job's
  CreationTime, the earliest one, for a job that never started); failed jobs count as
  NonRetryableError; the tuning job's status is Completed unless `status` says otherwise.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import math
import time
from pathlib import Path
from typing import Any

from orchestrator.client.bundle import ENDED, FORMAT, FORMAT_VERSION, BundleError

FIXED = ("TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue", "TrainingStartTime",
         "TrainingEndTime", "TrainingElapsedTimeSeconds", "TrainingJobDefinitionName")
INDEX_COLUMNS = ("", "Unnamed: 0")
# SageMaker adds the objective's name to every training job a tuning job launches
# (spec §9.3; `controller.constants.TUNING_OBJECTIVE_KEY`), so it is known from the request.
OBJECTIVE_KEY = "_tuning_objective_metric"
# Members of a training job definition every launched training job carries (spec §4.5 N3).
COPIED = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
          "VpcConfig", "StoppingCondition", "EnableNetworkIsolation",
          "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
          "CheckpointConfig", "RetryStrategy", "Environment", "ResourceConfig")


def bundle_from_csv(csv_path: str, request: dict[str, Any], *,
                    status: str = "Completed") -> dict[str, Any]:
    """The bundle of the tuning job `request` ran, from its analytics CSV."""
    if status not in ENDED:
        raise BundleError(f"--status must be one of {', '.join(ENDED)}")
    name = request.get("HyperParameterTuningJobName")
    config = request.get("HyperParameterTuningJobConfig")
    if not isinstance(name, str) or not isinstance(config, dict):
        raise BundleError("the request needs HyperParameterTuningJobName and "
                          "HyperParameterTuningJobConfig (a CreateHyperParameterTuningJob body)")
    definitions = _definitions(request)
    rows = _read(csv_path)
    jobs = [_job(csv_path, line, row, request, definitions) for line, row in rows]
    if not jobs:
        raise BundleError(f"{csv_path}: no training jobs (the CSV has a header only)")
    starts = [j["Description"]["TrainingStartTime"] for j in jobs
              if "TrainingStartTime" in j["Description"]]
    created = min(starts) if starts else time.time()
    for job in jobs:
        for part in (job["Description"], job["Summary"]):
            part.setdefault("CreationTime", created)
    tuning = {k: copy.deepcopy(v) for k, v in request.items() if k != "Tags"}
    tuning.update(HyperParameterTuningJobStatus=status, CreationTime=created,
                  TrainingJobStatusCounters=_status_counters(jobs),
                  ObjectiveStatusCounters=_objective_counters(jobs))
    best = _best(jobs, definitions)
    if best is not None:
        tuning["BestTrainingJob"] = best
    return {"Format": FORMAT, "FormatVersion": FORMAT_VERSION,
            "Source": f"analytics CSV {Path(csv_path).name}", "CreatedAt": time.time(),
            "MetricSeriesSource": "none: an analytics CSV has final objective values only",
            "TuningJob": tuning, "Tags": list(request.get("Tags") or []), "TrainingJobs": jobs}


def _definitions(request: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    """Definition name (None: the single one) → {body, objective, ranges by name}."""
    config = request["HyperParameterTuningJobConfig"]
    out: dict[str | None, dict[str, Any]] = {}
    bodies = ([(None, request["TrainingJobDefinition"])] if "TrainingJobDefinition" in request
              else [(d.get("DefinitionName"), d) for d in request.get("TrainingJobDefinitions")
                    or []])
    if not bodies:
        raise BundleError("the request has no TrainingJobDefinition(s)")
    for name, body in bodies:
        objective = body.get("TuningObjective") or config.get("HyperParameterTuningJobObjective")
        ranges = body.get("HyperParameterRanges") or config.get("ParameterRanges") or {}
        if not objective:
            raise BundleError("the request has no HyperParameterTuningJobObjective")
        out[name] = {"body": body, "objective": objective,
                     "ranges": {r["Name"]: (kind, r) for kind, items in ranges.items()
                                for r in items}}
    return out


def _read(path: str) -> list[tuple[int, dict[str, str]]]:
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            rows = [(reader.line_num, row) for row in reader]
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: not a CSV file ({exc})") from None
    for needed in ("TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue"):
        if needed not in header:
            raise BundleError(f"{path}: no column {needed!r}; expected the CSV of "
                              "HyperparameterTuningJobAnalytics(...).dataframe() (columns: "
                              "the tuned hyperparameters, " + ", ".join(FIXED[:-1]) + ")")
    for line, row in rows:
        if None in row:
            raise BundleError(f"{path}:{line}: more cells than columns")
    return rows


def _job(path: str, line: int, row: dict[str, str], request: dict[str, Any],
         definitions: dict[str | None, dict[str, Any]]) -> dict[str, Any]:
    where = f"{path}:{line}"
    name, status = row["TrainingJobName"].strip(), row["TrainingJobStatus"].strip()
    if not name:
        raise BundleError(f"{where}: empty TrainingJobName")
    if status not in ENDED:
        raise BundleError(f"{where}: training job {name} is {status or 'without a status'}; "
                          "only tuning jobs whose training jobs all ended can be imported")
    definition_name = (row.get("TrainingJobDefinitionName") or "").strip() or None
    if definition_name not in definitions:
        if definition_name is None and len(definitions) == 1:
            definition_name = next(iter(definitions))
        else:
            raise BundleError(f"{where}: TrainingJobDefinitionName {definition_name!r} is not "
                              "one of the request's definitions")
    definition = definitions[definition_name]
    tuned = _tuned(where, row, definition["ranges"], definitions)
    objective = definition["objective"]
    value = _number(where, "FinalObjectiveValue", row["FinalObjectiveValue"])
    start = _time(where, "TrainingStartTime", row.get("TrainingStartTime"))
    end = _time(where, "TrainingEndTime", row.get("TrainingEndTime"))
    body = definition["body"]
    described: dict[str, Any] = {k: copy.deepcopy(body[k]) for k in COPIED if k in body}
    if "ResourceConfig" not in described and "HyperParameterTuningResourceConfig" in body:
        described["ResourceConfig"] = {k: v for k, v in body[
            "HyperParameterTuningResourceConfig"].items() if k != "InstanceConfigs"}
    described.update(TrainingJobName=name, TrainingJobStatus=status, HyperParameters={
        **(body.get("StaticHyperParameters") or {}), **tuned,
        OBJECTIVE_KEY: objective["MetricName"]})
    summary: dict[str, Any] = {"TrainingJobName": name, "TrainingJobStatus": status,
                               "TuningJobName": request["HyperParameterTuningJobName"],
                               "TunedHyperParameters": tuned}
    if definition_name is not None:
        summary["TrainingJobDefinitionName"] = definition_name
    for key, moment in (("TrainingStartTime", start), ("TrainingEndTime", end)):
        if moment is not None:
            described[key] = summary[key] = moment
    if start is not None:
        described["CreationTime"] = summary["CreationTime"] = start
    succeeded = value is not None and status in ("Completed", "Stopped")
    summary["ObjectiveStatus"] = "Succeeded" if succeeded else "Failed"
    if value is not None:
        metric = {"MetricName": objective["MetricName"], "Value": value}
        described["FinalMetricDataList"] = [dict(metric)]
        if succeeded:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = metric
    return {"Description": described, "Summary": summary, "Tags": []}


def _tuned(where: str, row: dict[str, str], ranges: dict[str, tuple[str, dict]],
           definitions: dict[str | None, dict[str, Any]]) -> dict[str, str]:
    every = {n for d in definitions.values() for n in d["ranges"]}
    out = {}
    for column, cell in row.items():
        if column in FIXED or column in INDEX_COLUMNS:
            continue
        if column not in every:
            raise BundleError(f"{where}: column {column!r} is neither a hyperparameter range "
                              "of the request nor a column of the SDK's analytics")
        if column not in ranges or cell.strip() == "":
            continue
        kind, spec = ranges[column]
        out[column] = _hyperparameter(where, column, cell.strip(), kind, spec)
    return out


def _hyperparameter(where: str, name: str, cell: str, kind: str, spec: dict[str, Any]) -> str:
    """The value as SageMaker sends it in TunedHyperParameters."""
    if kind == "CategoricalParameterRanges":
        values = spec.get("Values") or []
        if cell in values:
            return cell
        number = _number(where, name, cell)
        for value in values:  # the SDK made "1" a float: 1.0
            try:
                if number is not None and float(value) == number:
                    return value
            except ValueError:
                continue
        raise BundleError(f"{where}: {name}={cell!r} is not one of the request's values "
                          f"{values}")
    number = _number(where, name, cell)
    if number is None:
        raise BundleError(f"{where}: {name} has no value")
    if kind == "IntegerParameterRanges":
        if not number.is_integer():
            raise BundleError(f"{where}: {name}={cell!r} is not an integer")
        return str(int(number))
    return repr(number)


def _number(where: str, column: str, cell: str | None) -> float | None:
    if cell is None or cell.strip() == "":
        return None
    try:
        value = float(cell)
    except ValueError:
        raise BundleError(f"{where}: {column}={cell!r} is not a number") from None
    if math.isnan(value):
        return None
    if math.isinf(value):
        raise BundleError(f"{where}: {column}={cell!r} is not a finite number")
    return value


def _time(where: str, column: str, cell: str | None) -> float | None:
    if cell is None or cell.strip() in ("", "NaT"):
        return None
    try:
        moment = dt.datetime.fromisoformat(cell.strip())
    except ValueError:
        raise BundleError(f"{where}: {column}={cell!r} is not a timestamp") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _status_counters(jobs: list[dict[str, Any]]) -> dict[str, int]:
    statuses = [j["Description"]["TrainingJobStatus"] for j in jobs]
    return {"Completed": statuses.count("Completed"), "InProgress": 0, "RetryableError": 0,
            "NonRetryableError": statuses.count("Failed"), "Stopped": statuses.count("Stopped")}


def _objective_counters(jobs: list[dict[str, Any]]) -> dict[str, int]:
    kinds = [j["Summary"]["ObjectiveStatus"] for j in jobs]
    return {"Succeeded": kinds.count("Succeeded"), "Pending": 0, "Failed": kinds.count("Failed")}


def _best(jobs: list[dict[str, Any]], definitions: dict) -> dict[str, Any] | None:
    """The best by the objective among jobs with one (ties: the earliest), as SageMaker picks."""
    scored = []
    for job in jobs:
        summary = job["Summary"]
        metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
        if metric is None:
            continue
        objective = definitions[summary.get("TrainingJobDefinitionName")]["objective"]
        sign = -1.0 if objective["Type"] == "Maximize" else 1.0
        scored.append((sign * metric["Value"], summary["CreationTime"], summary))
    if not scored:
        return None
    return copy.deepcopy(min(scored, key=lambda s: (s[0], s[1]))[2])
