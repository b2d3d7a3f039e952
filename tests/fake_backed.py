"""The real smlocal app on the scripted fake backend, for API tests.

`SmlocalApp` with its real SageMaker service, store, S3 and CloudWatch Logs reads, whose
training jobs go to `orchestrator.runner.fake.FakeBackend` instead of Docker: the wire is tested
against the real rules and state, and nothing runs. Training jobs print nothing and stay
InProgress until a test steps the backend (`step_until`); then they end (Stopped when stopped,
else Completed without an objective).

This module is the one place that knows how `SmlocalApp` receives its backend: a change of
that signature is fixed in `start_app` alone.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestrator.app import SmlocalApp
from orchestrator.clock import FakeClock
from orchestrator.config import Settings
from orchestrator.controller.service import SageMakerService
from orchestrator.runner.base import JobSpec
from orchestrator.runner.fake import FakeBackend, FakeScript

# The fake clock's start; the fraction shows float-epoch timestamps surviving the wire.
START = 1_700_000_001.25
OPERATIONS = SageMakerService.supported_operations


def silent(spec: JobSpec) -> FakeScript:
    """A training job that prints nothing and completes at the backend's next step."""
    return FakeScript()


def start_app(state_dir: Path, *, port: int = 0, clock: FakeClock | None = None) -> SmlocalApp:
    """A started app on a fake clock (moved only by the test and by backend steps)."""
    clock = clock or FakeClock(START)
    # backend="fake": an in-process backend runs any image name, so the service does not ask
    # Docker whether the request's image exists (the spec examples name ECR images).
    settings = Settings(state_dir=state_dir, backend="fake")
    return SmlocalApp(settings=settings, port=port, clock=clock,
                      backend=FakeBackend(silent, clock)).start()


@contextmanager
def running_app(state_dir: Path, **kwargs: Any) -> Iterator[SmlocalApp]:
    app = start_app(state_dir, **kwargs)
    try:
        yield app
    finally:
        app.stop()


def step_until(app: SmlocalApp, done: Callable[[], Any], what: str,
               timeout: float = 30) -> Any:
    """Step the fake backend (every live job ends) until `done()` is truthy; the tuner's own
    thread reacts to the ends in between."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.backend.step()
        value = done()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Recorder:
    """The real service, recording each request as the wire handed it over."""

    supported_operations = OPERATIONS

    def __init__(self, service: SageMakerService) -> None:
        self.service = service
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def handle(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((operation, copy.deepcopy(request)))
        return self.service.handle(operation, request)
