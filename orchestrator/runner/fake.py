"""A scripted, step-driven backend for controller tests (syne-tune's simulator idea).

Nothing runs by itself: each `step()` advances every live job by one log line, so tests decide
exactly when metrics appear and jobs end. `script(spec)` says what a job prints and how it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.clock import Clock, RealClock
from orchestrator.runner.base import JobOutcome, JobSink, JobSpec, LogLine


@dataclass
class FakeScript:
    lines: list[str] = field(default_factory=list)
    kind: str = "completed"  # JobOutcome.kind when the lines run out
    exit_code: int = 0
    failure_reason: str | None = None


@dataclass
class _Run:
    spec: JobSpec
    sink: JobSink
    script: FakeScript
    position: int = 0
    stop_reason: str | None = None
    started: float = 0.0


class FakeBackend:
    def __init__(self, script: Callable[[JobSpec], FakeScript], clock: Clock | None = None,
                 step_seconds: float = 1.0) -> None:
        self.script = script
        self.clock = clock or RealClock()
        self.step_seconds = step_seconds
        self.runs: dict[str, _Run] = {}
        self.launched: list[JobSpec] = []
        self.stopped: list[str] = []
        self.recovered: list[str] = []

    def has_image(self, image: str) -> bool:
        return True  # scripted jobs run under any image name

    def launch(self, spec: JobSpec, sink: JobSink) -> None:
        self.launched.append(spec)
        run = _Run(spec, sink, self.script(spec), started=self.clock.now())
        self.runs[spec.name] = run
        sink.secondary_status(spec.name, "Training", "")

    def stop(self, job_name: str, reason: str = "stopped") -> None:
        run = self.runs.get(job_name)
        if run is not None and run.stop_reason is None:
            run.stop_reason = reason
            self.stopped.append(job_name)

    def recover(self, specs: list[JobSpec], sink: JobSink, log_offsets: dict[str, float]) -> None:
        for spec in specs:
            self.recovered.append(spec.name)
            if spec.name in self.runs:
                self.runs[spec.name].sink = sink  # "the container survived the restart"
            else:
                self.launch(spec, sink)

    def close(self) -> None:
        pass

    @property
    def live(self) -> list[str]:
        return list(self.runs)

    def step(self) -> None:
        """Advance the clock one step; every live job prints one line or ends."""
        if hasattr(self.clock, "advance"):
            self.clock.advance(self.step_seconds)
        for name, run in list(self.runs.items()):
            now = self.clock.now()
            if run.stop_reason is not None:
                self._end(name, JobOutcome(kind=run.stop_reason, model_uploaded=True,
                                           training_start=run.started, training_end=now))
            elif run.position < len(run.script.lines):
                text = run.script.lines[run.position]
                run.position += 1
                run.sink.logs(name, [LogLine(now, "stdout", "algo-1", text)])
            else:
                s = run.script
                self._end(name, JobOutcome(kind=s.kind, exit_code=s.exit_code,
                                           failure_reason=s.failure_reason,
                                           model_uploaded=s.kind != "failed",
                                           training_start=run.started, training_end=now))

    def _end(self, name: str, outcome: JobOutcome) -> None:
        run = self.runs.pop(name)
        run.sink.finished(name, outcome)
