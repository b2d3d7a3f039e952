"""`tune --wait` progress: the live table fits the terminal; event lines for logs and pipes."""

from __future__ import annotations

import datetime as dt
import io

from rich.console import Console

from orchestrator.client.analytics import analytics_rows, to_csv, to_json
from orchestrator.client.progress import EventLines, completion_reason, live_view

T0 = dt.datetime(2026, 12, 1, 4, 0, tzinfo=dt.UTC)


def summary(i: int, status: str = "InProgress", value: float | None = None) -> dict:
    s = {"TrainingJobName": f"a-rather-long-tuning-job-name-{i:03d}-0123abcd",
         "TrainingJobStatus": status, "CreationTime": T0,
         "TunedHyperParameters": {"learning_rate": "0.0123456789", "max_depth": str(i),
                                  "booster": "gbtree", "l2_regularization": "3.14159265"}}
    if value is not None:
        s["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "MetricName": "validation:logloss", "Value": value}
        s["TrainingStartTime"] = T0 + dt.timedelta(seconds=i)
        s["TrainingEndTime"] = T0 + dt.timedelta(seconds=10 * i + 5)
    return s


def describe(status: str = "InProgress", best: dict | None = None, **extra) -> dict:
    d = {"HyperParameterTuningJobName": "a-rather-long-tuning-job-name",
         "HyperParameterTuningJobStatus": status,
         "HyperParameterTuningJobConfig": {
             "Strategy": "Bayesian",
             "HyperParameterTuningJobObjective": {"Type": "Minimize",
                                                  "MetricName": "validation:logloss"},
             "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2}},
         "TrainingJobStatusCounters": {"Completed": 0, "InProgress": 2, "RetryableError": 0,
                                       "NonRetryableError": 0, "Stopped": 0},
         "ConsumedResources": {"RuntimeInSeconds": 12}, **extra}
    if best:
        d["BestTrainingJob"] = best
    return d


def test_the_live_table_fits_the_terminal_width_and_height() -> None:
    jobs = [summary(i, "Completed", 0.1 + i) for i in range(40)]
    for width in (50, 80, 120):
        out = io.StringIO()
        console = Console(file=out, width=width, height=20, force_terminal=True,
                          color_system=None)
        console.print(live_view(describe(best=jobs[0]), jobs, width, console.height))
        lines = out.getvalue().splitlines()
        assert all(len(line) <= width for line in lines), (width, lines)
        assert len(lines) <= 20, lines
        rows = [line for line in lines if "Completed" in line]
        assert len(rows) == 15  # one line a job: the latest that fit, never a wrapped row
        assert "…" in out.getvalue()  # cut, not folded


def test_event_lines_say_launch_end_best_and_the_end_of_the_tuning_job() -> None:
    events = EventLines()
    first = events.update(describe(), [summary(1), summary(2)])
    assert len(first) == 2 and first[0].startswith("launched a-rather-long-tuning-job-name-001")
    assert "learning_rate=0.01235" in first[0] and "booster=gbtree" in first[0]
    assert events.update(describe(), [summary(1), summary(2)]) == []  # nothing new
    done = summary(1, "Completed", 0.25)
    best = {**done}
    lines = events.update(describe(best=best), [done, summary(2)])
    assert lines == ["ended a-rather-long-tuning-job-name-001-0123abcd  Completed  objective 0.25",
                     "new best a-rather-long-tuning-job-name-001-0123abcd  objective 0.25  "
                     "booster=gbtree l2_regularization=3.142 learning_rate=0.01235 max_depth=1"]
    failed = {**summary(2), "TrainingJobStatus": "Failed", "FailureReason": "AlgorithmError: x"}
    end = describe("Completed", best=best)
    end["TrainingJobStatusCounters"].update(Completed=2, InProgress=0, NonRetryableError=1)
    lines = events.update(end, [done, failed, summary(3, "Completed", 0.5)])
    assert lines[0] == ("ended a-rather-long-tuning-job-name-002-0123abcd  Failed  objective -"
                        "  (AlgorithmError: x)")
    assert lines[1].startswith("launched a-rather-long-tuning-job-name-003")
    assert lines[2].startswith("ended a-rather-long-tuning-job-name-003-0123abcd  Completed")
    assert lines[3] == ("tuning job a-rather-long-tuning-job-name ended Completed: all 3 "
                        "training jobs ran (MaxNumberOfTrainingJobs)")


def test_completion_reasons() -> None:
    assert completion_reason(describe("Failed", FailureReason="boom")) == "boom"
    assert completion_reason(describe("Stopped")).startswith("stopped")
    converged = describe("Completed", TuningJobCompletionDetails={
        "ConvergenceDetectedTime": T0})
    assert completion_reason(converged).startswith("convergence detected")
    target = describe("Completed", best=summary(1, "Completed", 0.05))
    target["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"] = {
        "TargetObjectiveMetricValue": 0.1}
    assert completion_reason(target) == "objective target 0.1 reached"


def test_analytics_rows_match_the_sdk_record_shape() -> None:
    multi = {**summary(2, "Completed", 0.5), "TrainingJobDefinitionName": "gbm"}
    columns, rows = analytics_rows([summary(1), multi])
    assert columns == ["learning_rate", "max_depth", "booster", "l2_regularization",
                       "TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue",
                       "TrainingStartTime", "TrainingEndTime", "TrainingElapsedTimeSeconds",
                       "TrainingJobDefinitionName"]
    assert rows[0]["max_depth"] == 1.0 and rows[0]["booster"] == "gbtree"
    assert "TrainingElapsedTimeSeconds" not in rows[0] and rows[0]["FinalObjectiveValue"] is None
    assert rows[1]["TrainingElapsedTimeSeconds"] == 23.0
    csv_lines = to_csv(columns, rows).splitlines()
    assert csv_lines[0] == ",".join(columns)
    assert csv_lines[2].endswith(",0.5,2026-12-01T04:00:02+00:00,2026-12-01T04:00:25+00:00,23.0,gbm")
    assert '"TrainingEndTime": null' in to_json(columns, rows)
