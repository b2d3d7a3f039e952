"""The HTML report from made-up Describe/List answers: every section and chart, categorical and
logarithmic axes, multi-algorithm definitions, warm start, a cut job (no server needed)."""

from __future__ import annotations

import datetime as dt
import re

from orchestrator.client.report import early_stopping_decisions, render, slots

T0 = dt.datetime(2026, 12, 1, 4, 0, tzinfo=dt.UTC)


def job(i: int, status: str, value: float | None, start: int, end: int, definition: str) -> dict:
    s = {"TrainingJobName": f"t-{i:03d}", "TrainingJobStatus": status,
         "TrainingJobDefinitionName": definition,
         "CreationTime": T0 + dt.timedelta(seconds=start),
         "TrainingStartTime": T0 + dt.timedelta(seconds=start + 1),
         "TrainingEndTime": T0 + dt.timedelta(seconds=end),
         "TunedHyperParameters": {"eta": str(10 ** -(i % 3 + 1)), "booster": ["gbtree", "dart"][i % 2]}}
    if value is not None:
        s["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": "loss", "Value": value}
    return s


def data() -> dict:
    ranges = {"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.001", "MaxValue": "1",
                                             "ScalingType": "Logarithmic"}],
              "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}]}
    jobs = [job(1, "Completed", 0.5, 0, 30, "a"), job(2, "Completed", 0.3, 0, 40, "b"),
            job(3, "Stopped", None, 31, 45, "a"), job(4, "Failed", None, 41, 50, "b"),
            job(5, "Completed", 0.4, 46, 80, "a")]
    tuning = {"HyperParameterTuningJobName": "multi", "HyperParameterTuningJobStatus": "Completed",
              "CreationTime": T0, "HyperParameterTuningEndTime": T0 + dt.timedelta(seconds=90),
              "HyperParameterTuningJobConfig": {
                  "Strategy": "Bayesian", "TrainingJobEarlyStoppingType": "Auto",
                  "ResourceLimits": {"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 2}},
              "TrainingJobDefinitions": [
                  {"DefinitionName": n, "TuningObjective": {"Type": "Minimize", "MetricName": "loss"},
                   "HyperParameterRanges": ranges,
                   "AlgorithmSpecification": {"TrainingImage": f"img-{n}"}} for n in "ab"],
              "WarmStartConfig": {"WarmStartType": "TransferLearning",
                                  "ParentHyperParameterTuningJobs": [
                                      {"HyperParameterTuningJobName": "parent-1"}]},
              "TrainingJobStatusCounters": {"Completed": 3, "InProgress": 0, "RetryableError": 0,
                                            "NonRetryableError": 1, "Stopped": 1},
              "ConsumedResources": {"RuntimeInSeconds": 90}, "BestTrainingJob": jobs[1]}
    curves = {s["TrainingJobName"]: [(s["TrainingStartTime"] + dt.timedelta(seconds=k), 1.0 / k)
                                     for k in range(1, 6)] for s in jobs[:3]}
    details = {s["TrainingJobName"]: {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tar.gz"},
                                      "SecondaryStatusTransitions": [
                                          {"Status": s["TrainingJobStatus"],
                                           "StatusMessage": "msg"}]} for s in jobs}
    return {"tuning": tuning, "jobs": jobs, "details": details, "curves": curves}


def test_every_section_and_chart_is_drawn() -> None:
    html = render(data())
    charts = re.findall(r'data-chart="([^"]+)"', html)
    assert charts == ["objective", "hyperparameter:eta", "hyperparameter:booster", "parallel",
                      "timeline", "curves"]
    for chart in re.findall(r"<svg.*?</svg>", html):
        assert 'class="mark' in chart
    assert "eta (log)" in html and ">dart<" in html and ">gbtree<" in html
    assert "parent-1" in html and "img-b" in html and "<th>definition</th>" in html
    assert "cut by the tuner" in html and 'class="mark cut"' in html
    assert "s3://b/m.tar.gz" in html and "http" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_slots_and_early_stopping() -> None:
    d = data()
    placed = slots(d["jobs"], T0 + dt.timedelta(seconds=90))
    assert [slot for slot, *_ in placed] == [0, 1, 0, 1, 0]
    decisions = early_stopping_decisions(d)
    assert [(x["job"], x["decision"], x["samples"]) for x in decisions] == [
        ("t-003", "cut by the tuner", 5)]
