"""Terminal views of tuning jobs (rich): the live `tune --wait` table and listings.

Everything shown comes from Describe/List answers of the SageMaker API (`sm` is a boto3 client).
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestrator.status import TrainingJobStatus, tuning_is_terminal

console = Console()
# Tuning and training jobs share these status values.
_STATUS_STYLE = {TrainingJobStatus.Completed: "green", TrainingJobStatus.InProgress: "cyan",
                 TrainingJobStatus.Stopping: "yellow", TrainingJobStatus.Stopped: "yellow",
                 TrainingJobStatus.Failed: "red"}


def _objective(summary: dict[str, Any]) -> str:
    metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
    return f"{metric['Value']:.6g}" if metric else "-"


def _short(value: str) -> str:
    """4 significant digits for long floats, so the table stays one line a job."""
    if "." not in value and "e" not in value:
        return value
    try:
        return f"{float(value):.4g}"
    except ValueError:
        return value


def training_table(summaries: list[dict[str, Any]], best: str | None = None) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for col in ("training job", "status", "objective", "hyperparameters"):
        table.add_column(col, overflow="fold")
    for s in summaries:
        name = s["TrainingJobName"] + (" *" if s["TrainingJobName"] == best else "")
        hps = " ".join(f"{k}={_short(v)}"
                       for k, v in sorted(s.get("TunedHyperParameters", {}).items()))
        status = s["TrainingJobStatus"]
        table.add_row(name, Text(status, style=_STATUS_STYLE.get(status, "")), _objective(s), hps)
    return table


def _header(d: dict[str, Any]) -> Text:
    c = d["TrainingJobStatusCounters"]
    limits = d["HyperParameterTuningJobConfig"]["ResourceLimits"]
    status = d["HyperParameterTuningJobStatus"]
    text = Text.assemble(
        (d["HyperParameterTuningJobName"], "bold"), "  ",
        (status, _STATUS_STYLE.get(status, "")),
        f"  {d['HyperParameterTuningJobConfig']['Strategy']}"
        f"  completed {c['Completed']}  running {c['InProgress']}  stopped {c['Stopped']}"
        f"  failed {c['NonRetryableError'] + c['RetryableError']}"
        f"  of {limits['MaxNumberOfTrainingJobs']} ({limits['MaxParallelTrainingJobs']} parallel)"
        f"  {d['ConsumedResources']['RuntimeInSeconds']} s")
    best = d.get("BestTrainingJob")
    if best:
        text.append(f"\nbest so far: {best['TrainingJobName']}  objective {_objective(best)}")
    return text


def _all_summaries(sm: Any, name: str) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": 100,
                              "SortBy": "CreationTime"}
    out: list[dict[str, Any]] = []
    while True:
        page = sm.list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
        out += page["TrainingJobSummaries"]
        if "NextToken" not in page:
            return out
        kwargs["NextToken"] = page["NextToken"]


def watch(sm: Any, name: str, poll_seconds: float = 1.0) -> dict[str, Any]:
    """Live table until the tuning job ends; prints the best job and its model location."""
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while True:
            d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
            summaries = _all_summaries(sm, name)
            best = (d.get("BestTrainingJob") or {}).get("TrainingJobName")
            live.update(Group(_header(d), training_table(summaries[-30:], best)))
            if tuning_is_terminal(d["HyperParameterTuningJobStatus"]):
                break
            time.sleep(poll_seconds)
    print_outcome(sm, d)
    return d


def print_outcome(sm: Any, d: dict[str, Any]) -> None:
    status = d["HyperParameterTuningJobStatus"]
    console.print(f"tuning job {d['HyperParameterTuningJobName']} ended {status}",
                  style=_STATUS_STYLE.get(status, ""))
    if d.get("FailureReason"):
        console.print(f"reason: {d['FailureReason']}")
    best = d.get("BestTrainingJob")
    if not best:
        console.print("no training job produced the objective metric")
        return
    job = sm.describe_training_job(TrainingJobName=best["TrainingJobName"])
    metric = best["FinalHyperParameterTuningJobObjectiveMetric"]
    console.print(f"best training job: {best['TrainingJobName']}  "
                  f"{metric['MetricName']} = {metric['Value']:.6g}")
    console.print("hyperparameters: " + " ".join(
        f"{k}={v}" for k, v in sorted(best["TunedHyperParameters"].items())))
    console.print(f"model: {job['ModelArtifacts']['S3ModelArtifacts']}")


def print_tuning_jobs(summaries: list[dict[str, Any]]) -> None:
    table = Table(show_edge=False, pad_edge=False)
    for col in ("tuning job", "status", "strategy", "completed", "running", "created"):
        table.add_column(col)
    for s in summaries:
        c = s["TrainingJobStatusCounters"]
        table.add_row(s["HyperParameterTuningJobName"], s["HyperParameterTuningJobStatus"],
                      s["Strategy"], str(c["Completed"]), str(c["InProgress"]),
                      s["CreationTime"].strftime("%Y-%m-%d %H:%M:%S"))
    console.print(table)


def print_training_jobs(summaries: list[dict[str, Any]]) -> None:
    console.print(training_table(summaries))
