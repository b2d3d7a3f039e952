"""A finished tuning job as one JSON document (a *bundle*): what `smlocal snapshot` writes,
`smlocal import --bundle` reads, and `smlocal import --from-endpoint/--profile/--region` sends
to the local server's `SmLocal.ImportHyperParameterTuningJob` without writing it.

Format (`FormatVersion` 1), timestamps as epoch seconds as SageMaker's JSON API sends them:

    {"Format": "smlocal-tuning-job-bundle", "FormatVersion": 1,
     "Source": "<where it was copied from>", "CreatedAt": <epoch>,
     "MetricSeriesSource": "CloudWatch GetMetricData" | "none: <why>",
     "TuningJob": <DescribeHyperParameterTuningJob response>,
     "Tags": [<ListTags of the tuning job>],
     "TrainingJobs": [{"Description": <DescribeTrainingJob response>,
                       "Summary": <its ListTrainingJobsForHyperParameterTuningJob entry>,
                       "Tags": [...],
                       "MetricSeries": [{"MetricName": m, "Timestamps": [...],
                                         "Values": [...]}]}]}

`fetch` reads it from any SageMaker endpoint through boto3 (paginated lists, metric series
from CloudWatch `GetMetricData` when the endpoint serves it, otherwise final values only).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMAT = "smlocal-tuning-job-bundle"
FORMAT_VERSION = 1
NAMESPACE = "/aws/sagemaker/TrainingJobs"
ENDED = ("Completed", "Stopped", "Failed")
_QUERIES_PER_CALL = 500  # GetMetricData's limit of MetricDataQueries


class BundleError(ValueError):
    """A bundle (or its source) cannot be used; the message says what and where."""


def plain(value: Any) -> Any:
    """boto3's answer as JSON data: datetimes as epoch seconds, ResponseMetadata dropped."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
    return value


def fetch(sm: Any, cloudwatch: Any | None, name: str, source: str,
          progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """The bundle of tuning job `name` read through `sm` (and `cloudwatch`, if any)."""
    tuning = plain(sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name))
    status = tuning["HyperParameterTuningJobStatus"]
    if status not in ENDED:
        raise BundleError(f"tuning job {name} is {status} at {source}; only a tuning job that "
                          "has ended can be imported: wait for it to end (or stop it) first")
    summaries = []
    for page in sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
            HyperParameterTuningJobName=name, PaginationConfig={"PageSize": 100}):
        summaries += plain(page["TrainingJobSummaries"])
    progress(f"{len(summaries)} training jobs")
    jobs = []
    for summary in summaries:
        described = plain(sm.describe_training_job(TrainingJobName=summary["TrainingJobName"]))
        jobs.append({"Description": described, "Summary": summary,
                     "Tags": _tags(sm, described["TrainingJobArn"])})
    bundle = {"Format": FORMAT, "FormatVersion": FORMAT_VERSION, "Source": source,
              "CreatedAt": time.time(), "TuningJob": tuning,
              "Tags": _tags(sm, tuning["HyperParameterTuningJobArn"]), "TrainingJobs": jobs}
    bundle["MetricSeriesSource"] = _add_series(cloudwatch, jobs, progress)
    return bundle


def _tags(sm: Any, arn: str) -> list[dict[str, str]]:
    tags: list[dict[str, str]] = []
    for page in sm.get_paginator("list_tags").paginate(ResourceArn=arn):
        tags += page.get("Tags", [])
    return tags


def _add_series(cloudwatch: Any | None, jobs: list[dict[str, Any]],
                progress: Callable[[str], None]) -> str:
    """Each job's metric series from CloudWatch, in place; what the bundle says about them."""
    from botocore.exceptions import BotoCoreError, ClientError

    if cloudwatch is None:
        return "none: not asked for"
    samples = 0
    for job in jobs:
        try:
            job["MetricSeries"] = metric_series(cloudwatch, job["Description"])
        except (ClientError, BotoCoreError) as exc:
            for other in jobs:
                other.pop("MetricSeries", None)
            progress(f"no metric series (CloudWatch: {exc}); final values only")
            return f"none: CloudWatch GetMetricData failed ({exc})"[:500]
        samples += sum(len(s["Values"]) for s in job["MetricSeries"])
    progress(f"{samples} metric samples from CloudWatch")
    return "CloudWatch GetMetricData"


