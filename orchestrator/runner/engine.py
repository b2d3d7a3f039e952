"""The container-engine protocol: the few operations the training-job lifecycle asks of an engine.

The lifecycle (`runner.lifecycle`) is written once over `ContainerEngine`; an engine module
implements it: `runner.docker_engine` (the local Docker engine) and `runner.fake_engine`
(in-process containers, the unit-test and conformance engine). A new engine (Docker Swarm,
issue 10) is one new module implementing this protocol, registered in `runner.backends`,
plus its parameter in the runner conformance suite (`tests/integration/runner_fixtures.py`).

What the lifecycle relies on:
- **Containers** are created from a `ContainerRequest`, started, stopped (SIGTERM), killed
  (SIGKILL), waited for and removed by id. Every engine failure is an `InfraError`
  (retryable unless said otherwise, spec §3.1 R7); `stop`/`kill`/`remove` of a container that
  is gone or not running is not an error.
- **Files**: `ContainerRequest.mounts` are host folders the lifecycle prepared (with
  `runner.layout`, all reads through `runner.confined`). The engine makes each visible at its
  container path; after `wait` returns, what the container wrote under a writable mount is in
  the host folder. (A bind mount does both; an engine without a shared filesystem copies in
  before `start` and out before `wait` returns. The periodic checkpoint sync reads the host
  folders while the container runs, so such an engine syncs checkpoints only at the end.)
- **Networks**: `DEFAULT_NETWORK` (reaches the server's S3 at `host_address()`),
  `NO_NETWORK` (network isolation), or a per-job network made by `create_network` on which
  every `algo-N` has a fixed address.
- **Labels** (`ContainerRequest.labels`) survive a server restart: `list_containers` finds a
  job's containers again so a new server re-adopts them (`EngineBackend.recover`).
- **Logs**: `follow_logs` streams (stream, timestamp, bytes) chunks from the start or after
  `since`, until the container exits; lines are assembled by `runner.logstream`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from orchestrator.runner.resources import ContainerLimits, HostCapacity

# Network names of the protocol (they happen to be Docker's own).
DEFAULT_NETWORK = "bridge"  # the engine's default network: reaches the host's S3 endpoint
NO_NETWORK = "none"  # no interface but loopback (NetworkIsolation)

LogHandler = Callable[[str, float, bytes], None]
"""`on_chunk(stream, timestamp, payload)`: stream is "stdout" or "stderr"."""

Cancel = Callable[[], None]
"""Cuts a blocking log stream from another thread (the lifecycle's `close()`)."""


# What `wait` raises (as InfraError) when the container is gone before it exited.
REMOVED_FROM_OUTSIDE = ("the container was removed from outside smlocal (e.g. docker rm -f) "
                        "while the job ran")


class InfraError(Exception):
    """Infrastructure failure (engine, image, staging): the job did not fail on its own."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class ContainerRequest:
    """One container of a job (one host), engine-neutral; built by `runner.requests`."""

    name: str
    image: str
    hostname: str
    command: list[str] | None
    entrypoint: list[str] | None
    environment: dict[str, str]
    labels: dict[str, str]
    mounts: list[tuple[str, str, bool]]  # (host folder, container path, read-only)
    limits: ContainerLimits
    network: str  # DEFAULT_NETWORK, NO_NETWORK or a per-job network name
    aliases: tuple[str, ...] = ()
    ip: str | None = None  # fixed address on `network`
    extra_hosts: dict[str, str] | None = None  # /etc/hosts entries


@dataclass(frozen=True)
class ContainerState:
    id: str
    labels: dict[str, str]
    status: str  # created | running | paused | exited | ...
    exit_code: int
    oom_killed: bool
    started_at: float | None  # epoch seconds; None when never started


class ContainerEngine(Protocol):
    """What the lifecycle needs from a container engine. Methods may be called from several
    threads at once (one supervisor and one log thread per container)."""

    def host_capacity(self) -> HostCapacity:
        """CPUs, memory and GPUs one container may use at most (InfraError without engine)."""
        ...

    def host_address(self) -> str | None:
        """The address at which containers on `DEFAULT_NETWORK` reach a server on this
        machine (the server listens there too); None when the engine cannot tell. An IP, so
        S3 clients in the container choose path-style addressing."""
        ...

    def ping(self) -> None:
        """Return when the engine answers now; InfraError when it does not."""
        ...

    def require_image(self, image: str) -> None:
        """InfraError (saying how to get it) when `image` cannot run."""
        ...

    def create_network(
        self, name: str, labels: dict[str, str], internal: bool, hosts: list[str]
    ) -> dict[str, str]:
        """A per-job network (replacing one of that name) with a fixed address per host;
        `internal`: peers reach each other, nothing else. Returns {host: address}."""
        ...

    def remove_network(self, name: str) -> None: ...

    def sweep(self) -> None:
        """Once, when a restarted server re-adopts its jobs: start removing in the background
        what the engine itself left outside containers and networks (swarm: the node folders of
        hosts whose node was lost). Returns at once; `close` waits for it."""
        ...

    def create(self, request: ContainerRequest) -> str:
        """Create (not start) a container; returns its id."""
        ...

    def start(self, container_id: str) -> None: ...

    def stop(self, container_id: str) -> None:
        """Send SIGTERM and return at once (the lifecycle runs the grace period)."""
        ...

    def kill(self, container_id: str) -> None:
        """Send SIGKILL and return at once."""
        ...

    def remove(self, container_id: str) -> None:
        """Remove the container whatever its state; a missing one is fine."""
        ...

    def list_containers(self, label: str) -> list[ContainerState]:
        """Containers (any state) carrying `label` (`key` or `key=value`)."""
        ...

    def wait(self, container_id: str, abandoned: Callable[[], bool]) -> ContainerState | None:
        """Block until the container exited and return its state; None once `abandoned()`
        is true (checked at least every few seconds)."""
        ...

    def follow_logs(
        self,
        container_id: str,
        on_chunk: LogHandler,
        *,
        since: float | None = None,
        register: Callable[[Cancel], None] = lambda cancel: None,
    ) -> None:
        """Stream the container's output (all of it, or after epoch second `since`) to
        `on_chunk` until the container exits. `register` receives a callable that ends the
        stream early from another thread."""
        ...

    def close(self) -> None:
        """Release connections; containers keep running."""
        ...
