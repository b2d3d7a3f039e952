"""CloudWatch statistics over stored metric series: bucketing, statistics, rounding, limits,
pagination. Fast: an in-memory store and a fixed clock."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from orchestrator.controller import cloudwatch_metrics as cw
from orchestrator.errors import ServiceError
from orchestrator.storage.db import Store

NOW = 1_800_000_000.0
T0 = (NOW // 3600 - 2) * 3600  # two hours ago, a whole hour


@pytest.fixture
def metrics() -> cw.TrainingJobMetrics:
    return cw.TrainingJobMetrics(Store(":memory:"), lambda: NOW)


def request(**overrides) -> dict:
    base = {"Namespace": cw.NAMESPACE, "MetricName": "loss",
            "Dimensions": [{"Name": cw.DIMENSION, "Value": "Job-A"}],
            "StartTime": dt.datetime.fromtimestamp(T0, dt.UTC),
            "EndTime": dt.datetime.fromtimestamp(T0 + 3600, dt.UTC), "Period": 60,
            "Statistics": ["SampleCount", "Sum", "Average", "Minimum", "Maximum"]}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_buckets_partition_the_samples_in_the_window(metrics) -> None:
    """Property: for random samples, SampleCount and Sum over all datapoints equal those of
    the samples inside [start, end), and every datapoint's min ≤ average ≤ max."""
    rng = random.Random(7)
    samples = [("loss", rng.uniform(-5, 5), T0 + rng.uniform(-600, 4200)) for _ in range(400)]
    metrics.store.add_metrics("job-a", samples)  # names are case-insensitive, as in SageMaker
    for period in (60, 300, 3600):
        points = metrics.handle("GetMetricStatistics", request(Period=period))["Datapoints"]
        inside = [v for _, v, t in samples if T0 <= t < T0 + 3600]
        assert sum(p["SampleCount"] for p in points) == len(inside)
        assert sum(p["Sum"] for p in points) == pytest.approx(sum(inside))
        for p in points:
            assert p["Minimum"] <= p["Average"] <= p["Maximum"]
            assert (p["Timestamp"].timestamp() - T0) % period == 0


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert cw._statistic("p50", values) == 5.0
    assert cw._statistic("p90", values) == 9.0
    assert cw._statistic("p99.9", values) == 10.0
    assert cw._statistic("p100", values) == 10.0
    assert cw._statistic("p0", values) == 1.0


@pytest.mark.parametrize(("age_days", "step"), [(1, 60), (20, 300), (90, 3600)])
def test_start_time_rounding_depends_on_its_age(metrics, age_days, step) -> None:
    start = NOW - age_days * 86400 + 7  # 7 s past some boundary
    begin, _ = metrics._window(start, start + 10_000, 300 if step == 300 else 60)
    assert begin % step == 0 and start - step < begin <= start


def test_high_resolution_periods_round_to_the_second(metrics) -> None:
    assert metrics._window(NOW - 100.4, NOW, 5)[0] == NOW - 101


@pytest.mark.parametrize("period", [0, 7, 59, 61, 90])
def test_invalid_periods(metrics, period) -> None:
    with pytest.raises(ServiceError, match="Period must be"):
        metrics.handle("GetMetricStatistics", request(Period=period))


def test_too_many_datapoints(metrics) -> None:
    with pytest.raises(ServiceError, match="1441 datapoints") as info:
        metrics.handle("GetMetricStatistics", request(
            Period=60, EndTime=dt.datetime.fromtimestamp(T0 + 1441 * 60, dt.UTC)))
    assert info.value.code == "InvalidParameterCombination"


def test_metric_data_pages_cover_every_point_once(metrics) -> None:
    metrics.store.add_metrics("Job-A", [("loss", float(i), T0 + 60 * i) for i in range(25)])
    stat = {"Metric": {"Namespace": cw.NAMESPACE, "MetricName": "loss",
                       "Dimensions": [{"Name": cw.DIMENSION, "Value": "Job-A"}]},
            "Period": 60, "Stat": "Maximum"}
    queries = [{"Id": "a", "MetricStat": stat}, {"Id": "b", "MetricStat": stat}]
    seen: dict[str, list[float]] = {"a": [], "b": []}
    token = None
    for _ in range(20):
        extra = {"NextToken": token} if token else {}
        page = metrics.handle("GetMetricData", {
            "MetricDataQueries": queries, "StartTime": T0, "EndTime": T0 + 3600,
            "MaxDatapoints": 7, "ScanBy": "TimestampAscending", **extra})
        assert sum(len(r["Values"]) for r in page["MetricDataResults"]) <= 7
        for result in page["MetricDataResults"]:
            seen[result["Id"]] += result["Values"]
        token = page.get("NextToken")
        if token is None:
            break
    assert seen == {"a": [float(i) for i in range(25)], "b": [float(i) for i in range(25)]}


def test_expressions_are_refused_with_a_clear_message(metrics) -> None:
    with pytest.raises(ServiceError, match="MetricStat queries only"):
        metrics.handle("GetMetricData", {"MetricDataQueries": [{"Id": "e", "Expression": "m1*2"}],
                                         "StartTime": T0, "EndTime": T0 + 60})
