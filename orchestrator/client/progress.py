"""Views of tuning jobs: the live `tune --wait` table, event lines, and listings.

On a terminal `watch` redraws a table fitted to the terminal's width and height (cells are cut
with an ellipsis, a row never wraps). When stdout is not a terminal (CI logs, pipes) it prints
one line per event instead: a training job launched (with its hyperparameters), a training job
ended (status and objective), a new best, the tuning job ended (with the reason).

Everything shown comes from Describe/List answers of the SageMaker API (`sm` is a boto3 client).
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestrator.client.analytics import objective_type, training_job_summaries
from orchestrator.status import (
    TrainingJobStatus,
    TuningJobStatus,
    training_is_terminal,
    tuning_is_terminal,
)

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


def _hyperparameters(summary: dict[str, Any]) -> str:
    return " ".join(f"{k}={_short(v)}"
                    for k, v in sorted(summary.get("TunedHyperParameters", {}).items()))


def training_table(summaries: list[dict[str, Any]], best: str | None = None,
                   width: int | None = None) -> Table:
    """One row a training job. With `width` (the terminal's) no cell wraps: the columns share
    the width, the hyperparameters take what is left, and what does not fit is cut with an
    ellipsis, so a row stays one line."""
    table = Table(show_edge=False, pad_edge=False)
    columns = ("training job", "status", "objective", "hyperparameters")
    if width is None:
        for col in columns:
            table.add_column(col, overflow="fold")
    else:
        status_w, objective_w = len("InProgress"), len("objective") + 2
        longest = max((len(s["TrainingJobName"]) + 2 for s in summaries), default=12)
        name_w = max(12, min(longest, (width - status_w - objective_w) // 2))
        rest = max(8, width - name_w - status_w - objective_w - 3 * 3)
        for col, w in zip(columns, (name_w, status_w, objective_w, rest), strict=True):
            table.add_column(col, width=w, no_wrap=True, overflow="ellipsis")
    for s in summaries:
        name = s["TrainingJobName"] + (" *" if s["TrainingJobName"] == best else "")
        hps = _hyperparameters(s)
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
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def _all_summaries(sm: Any, name: str) -> list[dict[str, Any]]:
    return training_job_summaries(sm, name, SortBy="CreationTime")


def completion_reason(d: dict[str, Any]) -> str:
    """Why the tuning job ended, from its Describe answer."""
    if d.get("FailureReason"):
        return d["FailureReason"]
    status = d["HyperParameterTuningJobStatus"]
    if status == TuningJobStatus.Stopped:
        return "stopped (StopHyperParameterTuningJob)"
    config = d["HyperParameterTuningJobConfig"]
    limits, c = config["ResourceLimits"], d["TrainingJobStatusCounters"]
    launched = sum(c.values())
    details = d.get("TuningJobCompletionDetails") or {}
    target = (config.get("TuningJobCompletionCriteria") or {}).get("TargetObjectiveMetricValue")
    best = (d.get("BestTrainingJob") or {}).get("FinalHyperParameterTuningJobObjectiveMetric")
    if details.get("ConvergenceDetectedTime"):
        return "convergence detected (TuningJobCompletionCriteria)"
    maximize = objective_type(d) == "Maximize"
    if target is not None and best is not None and (
            best["Value"] >= target if maximize else best["Value"] <= target):
        return f"objective target {target:g} reached"
    if launched >= limits["MaxNumberOfTrainingJobs"]:
        return f"all {limits['MaxNumberOfTrainingJobs']} training jobs ran (MaxNumberOfTrainingJobs)"
    if limits.get("MaxRuntimeInSeconds") and d["ConsumedResources"]["RuntimeInSeconds"] >= \
            limits["MaxRuntimeInSeconds"]:
        return f"MaxRuntimeInSeconds ({limits['MaxRuntimeInSeconds']}) reached"
    return f"{launched} training jobs ran; the strategy proposed no more"


class EventLines:
    """What changed between two polls, as one line per event (for logs and pipes)."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self.best: str | None = None

    def update(self, d: dict[str, Any], summaries: list[dict[str, Any]]) -> list[str]:
        lines = []
        for s in summaries:
            job, status = s["TrainingJobName"], s["TrainingJobStatus"]
            if job not in self.statuses:
                lines.append(f"launched {job}  {_hyperparameters(s)}")
            if status != self.statuses.get(job) and training_is_terminal(status):
                reason = f"  ({s['FailureReason']})" if s.get("FailureReason") else ""
                lines.append(f"ended {job}  {status}  objective {_objective(s)}{reason}")
            self.statuses[job] = status
        best = d.get("BestTrainingJob")
        if best and best["TrainingJobName"] != self.best:
            self.best = best["TrainingJobName"]
            lines.append(f"new best {self.best}  objective {_objective(best)}  "
                         f"{_hyperparameters(best)}")
        status = d["HyperParameterTuningJobStatus"]
        if tuning_is_terminal(status):
            lines.append(f"tuning job {d['HyperParameterTuningJobName']} ended {status}: "
                         f"{completion_reason(d)}")
        return lines


def _poll(sm: Any, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    return d, _all_summaries(sm, name)


def watch(sm: Any, name: str, poll_seconds: float = 1.0) -> dict[str, Any]:
    """Until the tuning job ends: a live table on a terminal, else one line per event; then
    the best job and its model location."""
    if console.is_terminal:
        d = _watch_live(sm, name, poll_seconds)
    else:
        events = EventLines()
        while True:
            d, summaries = _poll(sm, name)
            stamp = time.strftime("%H:%M:%S")
            for line in events.update(d, summaries):
                print(f"{stamp} {line}", flush=True)
            if tuning_is_terminal(d["HyperParameterTuningJobStatus"]):
                break
            time.sleep(poll_seconds)
    print_outcome(sm, d)
    return d


def live_view(d: dict[str, Any], summaries: list[dict[str, Any]], width: int,
              height: int) -> Group:
    """The header and as many of the latest training jobs as fit `height` lines, each row
    one line of at most `width` characters."""
    best = (d.get("BestTrainingJob") or {}).get("TrainingJobName")
    rows = max(3, height - 5)
    return Group(_header(d), training_table(summaries[-rows:], best, width=width))


def _watch_live(sm: Any, name: str, poll_seconds: float) -> dict[str, Any]:
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        while True:
            d, summaries = _poll(sm, name)
            live.update(live_view(d, summaries, console.width, console.height))
            if tuning_is_terminal(d["HyperParameterTuningJobStatus"]):
                return d
            time.sleep(poll_seconds)


def print_outcome(sm: Any, d: dict[str, Any]) -> None:
    status, name = d["HyperParameterTuningJobStatus"], d["HyperParameterTuningJobName"]
    say = console.print
    say(f"tuning job {name} ended {status}", style=_STATUS_STYLE.get(status, ""),
        soft_wrap=True, markup=False)
    if d.get("FailureReason"):
        say(f"reason: {d['FailureReason']}", soft_wrap=True, markup=False)
    best = d.get("BestTrainingJob")
    if not best:
        say("no training job produced the objective metric")
    else:
        job = sm.describe_training_job(TrainingJobName=best["TrainingJobName"])
        metric = best["FinalHyperParameterTuningJobObjectiveMetric"]
        say(f"best training job: {best['TrainingJobName']}  "
            f"{metric['MetricName']} = {metric['Value']:.6g}", soft_wrap=True, markup=False)
        say("hyperparameters: " + " ".join(
            f"{k}={v}" for k, v in sorted(best["TunedHyperParameters"].items())),
            soft_wrap=True, markup=False)
        say(f"model: {job['ModelArtifacts']['S3ModelArtifacts']}", soft_wrap=True, markup=False)
    say(f"report: smlocal report {name} -o {name}.html", soft_wrap=True, markup=False)


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
