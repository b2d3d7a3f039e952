"""Wiring: one process serving SageMaker + S3 on one port, running jobs on a backend.

Used by `smlocal serve`, by `smlocal tune` when no server answers (embedded), and by the
integration tests (a real server on a free port).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from orchestrator.api import routing
from orchestrator.api.auth import authenticated
from orchestrator.api.extensions import ExtensionEndpoint
from orchestrator.api.server import ApiServer, make_app
from orchestrator.aws_services import aws_services
from orchestrator.client.dashboard import Dashboard
from orchestrator.clock import Clock, RealClock
from orchestrator.config import Settings
from orchestrator.controller.cloudwatch_logs import TrainingJobLogs
from orchestrator.controller.extensions import Context, Extensions, discover
from orchestrator.controller.service import SageMakerService
from orchestrator.controller.training import TrainingService
from orchestrator.controller.tuning import TuningController
from orchestrator.credentials import is_loopback
from orchestrator.runner.backends import BackendFactory, ReadyBackend, serving_factory
from orchestrator.runner.base import Backend
from orchestrator.storage.db import Store
from orchestrator.storage.s3 import EmbeddedS3

log = logging.getLogger(__name__)


class _ServiceProxy:
    """Lets the HTTP server start (and learn its port) before the service exists."""

    supported_operations = SageMakerService.supported_operations

    def __init__(self) -> None:
        self.target: SageMakerService | None = None

    def handle(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        assert self.target is not None, "service not started"
        return self.target.handle(operation, request)


class _ExtensionsProxy:
    """The same for smlocal's own operations (`controller.extensions`)."""

    def __init__(self) -> None:
        self.supported_operations = frozenset(e.name for e in discover())
        self.target: Extensions | None = None

    def handle(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        assert self.target is not None, "service not started"
        return self.target.handle(operation, request)


@dataclass
class SmlocalApp:
    settings: Settings = field(default_factory=Settings)
    host: str = "127.0.0.1"
    port: int = 4577
    # A ready backend (tests: `runner.fake.FakeBackend`); None: `backend_factory`, or else the
    # backend `settings.backend` names (`runner.backends.serving_factory`: in a worker process
    # unless `settings.job_process` is off).
    backend: Backend | None = None
    backend_factory: BackendFactory | None = None
    clock: Clock = field(default_factory=RealClock)
    tick_seconds: float = 0.25

    def start(self) -> SmlocalApp:
        s = self.settings
        # First, so an unknown backend name fails before anything is opened.
        factory = (ReadyBackend(self.backend) if self.backend is not None
                   else self.backend_factory or serving_factory(s))
        s.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(s.db_path)
        self.s3 = EmbeddedS3(s.s3_dir)
        proxy = _ServiceProxy()
        # Where containers reach our S3 (e.g. Docker's bridge gateway); 0.0.0.0 covers all.
        extra = [] if self.host == "0.0.0.0" else factory.listen_addresses()
        if not is_loopback(self.host) and self.host not in ("0.0.0.0", "::"):
            extra.append("127.0.0.1")  # where the job stager reaches our S3
        logs = TrainingJobLogs(self.store, s.state_dir / "logs")
        # The dashboard (/ui/) reads this server's public API through its own URL.
        ui = Dashboard(lambda: self.server.url, allowed_hosts=(self.host,))
        extensions = _ExtensionsProxy()
        others = {**aws_services(s, self.store, self.clock),
                  routing.SMLOCAL: ExtensionEndpoint(extensions)}
        app = make_app(proxy, self.s3, logs=logs, others=others, ui=ui)
        if s.access_key:  # only SigV4-signed requests pass (api.auth)
            app = authenticated(app, s.access_key)
        self.server = ApiServer(app, host=self.host, port=self.port, extra_hosts=extra)
        self.server.start()
        self.backend = factory.create(s, self.server.port)
        self.training = TrainingService(self.store, self.backend, s, self.clock)
        self.tuner = TuningController(self.store, self.training, s, self.clock,
                                      tick_seconds=self.tick_seconds)
        self.service = SageMakerService(self.store, self.training, self.tuner, s, self.clock)
        proxy.target = self.service
        extensions.target = Extensions(Context(self.store, self.training, self.tuner, s,
                                               self.clock))
        recovered = self.training.recover()
        if recovered:
            log.info("re-adopted %d unfinished training jobs", len(recovered))
        self.tuner.start()
        return self

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        """Stop serving. Running containers keep running; a restart re-adopts them."""
        self.tuner.close()
        self.server.stop()
        self.backend.close()
        self.store.close()
        self.s3.close()
