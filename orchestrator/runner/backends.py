"""Which backend runs training jobs: a registry from names (`Settings.backend`, env
`SMLOCAL_BACKEND`) to container engines, and the neutral wiring the app uses.

The app knows no engine: it asks a `BackendFactory` which extra addresses the server must
listen on (so containers reach its S3), starts the server, then has the factory build the
backend for the server's port. Names:

- "docker" (default): the local Docker engine (`runner.docker_engine`).
- "swarm": services on a Docker Swarm (`runner.swarm_engine`; run on a manager, images
  through SMLOCAL_SWARM_REGISTRY, containers reach S3 at SMLOCAL_SWARM_ADDRESS).
- "fake": in-process containers running the contract probe's behaviour
  (`runner.fake_engine`); no Docker needed. One engine per process, so a restarted app in the
  same process re-adopts its "containers" as it would Docker's.

With `Settings.job_process` (the default; env SMLOCAL_JOB_PROCESS=0 turns it off),
`serving_factory` wraps the engine's factory so the backend runs in a worker process
(`runner.process_backend`): the job lifecycles no longer share the server's GIL.

A new engine adds one entry to `ENGINES` (and its conformance parameter in the runner suite).
A ready `Backend` (e.g. the scripted `runner.fake.FakeBackend` of controller and API tests)
is wired with `ReadyBackend(backend)`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.config import Settings
from orchestrator.runner.base import Backend
from orchestrator.runner.engine import ContainerEngine


class BackendFactory(Protocol):
    def listen_addresses(self) -> list[str]:
        """Addresses (besides the server's own host) the server must listen on so that
        containers reach its S3; called once, before the server starts."""
        ...

    def create(self, settings: Settings, port: int) -> Backend:
        """The backend, once the server listens on `port`."""
        ...


def _docker_engine() -> ContainerEngine:
    from orchestrator.runner.docker_engine import DockerEngine  # imports the docker SDK

    return DockerEngine()


def _swarm_engine() -> ContainerEngine:
    from orchestrator.runner.swarm_engine import SwarmEngine  # SMLOCAL_SWARM_REGISTRY, ...

    return SwarmEngine(stop_grace_seconds=Settings().stop_grace_seconds)


_fake_engine: ContainerEngine | None = None
_fake_lock = threading.Lock()


def _shared_fake_engine() -> ContainerEngine:
    global _fake_engine
    with _fake_lock:
        if _fake_engine is None:
            from orchestrator.runner.fake_engine import FakeEngine

            _fake_engine = FakeEngine()
        return _fake_engine


@dataclass(frozen=True)
class EngineKind:
    open: Callable[[], ContainerEngine]
    shared: bool  # one engine outlives backends: the backend must not close it


ENGINES: dict[str, EngineKind] = {
    "docker": EngineKind(_docker_engine, shared=False),
    "fake": EngineKind(_shared_fake_engine, shared=True),
    "swarm": EngineKind(_swarm_engine, shared=False),  # issue 10, runner.swarm_engine
}


def names() -> list[str]:
    return sorted(ENGINES)


@dataclass
class EngineBackendFactory:
    """Wires an `EngineBackend` on the engine `kind` opens."""

    kind: EngineKind
    _engine: ContainerEngine | None = field(default=None, init=False)
    _address: str | None = field(default=None, init=False)
    _asked: bool = field(default=False, init=False)  # asked the engine for its address

    @property
    def engine(self) -> ContainerEngine:
        if self._engine is None:
            self._engine = self.kind.open()
        return self._engine

    def listen_addresses(self) -> list[str]:
        address = self._host_address()
        return [address] if address else []

    def create(self, settings: Settings, port: int) -> Backend:
        from orchestrator.runner.engine_backend import EngineBackend

        address = self._host_address()
        return EngineBackend(
            self.engine,
            work_dir=settings.jobs_dir,
            s3_endpoint_url=f"http://127.0.0.1:{port}",
            container_s3_endpoint_url=f"http://{address}:{port}" if address else None,
            owns_engine=not self.kind.shared,
            stop_grace_seconds=settings.stop_grace_seconds,
            credentials=settings.container_credentials,
        )

    def release(self) -> None:
        """Close the engine opened only to answer `listen_addresses` (the backend was built
        elsewhere, e.g. in the job runner process)."""
        if self._engine is not None and not self.kind.shared:
            self._engine.close()
        self._engine = None

    def _host_address(self) -> str | None:
        if not self._asked:  # asked once: the server listens where containers are sent
            self._address, self._asked = self.engine.host_address(), True
        return self._address


@dataclass(frozen=True)
class ReadyBackend:
    """A backend built beforehand (tests): nothing extra to listen on."""

    backend: Backend

    def listen_addresses(self) -> list[str]:
        return []

    def create(self, settings: Settings, port: int) -> Backend:
        return self.backend


def backend_factory(name: str) -> BackendFactory:
    """The factory for backend `name`; ValueError naming the known ones otherwise."""
    kind = ENGINES.get(name)
    if kind is None:
        raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(names())}")
    return EngineBackendFactory(kind)


def build_backend(name: str, settings: Settings, port: int) -> Backend:
    """Backend `name` for a server on `port`: what the job runner process builds (a
    module-level function, so a partial of it pickles)."""
    return backend_factory(name).create(settings, port)


@dataclass
class ProcessBackendFactory:
    """Wires `name`'s backend in a worker process (`runner.process_backend`)."""

    inner: EngineBackendFactory
    name: str

    def listen_addresses(self) -> list[str]:
        return self.inner.listen_addresses()

    def create(self, settings: Settings, port: int) -> Backend:
        from orchestrator.runner.process_backend import ProcessBackend

        try:
            return ProcessBackend(functools.partial(build_backend, self.name, settings, port),
                                  nice=settings.job_process_nice)
        finally:
            self.inner.release()


def serving_factory(settings: Settings) -> BackendFactory:
    """The factory `SmlocalApp` uses for `settings.backend`: in a worker process when
    `settings.job_process`, else in the server's own process. ValueError for unknown names."""
    inner = backend_factory(settings.backend)
    if settings.job_process and isinstance(inner, EngineBackendFactory):
        return ProcessBackendFactory(inner, settings.backend)
    return inner
