"""A training job's log through the CloudWatch Logs API, as the SageMaker SDK reads it.

The server serves log group `/aws/sagemaker/TrainingJobs` with one stream per host,
`<job>/<host>-<epoch of the job's creation>` (`orchestrator.controller.cloudwatch_logs`).
`LogTail` finds the job's streams with DescribeLogStreams and reads each with GetLogEvents from
the head, remembering `nextForwardToken`, so each call returns only what is new. Nothing here
reads the server's files: `smlocal logs` works against a remote server.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from typing import Any

from orchestrator.status import training_is_terminal

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
Event = tuple[int, str, str]  # (epoch ms, host, message)


def render(event: Event) -> str:
    """Plain text as `smlocal logs` shows it: host prefix only for hosts other than algo-1."""
    _, host, text = event
    return text if host == "algo-1" else f"[{host}] {text}"


class LogTail:
    """Reads what is new in every log stream of one training job, on each `read()`."""

    def __init__(self, logs: Any, job_name: str) -> None:
        self.logs = logs  # a boto3 "logs" client
        self.job_name = job_name
        self._tokens: dict[str, str | None] = {}  # stream name -> nextForwardToken

    def streams(self) -> list[str]:
        """The job's stream names; new hosts appear as their first line is written."""
        names: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP,
                                  "logStreamNamePrefix": f"{self.job_name}/"}
        while True:
            page = self.logs.describe_log_streams(**kwargs)
            names += [s["logStreamName"] for s in page["logStreams"]]
            if not page.get("nextToken"):
                return names
            kwargs["nextToken"] = page["nextToken"]

    def read(self) -> list[Event]:
        """Events written since the last read, all streams merged in time order (each
        stream's own order kept)."""
        for name in self.streams():
            self._tokens.setdefault(name, None)
        per_stream = [list(self._read_stream(name)) for name in sorted(self._tokens)]
        return list(heapq.merge(*per_stream, key=lambda e: e[0]))

    def last(self, count: int) -> list[Event]:
        """The last `count` events of the job, all streams merged in time order (GetLogEvents
        without startFromHead returns a stream's newest events); leaves `read()`'s place."""
        per_stream = []
        for name in self.streams():
            host = self._host(name)
            page = self.logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=name,
                                            limit=count)
            per_stream.append([(e["timestamp"], host, e["message"]) for e in page["events"]])
        return list(heapq.merge(*per_stream, key=lambda e: e[0]))[-count:]

    def _host(self, stream: str) -> str:
        return stream[len(self.job_name) + 1:].rsplit("-", 1)[0]

    def _read_stream(self, name: str) -> Iterator[Event]:
        host = self._host(name)
        while True:
            kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": name,
                                      "startFromHead": True}
            if self._tokens[name]:
                kwargs["nextToken"] = self._tokens[name]
            page = self.logs.get_log_events(**kwargs)
            self._tokens[name] = page["nextForwardToken"]
            if not page["events"]:  # CloudWatch's end-of-stream signal (the SDK's too)
                return
            for e in page["events"]:
                yield e["timestamp"], host, e["message"]


def follow(tail: LogTail, status: Callable[[], str], emit: Callable[[Event], None],
           poll_seconds: float = 0.5) -> None:
    """Emit events as they arrive until the job is terminal and a read after that found
    nothing new (lines written just before the end are not lost)."""
    ended = False
    while True:
        events = tail.read()
        for event in events:
            emit(event)
        if ended and not events:
            return
        ended = training_is_terminal(status())
        if not ended:
            time.sleep(poll_seconds)
