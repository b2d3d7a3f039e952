"""A retry waits until the engine answers again (`JobRun._await_engine`): a job cut by an
engine restart must not spend its retries on an engine that is still down."""

from __future__ import annotations

import threading
import time

from orchestrator.runner.engine import InfraError
from orchestrator.runner.lifecycle import JobRun
from tests.unit.runner.test_lifecycle_notes import Sink, StubEngine, job_parts


class RestartingEngine(StubEngine):
    """Fails its first image check (the engine went away), then answers ping only after
    `down_pings` failed pings."""

    def __init__(self, down_pings: int) -> None:
        super().__init__()
        self.down_pings = down_pings
        self.pings = 0
        self.checks_before_up: list[int] = []

    def ping(self) -> None:
        self.pings += 1
        if self.pings <= self.down_pings:
            raise InfraError("no Docker engine answers: connection refused")

    def require_image(self, image: str) -> None:
        self.checks_before_up.append(self.pings)
        super().require_image(image)


def test_the_retry_runs_once_the_engine_answers(tmp_path) -> None:
    engine, sink = RestartingEngine(down_pings=3), Sink()
    ctx, spec = job_parts(tmp_path, engine)
    run = JobRun(ctx, spec, sink)
    run.start()
    run.thread.join(timeout=30)
    assert not run.thread.is_alive()
    # The first check failed before any ping; the retry's check came after the 4th ping, the
    # first one answered; and the failed pings did not count as retries (1 allowed, 1 used).
    assert engine.checks_before_up == [0, 4]
    assert [o.kind for o in sink.outcomes] == ["internal_error"]
    assert "no room for containers" in sink.outcomes[0].failure_reason
    texts = [line.text for _job, line in sink.lines]
    assert sum("retrying (retry" in t for t in texts) == 1


def test_a_stop_ends_the_wait_for_the_engine(tmp_path) -> None:
    engine, sink = RestartingEngine(down_pings=10**6), Sink()
    ctx, spec = job_parts(tmp_path, engine)
    run = JobRun(ctx, spec, sink)
    run.start()
    deadline = time.monotonic() + 30
    while engine.pings < 2:  # waiting for the engine
        assert time.monotonic() < deadline, "the retry never waited for the engine"
        threading.Event().wait(0.01)
    run.request_stop("stopped")
    run.thread.join(timeout=10)
    assert not run.thread.is_alive(), "a stop did not end the wait for the engine"
    assert [o.kind for o in sink.outcomes] == ["stopped"]
    assert engine.checks_before_up == [0]  # no attempt ran on the engine that was down
