"""Wiring: one process serving SageMaker + S3 on one port, running jobs on a backend.

Used by `smlocal serve`, by `smlocal tune` when no server answers (embedded), and by the
integration tests (a real server on a free port).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.api.server import ApiServer, make_app
from orchestrator.clock import Clock, RealClock
from orchestrator.config import Settings
from orchestrator.controller.cloudwatch_logs import TrainingJobLogs
from orchestrator.controller.service import SageMakerService
from orchestrator.controller.training import TrainingService
from orchestrator.controller.tuning import TuningController
from orchestrator.runner.base import Backend
from orchestrator.storage.db import Store
from orchestrator.storage.s3 import EmbeddedS3

log = logging.getLogger(__name__)


def docker_bridge_gateway() -> str | None:
    """The host's address on Docker's default bridge: how containers reach our S3."""
    from orchestrator.runner.docker import bridge_gateway_ip

    try:
        return bridge_gateway_ip()
    except Exception:  # no engine: the backend reports it per job
        log.warning("no Docker engine answers; training jobs will fail until one does")
        return None


class _ServiceProxy:
    """Lets the HTTP server start (and learn its port) before the service exists."""

    supported_operations = SageMakerService.supported_operations

    def __init__(self) -> None:
        self.target: SageMakerService | None = None

    def handle(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        assert self.target is not None, "service not started"
        return self.target.handle(operation, request)


BackendFactory = Callable[[Settings, ApiServer, str | None], Backend]


def docker_backend(settings: Settings, server: ApiServer, gateway: str | None) -> Backend:
    from orchestrator.runner.docker import DockerBackend

    container_url = f"http://{gateway}:{server.port}" if gateway else None
    return DockerBackend(
        work_dir=settings.jobs_dir,
        s3_endpoint_url=f"http://127.0.0.1:{server.port}",
        container_s3_endpoint_url=container_url,
        stop_grace_seconds=settings.stop_grace_seconds,
    )


@dataclass
class SmlocalApp:
    settings: Settings = field(default_factory=Settings)
    host: str = "127.0.0.1"
    port: int = 4577
    backend_factory: BackendFactory = docker_backend
    clock: Clock = field(default_factory=RealClock)
    tick_seconds: float = 0.25

    def start(self) -> SmlocalApp:
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(s.db_path)
        self.s3 = EmbeddedS3(s.s3_dir)
        proxy = _ServiceProxy()
        gateway = docker_bridge_gateway() if self.backend_factory is docker_backend else None
        extra = [gateway] if gateway and self.host not in ("0.0.0.0", gateway) else []
        logs = TrainingJobLogs(self.store, s.state_dir / "logs")
        self.server = ApiServer(make_app(proxy, self.s3, logs=logs), host=self.host,
                                port=self.port, extra_hosts=extra)
        self.server.start()
        self.backend = self.backend_factory(s, self.server, gateway)
        self.training = TrainingService(self.store, self.backend, s, self.clock)
        self.tuner = TuningController(self.store, self.training, s, self.clock,
                                      tick_seconds=self.tick_seconds)
        self.service = SageMakerService(self.store, self.training, self.tuner, s, self.clock)
        proxy.target = self.service
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
