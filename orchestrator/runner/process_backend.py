"""`Backend` whose job lifecycles run in a worker process (issue 15, load).

A job's lifecycle (staging from S3, log streaming, artifact uploads, the engine's client) is
Python work in threads; in the server's process it shares one GIL with the HTTP request
threads, so a tuning job of many short training jobs made every request wait behind it.
`ProcessBackend` builds the real backend in a child process (a fresh interpreter, as
multiprocessing's spawn makes, but without importing the server's `__main__` again) with a
picklable `build` (`runner.backends.build_backend`: the same factory, Settings and
server port; the child reaches our S3 over HTTP, as containers do), forwards the `Backend`
commands over a pipe, and a reader thread turns the child's events back into `JobSink` calls
on one dispatcher thread, in the order the child made them (`runner.process_child`).

Guarantees:
- The child dies (killed, crashed): a new child re-adopts every job in flight with
  `recover()` (running containers are re-attached, logs after the last line delivered; jobs
  whose containers ended are finished from their exit code; jobs with nothing left start
  again), and stops asked meanwhile are sent again. More than `max_restarts` deaths within
  `restart_window` seconds, or a child that cannot start: every job in flight ends as an
  `internal_error` (a RetryableError: the tuner retries it per RetryStrategy); the next
  command starts a child again. A job never waits for an event that cannot come.
- `close()`: the child stops supervising (containers keep running, as with the in-process
  backend: a restart re-adopts them) and exits; no process is left.
- The server killed with -9: the child sees its pipe close and exits; the restarted server
  re-adopts the jobs.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from multiprocessing.connection import Connection

from orchestrator.runner import process_child
from orchestrator.runner.base import Backend, JobOutcome, JobSink, JobSpec

log = logging.getLogger(__name__)

__all__ = ["ChildFailed", "ProcessBackend"]


class ChildFailed(RuntimeError):
    """The runner process could not be started, or died while answering."""


@dataclass
class _Job:
    spec: JobSpec
    sink: JobSink
    log_offset: float | None = None  # epoch seconds of the last log line delivered
    stop_reason: str | None = None


@dataclass
class _Child:
    process: subprocess.Popen
    conn: Connection
    pid: int
    reader: threading.Thread | None = None


class ProcessBackend:
    """`Backend` forwarding to the backend `build()` makes in a child process.

    `start_timeout`: seconds a child may take to build its backend; `close_timeout`: seconds
    `close()` waits for it to exit before killing it; `nice`: added to the child's niceness
    (`Settings.job_process_nice` says why).
    """

    def __init__(self, build: Callable[[], Backend], *, max_restarts: int = 3,
                 restart_window: float = 60.0, start_timeout: float = 120.0,
                 close_timeout: float = 30.0, nice: int = 0) -> None:
        self._build, self._nice = build, nice
        self._max_restarts, self._window = max_restarts, restart_window
        self._start_timeout, self._close_timeout = start_timeout, close_timeout
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._replies: dict[int, tuple[Future, str]] = {}  # has_image requests
        self._ids = itertools.count()
        self._deaths: list[float] = []
        self._closed = False
        self._child: _Child | None = None
        self._revived = threading.Event()  # clear while a child is being started
        self._revived.set()
        self._dispatch: queue.SimpleQueue = queue.SimpleQueue()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, daemon=True,
                                            name="runner-dispatch")
        self._dispatcher.start()
        try:
            self._child = self._spawn()
        except BaseException:
            self._dispatch.put(None)
            raise

    @property
    def pid(self) -> int | None:
        """The runner process's pid (None while none runs)."""
        child = self._child
        return child.pid if child is not None else None

    def running_jobs(self) -> list[str]:
        with self._lock:
            return sorted(self._jobs)

    # ---- Backend --------------------------------------------------------------------------

    def launch(self, spec: JobSpec, sink: JobSink) -> None:
        with self._lock:
            self._check_open()
            if spec.name in self._jobs:
                raise ValueError(f"training job {spec.name} is already running")
            self._jobs[spec.name] = _Job(spec, sink)
            child, revive = self._target()
        self._deliver(child, revive, ("launch", spec))

    def stop(self, job_name: str, reason: str = "stopped") -> None:
        with self._lock:
            job = self._jobs.get(job_name)
            if job is None or self._closed:
                return
            job.stop_reason = job.stop_reason or reason
            child, revive = self._target()
        self._deliver(child, revive, ("stop", job_name, reason))

    def recover(self, specs: list[JobSpec], sink: JobSink, log_offsets: dict[str, float]) -> None:
        with self._lock:
            self._check_open()
            for spec in specs:
                self._jobs[spec.name] = _Job(spec, sink, log_offsets.get(spec.name))
            child, revive = self._target()
        self._deliver(child, revive, ("recover", list(specs), dict(log_offsets)))

    def has_image(self, image: str) -> bool:
        for _attempt in range(3):  # a child that died meanwhile is replaced
            future: Future = Future()
            with self._lock:
                self._check_open()
                request = next(self._ids)
                self._replies[request] = (future, image)
                child, revive = self._target()
            self._deliver(child, revive, ("has_image", request, image))
            try:
                value, error = future.result(timeout=self._start_timeout)
            except ChildFailed:
                continue
            except FutureTimeout:
                raise ChildFailed("the job runner process did not answer") from None
            finally:
                with self._lock:
                    self._replies.pop(request, None)
            if error is not None:
                raise ChildFailed(error)
            return bool(value)
        raise ChildFailed("the job runner process keeps exiting")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._revived.wait(self._start_timeout + 10)  # a child being started is closed too
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            with contextlib.suppress(OSError):
                self._send(child, ("close",))
            if not _exited(child.process, self._close_timeout):
                log.warning("the job runner process did not exit; killing it")
                child.process.kill()
                _exited(child.process, 10)
            if child.reader is not None:
                child.reader.join(timeout=10)
        with self._lock:
            replies = list(self._replies.values())
        for future, _image in replies:
            if not future.done():
                future.set_exception(RuntimeError("the backend is closed"))
        self._dispatch.put(None)
        if threading.current_thread() is not self._dispatcher:
            self._dispatcher.join(timeout=30)

    # ---- the child ------------------------------------------------------------------------

    def _target(self) -> tuple[_Child | None, bool]:
        """Under the lock: the child to send to, and whether the caller must start one (none
        runs and none is being started). A command for a child being started is carried by
        its recovery, which reads `_jobs` under the same lock."""
        if self._child is None and self._revived.is_set() and not self._closed:
            self._revived.clear()
            return None, True
        return self._child, False

    def _deliver(self, child: _Child | None, revive: bool, command: tuple) -> None:
        if revive:
            self._revive()
        elif child is not None:
            # On a broken pipe the reader sees the death; the job is in _jobs, so it is
            # recovered by the next child.
            with contextlib.suppress(OSError):
                self._send(child, command)

    def _spawn(self) -> _Child:
        """Start a child, wait until its backend is built, start its reader thread."""
        mine, theirs = socket.socketpair()
        ours = Connection(mine.detach())
        try:
            ours.send((self._build, os.getpid(), logging.getLogger().getEffectiveLevel(),
                       self._nice))  # before the start: an unpicklable build fails here
            process = subprocess.Popen(
                [sys.executable, "-c", process_child.BOOT, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                env=dict(os.environ, SMLOCAL_RUNNER_PATH=json.dumps(sys.path)))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            if not ours.poll(self._start_timeout):
                raise ChildFailed(f"the job runner process did not start within "
                                  f"{self._start_timeout:g} s")
            first = ours.recv()[0]
        except (EOFError, OSError):
            _exited(process, 10)
            first = ("error", f"it exited with code {process.returncode}")
        except ChildFailed:
            process.kill()
            _exited(process, 10)
            ours.close()
            raise
        if first[0] != "ready":
            _exited(process, 10)
            ours.close()
            raise ChildFailed(f"the job runner process could not start: {first[1]}")
        child = _Child(process, ours, first[1])
        child.reader = threading.Thread(target=self._read, args=(child,), daemon=True,
                                        name=f"runner-reader-{child.pid}")
        child.reader.start()
        return child

    def _send(self, child: _Child, command: tuple) -> None:
        with self._send_lock:
            child.conn.send(command)

    def _read(self, child: _Child) -> None:
        while True:
            try:
                batch = child.conn.recv()
            except (EOFError, OSError):
                break
            for event in batch:
                self._event(event)
        with self._lock:
            current = self._child is child
            if current:
                self._child = None
                if not self._closed:
                    self._revived.clear()  # this thread starts the next child
            closing = self._closed
        if current and not closing:
            self._died(child)

    def _event(self, event: tuple) -> None:
        kind = event[0]
        if kind == "reply":
            with self._lock:
                pending = self._replies.get(event[1])
            if pending is not None and not pending[0].done():
                pending[0].set_result((event[2], event[3]))
            return
        with self._lock:
            job = self._jobs.get(event[1])
            if job is None:
                return  # a job already finished (e.g. a second report after a failed recover)
            if kind == "logs" and event[2]:
                job.log_offset = max(line.timestamp for line in event[2])
            elif kind == "finished":
                del self._jobs[event[1]]
        method = {"status": job.sink.secondary_status, "logs": job.sink.logs,
                  "finished": job.sink.finished}[kind]
        self._dispatch.put((method, event[1:]))

    def _died(self, child: _Child) -> None:
        _exited(child.process, 10)
        code = child.process.returncode
        child.conn.close()
        now = time.monotonic()
        with self._lock:
            self._deaths = [t for t in self._deaths if now - t < self._window] + [now]
            deaths = len(self._deaths)
        log.error("the job runner process (pid %d) exited with code %s; %d jobs in flight",
                  child.pid, code, len(self.running_jobs()))
        if deaths > self._max_restarts:
            self._fail_all(f"smlocal's job runner process exited {deaths} times within "
                           f"{self._window:g} s (last exit code {code})")
            self._revived.set()  # the next command starts a child again
            return
        self._revive()

    def _revive(self) -> None:
        """Start a child (the caller cleared `_revived`) and hand it every job in flight
        (recover), with the stops asked and the image questions pending."""
        try:
            child = self._spawn()
        except ChildFailed as exc:
            log.error("%s", exc)
            self._fail_all(str(exc))
            self._revived.set()
            return
        with self._lock:
            self._child = child
            jobs = list(self._jobs.values())
            questions = [(request, image) for request, (_f, image) in self._replies.items()]
            self._revived.set()
        by_sink: dict[int, list[_Job]] = {}
        for job in jobs:
            by_sink.setdefault(id(job.sink), []).append(job)
        try:
            for group in by_sink.values():  # one recover per sink (usually one)
                offsets = {j.spec.name: j.log_offset for j in group if j.log_offset is not None}
                self._send(child, ("recover", [j.spec for j in group], offsets))
            for job in jobs:
                if job.stop_reason:
                    self._send(child, ("stop", job.spec.name, job.stop_reason))
            for request, image in questions:
                self._send(child, ("has_image", request, image))
        except OSError:
            return  # died already: its reader starts the next one
        if jobs:
            log.warning("a new job runner process (pid %d) re-adopts %d jobs", child.pid,
                        len(jobs))

    def _fail_all(self, reason: str) -> None:
        """No child: every job in flight ends as an internal error, every question fails."""
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
            replies = list(self._replies.values())
        for future, _image in replies:
            if not future.done():
                future.set_exception(ChildFailed(reason))
        for job in jobs:
            outcome = JobOutcome("internal_error", failure_reason=f"{reason}; the job was "
                                 "not recovered")
            self._dispatch.put((job.sink.finished, (job.spec.name, outcome)))

    def _dispatch_loop(self) -> None:
        while True:
            item = self._dispatch.get()
            if item is None:
                return
            method, args = item
            try:
                method(*args)
            except Exception:  # noqa: BLE001 - the controller's bug must not stop the events
                log.exception("JobSink.%s failed for %s", method.__name__, args[0])

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the backend is closed")


def _exited(process: subprocess.Popen, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `process` to exit (and reap it)."""
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True
