"""A scripted `Backend` for `ProcessBackend` tests, built in the job runner process (so it
lives in an importable module, not in the test file). What a job does comes from its
hyperparameters:

- `lines=N`: statuses Starting, Training; N log lines "line i" in batches of 1..7; Uploading;
  then "completed".
- `wait=stop`: Training, then waits for a stop and ends with the stop's reason.
- `crash_on_recover=1`: `recover()` of this job kills the process (exit code 5).

`recover()` notes each job with a log line "recovered offset=<offset>", then goes on as a
launch would (so a job waiting for a stop waits again). `has_image`: every image but "missing".
"""

from __future__ import annotations

import os
import threading
import time

from orchestrator.runner.base import JobOutcome, JobSink, JobSpec, LogLine


class ScriptBackend:
    def __init__(self) -> None:
        self._stops: dict[str, threading.Event] = {}
        self._reasons: dict[str, str] = {}
        self._closed = threading.Event()

    def launch(self, spec: JobSpec, sink: JobSink) -> None:
        self._start(spec, sink, None)

    def recover(self, specs: list[JobSpec], sink: JobSink, log_offsets: dict[str, float]) -> None:
        for spec in specs:
            if spec.hyperparameters.get("crash_on_recover"):
                os._exit(5)
            self._start(spec, sink, f"recovered offset={log_offsets.get(spec.name)}")

    def stop(self, job_name: str, reason: str = "stopped") -> None:
        self._reasons.setdefault(job_name, reason)
        event = self._stops.get(job_name)
        if event is not None:
            event.set()

    def has_image(self, image: str) -> bool:
        return image != "missing"

    def close(self) -> None:
        self._closed.set()
        for event in self._stops.values():
            event.set()

    def _start(self, spec: JobSpec, sink: JobSink, note: str | None) -> None:
        self._stops[spec.name] = threading.Event()
        threading.Thread(target=self._run, args=(spec, sink, note), daemon=True).start()

    def _run(self, spec: JobSpec, sink: JobSink, note: str | None) -> None:
        if note:
            sink.logs(spec.name, [LogLine(time.time(), "smlocal", "algo-1", note)])
        hp = spec.hyperparameters
        if hp.get("wait") == "stop":
            sink.secondary_status(spec.name, "Training", "waiting for a stop")
            self._stops[spec.name].wait()
            if not self._closed.is_set():
                sink.finished(spec.name, JobOutcome(self._reasons[spec.name]))
            return
        sink.secondary_status(spec.name, "Starting", "")
        sink.secondary_status(spec.name, "Training", "")
        count, i, size = int(hp.get("lines", "0")), 0, 1
        while i < count:
            batch = [LogLine(time.time(), "stdout", "algo-1", f"line {j}")
                     for j in range(i, min(count, i + size))]
            sink.logs(spec.name, batch)
            i, size = i + len(batch), size % 7 + 1
        sink.secondary_status(spec.name, "Uploading", "")
        sink.finished(spec.name, JobOutcome("completed", exit_code=0))


def build(fail: str | None = None) -> ScriptBackend:
    if fail:
        raise RuntimeError(fail)
    return ScriptBackend()
