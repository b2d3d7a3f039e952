"""Training-job logs as CloudWatch Logs serves them: the two reads the SageMaker SDK makes.

`Estimator.fit()` (default `logs="All"`) and `Estimator.logs()` tail a job through
`DescribeLogStreams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="<job>/")`
and `GetLogEvents(logGroupName, logStreamName, startTime, startFromHead=True, nextToken)`
(sagemaker/session.py `_flush_log_streams`, sagemaker/logs.py `log_stream`); it keeps calling
GetLogEvents with `nextForwardToken` until a page comes back empty. Stream names are
`<job>/<host>-<epoch seconds of the job's creation>`, as on AWS (`<job>/algo-1-1700000000`).

Events come from the job's log (`orchestrator.storage.joblogs`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchestrator.errors import SmlocalError, UnsupportedOperation, ValidationError
from orchestrator.storage.db import Store
from orchestrator.storage.joblogs import Event, read_events

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
DEFAULT_EVENTS_LIMIT = 10_000  # GetLogEvents default and maximum
DEFAULT_STREAMS_LIMIT = 50  # DescribeLogStreams default and maximum
_STREAM = re.compile(r"^(?P<job>[^/]+)/(?P<host>.+)-(?P<epoch>\d+)$")



class LogsNotFound(SmlocalError):
    code = "ResourceNotFoundException"


class TrainingJobLogs:
    """`handle(operation, request)` for the CloudWatch Logs reads; everything else is refused."""

    supported_operations = frozenset({"DescribeLogStreams", "GetLogEvents"})

    def __init__(self, store: Store, logs_dir: Path) -> None:
        self.store = store
        self.logs_dir = logs_dir

    def handle(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation == "DescribeLogStreams":
            return self.describe_log_streams(request)
        if operation == "GetLogEvents":
            return self.get_log_events(request)
        raise UnsupportedOperation(
            f"CloudWatch Logs operation {operation} is not supported by smlocal; supported: "
            f"{', '.join(sorted(self.supported_operations))} on {TRAINING_LOG_GROUP}.")

    def describe_log_streams(self, request: dict[str, Any]) -> dict[str, Any]:
        _check_group(request)
        prefix = request.get("logStreamNamePrefix") or ""
        job = prefix.split("/", 1)[0]
        docs = [self.store.get_training_job(job)] if job else self.store.list_training_jobs()
        streams = []
        for doc in filter(None, docs):
            events = self._events(doc["TrainingJobName"])
            for host in sorted({h for _, h, _ in events}):
                name = f"{doc['TrainingJobName']}/{host}-{int(doc['CreationTime'])}"
                if not name.startswith(prefix):
                    continue
                times = [ms for ms, h, _ in events if h == host]
                streams.append({
                    "logStreamName": name,
                    "creationTime": int(doc["CreationTime"] * 1000),
                    "firstEventTimestamp": times[0], "lastEventTimestamp": times[-1],
                    "lastIngestionTime": times[-1], "storedBytes": 0,
                })
        descending = bool(request.get("descending"))
        streams.sort(key=lambda s: s["logStreamName"], reverse=descending)
        start = _token(request.get("nextToken"), "s")
        limit = request.get("limit") or DEFAULT_STREAMS_LIMIT
        out: dict[str, Any] = {"logStreams": streams[start:start + limit]}
        if start + limit < len(streams):
            out["nextToken"] = f"s/{start + limit}"
        return out

    def get_log_events(self, request: dict[str, Any]) -> dict[str, Any]:
        _check_group(request)
        match = _STREAM.match(request.get("logStreamName") or "")
        doc = self.store.get_training_job(match["job"]) if match else None
        if doc is None or match["epoch"] != str(int(doc["CreationTime"])):
            raise LogsNotFound("The specified log stream does not exist.")
        lo, hi = request.get("startTime"), request.get("endTime")
        events = [e for e in self._events(doc["TrainingJobName"]) if e[1] == match["host"]
                  and (lo is None or e[0] >= lo) and (hi is None or e[0] < hi)]
        limit = request.get("limit") or DEFAULT_EVENTS_LIMIT
        token = request.get("nextToken")
        if token:
            start = _token(token, token[:1])
            if token.startswith("b"):
                start = max(0, start - limit)
        elif request.get("startFromHead"):
            start = 0
        else:  # CloudWatch's default: the newest page
            start = max(0, len(events) - limit)
        page = events[start:start + limit]
        end = start + len(page)
        return {
            "events": [{"timestamp": ms, "message": text, "ingestionTime": ms}
                       for ms, _, text in page],
            "nextForwardToken": f"f/{end}",
            "nextBackwardToken": f"b/{start}",
        }

    def _events(self, job_name: str) -> list[Event]:
        return read_events(self.logs_dir, job_name)[0]


def _check_group(request: dict[str, Any]) -> None:
    group = request.get("logGroupName")
    if group != TRAINING_LOG_GROUP:
        raise LogsNotFound(f"The specified log group does not exist: {group!r}; smlocal serves "
                           f"only {TRAINING_LOG_GROUP}.")


def _token(token: str | None, kind: str) -> int:
    if not token:
        return 0
    prefix, _, number = token.partition("/")
    if prefix != kind or not number.isdigit():
        raise ValidationError(f"The specified nextToken is invalid: {token!r}.")
    return int(number)
