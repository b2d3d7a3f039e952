"""CloudWatch metrics of training jobs: GetMetricStatistics and GetMetricData (issue 17).

SageMaker publishes every `MetricDefinitions` metric of a training job to CloudWatch, namespace
`/aws/sagemaker/TrainingJobs`, dimension `TrainingJobName`, unit `None`
[DOC sagemaker/latest/dg/training-metrics.html]. The SDK's `TrainingJobAnalytics` (v2 and v3)
reads them with GetMetricStatistics; GetMetricData serves the same series to other tools.
Here they come from the series smlocal stores while parsing the logs.

Semantics kept from CloudWatch [DOC AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics]:
- StartTime is rounded down (to the minute when under 15 days old, 5 minutes under 63 days,
  the hour beyond; to the second for high-resolution periods under 60 s); datapoints are the
  periods `[start + k·Period, start + (k+1)·Period)` that hold samples, before EndTime.
- Period is 1, 5, 10, 20, 30 or a multiple of 60; at most 1,440 datapoints per call.
- Statistics XOR ExtendedStatistics; percentiles `pNN(.N)` by nearest rank.
- Another namespace, dimension set or unit is a metric with no data: an empty answer, not an
  error, as CloudWatch answers for a metric that does not exist.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

from orchestrator.errors import ServiceError
from orchestrator.storage.db import Store

NAMESPACE = "/aws/sagemaker/TrainingJobs"
DIMENSION = "TrainingJobName"
UNIT = "None"
MAX_DATAPOINTS = 1440
DEFAULT_MAX_DATAPOINTS = 100_800  # GetMetricData's default MaxDatapoints
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100)$")
_DAY = 86400.0

Samples = list[tuple[float, float]]  # (value, epoch seconds)


class TrainingJobMetrics:
    supported_operations = frozenset({"GetMetricStatistics", "GetMetricData"})

    def __init__(self, store: Store, now: Callable[[], float]) -> None:
        self.store = store
        self.now = now

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation == "GetMetricStatistics":
            return self.get_metric_statistics(params)
        return self.get_metric_data(params)

    # -- GetMetricStatistics ---------------------------------------------------------------
    def get_metric_statistics(self, p: dict[str, Any]) -> dict[str, Any]:
        stats, extended = p.get("Statistics") or [], p.get("ExtendedStatistics") or []
        if bool(stats) == bool(extended):
            raise ServiceError("InvalidParameterCombination",
                               "Must specify either Statistics or ExtendedStatistics, but not "
                               "both.")
        for name in extended:
            _percentile(name)
        period = _period(p["Period"])
        start, end = self._window(p["StartTime"], p["EndTime"], period)
        requested = math.ceil((end - start) / period)
        if requested > MAX_DATAPOINTS:
            raise ServiceError(
                "InvalidParameterCombination",
                f"You have requested up to {requested} datapoints, which exceeds the limit of "
                f"{MAX_DATAPOINTS}. You may reduce the datapoints requested by increasing "
                "Period, or decreasing the time range.")
        samples = self._samples(p["Namespace"], p["MetricName"], p.get("Dimensions") or [],
                                p.get("Unit"))
        datapoints = []
        for bucket_start, values in _buckets(samples, start, end, period):
            point: dict[str, Any] = {"Timestamp": _datetime(bucket_start), "Unit": UNIT}
            for name in stats:
                point[name] = _statistic(name, values)
            if extended:
                point["ExtendedStatistics"] = {n: _statistic(n, values) for n in extended}
            datapoints.append(point)
        return {"Label": p["MetricName"], "Datapoints": datapoints}

    # -- GetMetricData ---------------------------------------------------------------------
    def get_metric_data(self, p: dict[str, Any]) -> dict[str, Any]:
        descending = p.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        series: list[tuple[dict[str, Any], list[tuple[float, float]]]] = []
        for query in p["MetricDataQueries"]:
            if "MetricStat" not in query:
                raise ServiceError(
                    "InvalidParameterValue",
                    f"Query {query.get('Id')}: smlocal serves MetricStat queries only; metric "
                    "math (Expression) and Metrics Insights are not supported.")
            points = self._stat_points(query["MetricStat"], p["StartTime"], p["EndTime"])
            if query.get("ReturnData", True):
                series.append((query, sorted(points, reverse=descending)))
        return _paginate(series, p.get("MaxDatapoints") or DEFAULT_MAX_DATAPOINTS,
                         p.get("NextToken"))

    def _stat_points(self, stat: dict[str, Any], start_time: Any,
                     end_time: Any) -> list[tuple[float, float]]:
        name = stat["Stat"]
        if name not in STATISTICS:
            _percentile(name)
        period = _period(stat["Period"])
        start, end = self._window(start_time, end_time, period)
        metric = stat["Metric"]
        samples = self._samples(metric.get("Namespace"), metric.get("MetricName"),
                                metric.get("Dimensions") or [], stat.get("Unit"))
        return [(ts, _statistic(name, values))
                for ts, values in _buckets(samples, start, end, period)]

    # -- shared ----------------------------------------------------------------------------
    def _samples(self, namespace: str | None, metric: str | None,
                 dimensions: list[dict[str, str]], unit: str | None) -> Samples:
        if namespace != NAMESPACE or not metric or unit not in (None, UNIT):
            return []
        if len(dimensions) != 1 or dimensions[0].get("Name") != DIMENSION:
            return []
        return self.store.metric_series(dimensions[0].get("Value", ""), metric)

    def _window(self, start: Any, end: Any, period: int) -> tuple[float, float]:
        begin, finish = _epoch(start), _epoch(end)
        if begin >= finish:
            raise ServiceError("InvalidParameterValue",
                               "The parameter StartTime must be less than the parameter "
                               "EndTime.")
        age = self.now() - begin
        step = 1 if period < 60 else 60 if age < 15 * _DAY else 300 if age < 63 * _DAY else 3600
        return math.floor(begin / step) * step, finish


def _buckets(samples: Samples, start: float, end: float,
             period: int) -> list[tuple[float, list[float]]]:
    """Samples grouped by period, as (period start, values), periods in time order."""
    grouped: dict[int, list[float]] = {}
    for value, ts in samples:
        if start <= ts < end:
            grouped.setdefault(int((ts - start) // period), []).append(value)
    return [(start + k * period, grouped[k]) for k in sorted(grouped)]


def _statistic(name: str, values: list[float]) -> float:
    if name == "SampleCount":
        return float(len(values))
    if name == "Sum":
        return math.fsum(values)
    if name == "Average":
        return math.fsum(values) / len(values)
    if name == "Minimum":
        return min(values)
    if name == "Maximum":
        return max(values)
    # Nearest rank: the smallest value with at least p % of the samples at or below it.
    ordered = sorted(values)
    rank = max(1, math.ceil(_percentile(name) / 100 * len(ordered)))
    return ordered[rank - 1]


def _percentile(name: str) -> float:
    match = _PERCENTILE.match(name)
    if not match:
        raise ServiceError(
            "InvalidParameterValue",
            f"The statistic {name!r} is not supported by smlocal: use SampleCount, Average, "
            "Sum, Minimum, Maximum or a percentile pNN (e.g. p90, p99.9).")
    return float(name[1:])


def _period(period: int) -> int:
    if period <= 0 or (period < 60 and period not in HIGH_RESOLUTION_PERIODS) or (
            period >= 60 and period % 60):
        raise ServiceError("InvalidParameterValue",
                           f"The parameter Period must be 1, 5, 10, 20, 30 or a multiple of "
                           f"60 (got {period}).")
    return period


def _paginate(series: list[tuple[dict[str, Any], list[tuple[float, float]]]], limit: int,
              token: str | None) -> dict[str, Any]:
    """MaxDatapoints across all queries, in order; NextToken is the offset reached."""
    offset = 0
    if token:
        if not token.startswith("d/") or not token[2:].isdigit():
            raise ServiceError("InvalidNextToken", f"The NextToken {token!r} is not valid.")
        offset = int(token[2:])
    results, seen, taken = [], 0, 0
    for query, points in series:
        lo = min(max(offset - seen, 0), len(points))
        hi = min(len(points), lo + max(limit - taken, 0))
        seen += len(points)
        taken += hi - lo
        results.append({
            "Id": query["Id"],
            "Label": query.get("Label") or query["MetricStat"]["Metric"].get("MetricName"),
            "Timestamps": [_datetime(ts) for ts, _ in points[lo:hi]],
            "Values": [v for _, v in points[lo:hi]],
            "StatusCode": "Complete" if hi == len(points) else "PartialData",
        })
    out: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
    if offset + taken < seen:
        out["NextToken"] = f"d/{offset + taken}"
    return out


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


def _datetime(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)