def metric_series(cloudwatch: Any, described: dict[str, Any]) -> list[dict[str, Any]]:
    """One training job's metrics, as CloudWatch keeps them for SageMaker: namespace
    `/aws/sagemaker/TrainingJobs`, dimension `TrainingJobName` (or `Host` = `<job>/algo-1`),
    the `Average` per period, the period as fine as the data's age allows (1 s under 3 hours,
    then 60 s, 300 s, 3600 s: CloudWatch's retention)."""
    job = described["TrainingJobName"]
    names = [m["Name"] for m in (described.get("AlgorithmSpecification") or {}).get(
        "MetricDefinitions") or []]
    names += [m["MetricName"] for m in described.get("FinalMetricDataList") or []
              if m["MetricName"] not in names]
    start = described.get("TrainingStartTime") or described["CreationTime"]
    end = described.get("TrainingEndTime") or described.get("LastModifiedTime") or time.time()
    period = _period(time.time() - start)
    queries = []
    for i, metric in enumerate(names):
        for tag, dimension in (("t", {"Name": "TrainingJobName", "Value": job}),
                               ("h", {"Name": "Host", "Value": f"{job}/algo-1"})):
            queries.append({"Id": f"{tag}{i}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": metric,
                           "Dimensions": [dimension]},
                "Period": period, "Stat": "Average"}})
    found: dict[str, dict[float, float]] = {}
    for chunk in range(0, len(queries), _QUERIES_PER_CALL):
        kwargs = {"MetricDataQueries": queries[chunk:chunk + _QUERIES_PER_CALL],
                  "StartTime": dt.datetime.fromtimestamp(math.floor(start) - period, dt.UTC),
                  "EndTime": dt.datetime.fromtimestamp(math.ceil(end) + period, dt.UTC),
                  "ScanBy": "TimestampAscending"}
        while True:
            page = cloudwatch.get_metric_data(**kwargs)
            for result in page["MetricDataResults"]:
                points = found.setdefault(result["Id"], {})
                for ts, value in zip(result["Timestamps"], result["Values"], strict=True):
                    points[plain(ts)] = float(value)
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    out = []
    for i, metric in enumerate(names):
        points = found.get(f"t{i}") or found.get(f"h{i}") or {}
        if points:
            ordered = sorted(points.items())
            out.append({"MetricName": metric, "Timestamps": [t for t, _ in ordered],
                        "Values": [v for _, v in ordered]})
    return out


def _period(age: float) -> int:
    if age < 3 * 3600:
        return 1
    if age < 15 * 86400:
        return 60
    return 300 if age < 63 * 86400 else 3600


def to_request(bundle: dict[str, Any], as_name: str | None = None) -> dict[str, Any]:
    """The body of `SmLocal.ImportHyperParameterTuningJob` for `bundle`."""
    body = {k: bundle[k] for k in ("Source", "TuningJob", "Tags", "TrainingJobs")
            if k in bundle}
    if as_name:
        body["HyperParameterTuningJobName"] = as_name
    return body


def save(bundle: dict[str, Any], path: str) -> None:
    """Write atomically: a half-written bundle never exists under its name."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(bundle, indent=1, allow_nan=False) + "\n")
    tmp.replace(target)


def load(path: str) -> dict[str, Any]:
    """A bundle file, checked for its format and version; BundleError says what is wrong."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", "?")
        col = getattr(exc, "colno", "?")
        raise BundleError(f"{path}:{line}:{col}: invalid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("Format") != FORMAT:
        raise BundleError(f"{path}: not an smlocal tuning-job bundle (its \"Format\" must be "
                          f"{FORMAT!r}; write one with `smlocal snapshot NAME -o FILE`)")
    version = data.get("FormatVersion")
    if version != FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format version {version!r} is not supported (this "
                          f"smlocal reads version {FORMAT_VERSION})")
    for key, kind in (("TuningJob", dict), ("TrainingJobs", list), ("Source", str)):
        if not isinstance(data.get(key), kind):
            raise BundleError(f"{path}: member {key!r} is missing or not a JSON "
                              f"{'object' if kind is dict else kind.__name__}")
    return data
