"""A container engine in this process: `ContainerEngine` (runner.engine) without Docker.

Each "container" is a thread running a Python *program* chosen by its image (by default the
contract probe's behaviour, `runner.fake_probe`). Programs see the container through a
`FakeProcess`: hostname, environment, argv, and the /opt/ml paths mapped onto the request's
mounts (the host folders the lifecycle prepared), so what they write ends up exactly where a
bind-mounted container's writes would. SIGTERM and SIGKILL arrive as exceptions at the
program's next `say`/`sleep`; a memory limit smaller than what a program allocates is an OOM
kill (exit 137), as under Docker.

The engine stands for a daemon that outlives the server: containers keep running when a
backend closes, and a new `EngineBackend` over the same engine re-adopts them by label
(`runner.backends` keeps one engine per process for the "fake" backend). Used by the unit and
conformance tests of the real lifecycle and by `Settings(backend="fake")`.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.runner.engine import (
    REMOVED_FROM_OUTSIDE,
    Cancel,
    ContainerRequest,
    ContainerState,
    InfraError,
    LogHandler,
)
from orchestrator.runner.resources import GIB, HostCapacity

# What a fake host offers when nobody says: large enough that no instance type is capped.
DEFAULT_CAPACITY = HostCapacity(cpus=96, memory_bytes=768 * GIB, gpus=0)
_POLL_SECONDS = 0.5  # bounded waits, so an abandoned waiter returns


class Terminated(Exception):
    """SIGTERM reached the program (it may catch it, save its work and exit)."""


class Killed(BaseException):
    """SIGKILL: not an Exception, so programs cannot catch it by accident."""


class OutOfMemory(BaseException):
    """The program allocated more than the container's memory limit."""


Program = Callable[["FakeProcess"], int]
"""A container's main: returns its exit code."""


@dataclass
class _Container:
    id: str
    request: ContainerRequest
    program: Program
    status: str = "created"
    exit_code: int = 0
    oom_killed: bool = False
    started_at: float | None = None
    chunks: list[tuple[str, float, bytes]] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)  # pending: "SIGTERM", "SIGKILL"
    scratch: Path | None = None  # the container's own filesystem (paths outside its mounts)

    def state(self) -> ContainerState:
        return ContainerState(self.id, dict(self.request.labels), self.status, self.exit_code,
                              self.oom_killed, self.started_at)


class FakeProcess:
    """A program's view of its container."""

    def __init__(self, engine: FakeEngine, container: _Container) -> None:
        self._engine, self._c = engine, container
        req = container.request
        self.hostname = req.hostname
        self.environ = dict(req.environment)
        # argv as the image's `train` (or ContainerEntrypoint's program) would see it.
        self.argv = [*(req.entrypoint or [])[1:], *(req.command or [])]
        self.memory_limit = req.limits.memory_bytes if req.limits else None

    def path(self, container_path: str) -> Path:
        """Where `container_path` lives on the host: under its mount, else in scratch."""
        mount = self._mount(container_path)
        if mount is not None:
            source, target, _ro = mount
            return Path(source) / container_path[len(target):].lstrip("/")
        if self._c.scratch is None:
            self._c.scratch = Path(tempfile.mkdtemp(prefix="smlocal-fake-"))
        return self._c.scratch / container_path.lstrip("/")

    def writable(self, container_path: str) -> bool:
        mount = self._mount(container_path)
        return mount is None or not mount[2]

    def mount_points(self) -> list[str]:
        return [target for _s, target, _ro in self._c.request.mounts]

    def say(self, text: str, stream: str = "stdout") -> None:
        self._check_signals()
        self._engine._append(self._c, stream, (text + "\n").encode())

    def sleep(self, seconds: float) -> None:
        """Sleep; a signal arriving meanwhile raises at once (Terminated or Killed)."""
        deadline = time.monotonic() + seconds
        with self._engine._cond:
            while True:
                self._check_signals()
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._engine._cond.wait(left)

    def allocate(self, size: int) -> None:
        if self.memory_limit is not None and size > self.memory_limit:
            raise OutOfMemory()

    def _check_signals(self) -> None:
        signals = self._c.signals
        if "SIGKILL" in signals:
            raise Killed()
        if "SIGTERM" in signals:
            signals.remove("SIGTERM")  # delivered once, as a handler runs once per signal
            raise Terminated()

    def _mount(self, container_path: str) -> tuple[str, str, bool] | None:
        best = None
        for mount in self._c.request.mounts:
            target = mount[1].rstrip("/") or "/"
            inside = container_path == target or container_path.startswith(target + "/")
            if inside and (best is None or len(target) > len(best[1])):
                best = mount
        return best


