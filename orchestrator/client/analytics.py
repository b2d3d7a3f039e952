"""A tuning job's data as the SDK's analytics see it, read through the public API.

`analytics_rows` reproduces the SageMaker Python SDK v2's
`HyperparameterTuningJobAnalytics(name).dataframe()` (`sagemaker/analytics.py`, `_fetch_dataframe`)
record for record: the tuned hyperparameters (as float when they parse as one), then
`TrainingJobName`, `TrainingJobStatus`, `FinalObjectiveValue`, `TrainingStartTime`,
`TrainingEndTime`, `TrainingElapsedTimeSeconds` (only when both times are known) and
`TrainingJobDefinitionName` (multi-algorithm jobs); columns in order of first appearance, rows in
the order ListTrainingJobsForHyperParameterTuningJob returns them without SortBy, as the SDK
calls it. `to_csv` / `to_json` write them so that `pandas.read_csv` / `pandas.DataFrame(json)`
give the same table back.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from typing import Any

TIME_COLUMNS = ("TrainingStartTime", "TrainingEndTime")


def training_job_summaries(sm: Any, name: str, **sort: str) -> list[dict[str, Any]]:
    """Every ListTrainingJobsForHyperParameterTuningJob summary of `name` (all pages)."""
    kwargs: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": 100, **sort}
    out: list[dict[str, Any]] = []
    while True:
        page = sm.list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
        out += page["TrainingJobSummaries"]
        if "NextToken" not in page or not page["TrainingJobSummaries"]:
            return out
        kwargs["NextToken"] = page["NextToken"]


def objective_metric(d: dict[str, Any]) -> str:
    """The objective metric of a Describe answer (also multi-algorithm: the first
    definition's)."""
    config = d["HyperParameterTuningJobConfig"]
    if "HyperParameterTuningJobObjective" in config:
        return config["HyperParameterTuningJobObjective"]["MetricName"]
    return d["TrainingJobDefinitions"][0]["TuningObjective"]["MetricName"]


def objective_type(d: dict[str, Any]) -> str:
    config = d["HyperParameterTuningJobConfig"]
    if "HyperParameterTuningJobObjective" in config:
        return config["HyperParameterTuningJobObjective"]["Type"]
    return d["TrainingJobDefinitions"][0]["TuningObjective"]["Type"]


def _number_or_text(value: str) -> float | str:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def analytics_row(summary: dict[str, Any]) -> dict[str, Any]:
    """One record of the SDK's dataframe for one training job summary."""
    out: dict[str, Any] = {k: _number_or_text(v)
                           for k, v in summary["TunedHyperParameters"].items()}
    out["TrainingJobName"] = summary["TrainingJobName"]
    out["TrainingJobStatus"] = summary["TrainingJobStatus"]
    out["FinalObjectiveValue"] = (summary.get("FinalHyperParameterTuningJobObjectiveMetric")
                                  or {}).get("Value")
    start, end = summary.get("TrainingStartTime"), summary.get("TrainingEndTime")
    out["TrainingStartTime"], out["TrainingEndTime"] = start, end
    if start and end:
        out["TrainingElapsedTimeSeconds"] = (end - start).total_seconds()
    if "TrainingJobDefinitionName" in summary:
        out["TrainingJobDefinitionName"] = summary["TrainingJobDefinitionName"]
    return out


def analytics_rows(summaries: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, records) of the SDK's dataframe."""
    rows = [analytics_row(s) for s in summaries]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns), rows


def _plain(value: Any) -> Any:
    """A JSON/CSV-friendly value: times in UTC ISO 8601, missing numbers as None."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def to_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if (v := _plain(row.get(c))) is None else v for c in columns])
    return buf.getvalue()


def to_json(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """A list of records (pandas `orient="records"`), every column in every record."""
    return json.dumps([{c: _plain(row.get(c)) for c in columns} for row in rows], indent=1)


def export(sm: Any, name: str, fmt: str) -> str:
    """The tuning job's analytics table as CSV or JSON text."""
    columns, rows = analytics_rows(training_job_summaries(sm, name))
    return (to_csv if fmt == "csv" else to_json)(columns, rows)