class FakeEngine:
    """`ContainerEngine` running programs in threads. `programs` maps image names to
    programs; images not in it run `default` (None: such images are missing)."""

    def __init__(self, programs: Mapping[str, Program] | None = None,
                 default: Program | None = None,
                 capacity: HostCapacity = DEFAULT_CAPACITY) -> None:
        if default is None and programs is None:
            from orchestrator.runner.fake_probe import probe_program

            default = probe_program
        self.programs = dict(programs or {})
        self.default = default
        self.capacity = capacity
        self.answering = True  # False: ping() fails, as while an engine restarts
        self._cond = threading.Condition()
        self._containers: dict[str, _Container] = {}
        self._networks: dict[str, dict[str, str]] = {}  # name -> labels
        self._ids = itertools.count(1)

    # ---- host, images, networks -----------------------------------------------------------

    def host_capacity(self) -> HostCapacity:
        return self.capacity

    def ping(self) -> None:
        if not self.answering:
            raise InfraError("no Docker engine answers (fake engine set down)")

    def host_address(self) -> str | None:
        return "127.0.0.1"  # the containers are threads of the server's own process

    def require_image(self, image: str) -> None:
        self._program(image)

    def create_network(self, name: str, labels: dict[str, str], internal: bool,
                       hosts: list[str]) -> dict[str, str]:
        with self._cond:
            self._networks[name] = dict(labels)
            subnet = len(self._networks) % 250
        return {host: f"10.{subnet}.0.{i}" for i, host in enumerate(hosts, start=2)}

    def sweep(self) -> None:
        """Nothing outside containers and networks: host folders are the lifecycle's."""

    def remove_network(self, name: str) -> None:
        with self._cond:
            self._networks.pop(name, None)

    def networks(self, label: str) -> list[str]:
        """Names of the networks carrying `label` (for tests: what a job left behind)."""
        with self._cond:
            return sorted(n for n, labels in self._networks.items() if _matches(labels, label))

    # ---- containers -----------------------------------------------------------------------

    def create(self, request: ContainerRequest) -> str:
        program = self._program(request.image)
        with self._cond:
            # Names are global to an engine, as Docker's (409 Conflict there).
            if any(c.request.name == request.name for c in self._containers.values()):
                raise InfraError(f"container name {request.name} is already in use")
            cid = f"fake{next(self._ids):08d}"
            self._containers[cid] = _Container(cid, request, program)
        return cid

    def start(self, container_id: str) -> None:
        with self._cond:
            container = self._get(container_id)
            if container.status != "created":
                raise InfraError(f"container {container_id} was started already")
            container.status, container.started_at = "running", time.time()
        threading.Thread(target=self._run, args=(container,), daemon=True,
                         name=f"fake-{container.request.name}").start()

    def stop(self, container_id: str) -> None:
        self._signal(container_id, "SIGTERM")

    def kill(self, container_id: str) -> None:
        self._signal(container_id, "SIGKILL")

    def remove(self, container_id: str) -> None:
        with self._cond:
            container = self._containers.pop(container_id, None)
            if container is not None and container.status == "running":
                container.signals.append("SIGKILL")  # force, as `docker rm -f`
            self._cond.notify_all()
        if container is not None and container.scratch is not None:
            shutil.rmtree(container.scratch, ignore_errors=True)

    def list_containers(self, label: str) -> list[ContainerState]:
        with self._cond:
            return [c.state() for c in self._containers.values()
                    if _matches(c.request.labels, label)]

    def wait(self, container_id: str, abandoned: Callable[[], bool]) -> ContainerState | None:
        with self._cond:
            while not abandoned():
                container = self._containers.get(container_id)
                if container is None:
                    raise InfraError(REMOVED_FROM_OUTSIDE)
                if container.status == "exited":
                    return container.state()
                self._cond.wait(_POLL_SECONDS)
        return None

    def follow_logs(self, container_id: str, on_chunk: LogHandler, *, since: float | None = None,
                    register: Callable[[Cancel], None] = lambda cancel: None) -> None:
        cancelled = threading.Event()

        def cancel() -> None:
            cancelled.set()
            with self._cond:
                self._cond.notify_all()

        register(cancel)
        position = 0
        while not cancelled.is_set():
            with self._cond:
                container = self._get(container_id)
                batch = container.chunks[position:]
                position += len(batch)
                if not batch:
                    if container.status == "exited":
                        return
                    self._cond.wait(_POLL_SECONDS)
                    continue
            for stream, timestamp, data in batch:  # outside the lock: the sink may be slow
                if since is None or timestamp >= since:
                    on_chunk(stream, timestamp, data)

    def close(self) -> None:
        pass  # nothing to release; the containers keep running, as under a daemon

    # ---- internals ------------------------------------------------------------------------

    def _program(self, image: str) -> Program:
        program = self.programs.get(image, self.default)
        if program is None:
            raise InfraError(f"image {image} is not known to the fake engine")
        return program

    def _get(self, container_id: str) -> _Container:
        container = self._containers.get(container_id)
        if container is None:
            raise InfraError(f"no such container: {container_id}")
        return container

    def _signal(self, container_id: str, signal: str) -> None:
        with self._cond:
            container = self._containers.get(container_id)
            if container is not None and container.status == "running":
                container.signals.append(signal)
                self._cond.notify_all()

    def _append(self, container: _Container, stream: str, data: bytes) -> None:
        with self._cond:
            container.chunks.append((stream, time.time(), data))
            self._cond.notify_all()

    def _run(self, container: _Container) -> None:
        oom = False
        try:
            code = container.program(FakeProcess(self, container))
        except Terminated:  # no handler in the program: the default action
            code = 143
        except Killed:
            code = 137
        except OutOfMemory:
            code, oom = 137, True
        except Exception as exc:  # noqa: BLE001 - a crashing program is a crashing process
            self._append(container, "stderr", f"fake program crashed: {exc!r}\n".encode())
            code = 1
        with self._cond:
            container.status, container.exit_code = "exited", code
            container.oom_killed = oom
            self._cond.notify_all()


def _matches(labels: Mapping[str, str], selector: str) -> bool:
    key, sep, value = selector.partition("=")
    return key in labels and (not sep or labels[key] == value)
