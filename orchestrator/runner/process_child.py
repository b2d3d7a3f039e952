"""The worker process of `runner.process_backend`: builds the real backend here and runs it.

Commands come from the server over one socket; events (JobSink calls and replies) go back over
the same socket from one writer thread, in the order the backend made them, a batch per send.

The process ignores SIGINT: Ctrl-C in a terminal signals the whole process group, and the
server shuts this process down itself (`close`). It exits when the server goes away (the socket
closes, or the parent process changes): a server killed with -9 leaves no runner behind, and
its restart re-adopts the jobs, as it would after any crash.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from orchestrator.runner.base import Backend, JobOutcome, LogLine

log = logging.getLogger(__name__)

# A batch holds at most this many events: one send per batch keeps the pipe's cost per event
# small when 20 jobs log at once, and a bounded batch keeps the server's reader responsive.
BATCH = 256
# How often the command loop checks that the server still exists (besides the pipe's EOF).
PARENT_CHECK_SECONDS = 1.0


class _ForwardingSink:
    """The JobSink the real backend calls in this process: every call becomes an event."""

    def __init__(self, events: queue.SimpleQueue) -> None:
        self._events = events

    def secondary_status(self, job_name: str, status: str, message: str) -> None:
        self._events.put(("status", job_name, status, message))

    def logs(self, job_name: str, lines: list[LogLine]) -> None:
        self._events.put(("logs", job_name, list(lines)))

    def finished(self, job_name: str, outcome: JobOutcome) -> None:
        self._events.put(("finished", job_name, outcome))


class _Batch:
    """Events to send at once. A job's log lines that follow its previous log event with
    nothing of that job between are merged into it: one `JobSink.logs` call in the server
    (one log append, one metric parse, one offset write) instead of one per chunk. Each job's
    events keep their order; only the interleaving of different jobs' events changes."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self._last: dict[str, int] = {}  # job -> index of its last event

    def add(self, event: tuple) -> None:
        job = event[1] if event[0] in ("status", "logs", "finished") else None
        last = self._last.get(job) if job is not None else None
        if event[0] == "logs" and last is not None and self.events[last][0] == "logs":
            self.events[last][2].extend(event[2])
            return
        self.events.append(event)
        if job is not None:
            self._last[job] = len(self.events) - 1


def _writer(conn: Connection, events: queue.SimpleQueue) -> None:
    """Sends events in batches until the `None` sentinel; a broken pipe ends the process
    (the server is gone)."""
    while True:
        first = events.get()
        batch, done = _Batch(), first is None
        if not done:
            batch.add(first)
            while len(batch.events) < BATCH:
                try:
                    item = events.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    done = True
                    break
                batch.add(item)
        try:
            if batch.events:
                conn.send(batch.events)
        except (OSError, ValueError):
            os._exit(0)
        if done:
            return


# What the server runs (`python -c BOOT <fd>`): the server's sys.path comes in the
# environment, so the runner imports what the server imports (tests' modules included).
BOOT = ("import json, os, sys; sys.path[:0] = json.loads(os.environ.pop('SMLOCAL_RUNNER_PATH'));"
        " from orchestrator.runner.process_child import bootstrap; bootstrap(int(sys.argv[1]))")


def bootstrap(fd: int) -> None:
    """Entry point: the first message on the socket `fd` is (build, parent pid, log level,
    nice); unlike multiprocessing's spawn, nothing of the server's `__main__` is imported
    again, so a script that starts a server needs no `if __name__ == "__main__"` guard."""
    conn = Connection(fd)
    try:
        build, parent, level, nice = conn.recv()
    except Exception as exc:  # noqa: BLE001 - e.g. the build function cannot be imported
        conn.send([("error", f"{type(exc).__name__}: {exc}")])
        return
    main(conn, build, parent, level, nice)


def main(conn: Connection, build: Callable[[], Backend], parent: int, level: int,
         nice: int = 0) -> None:
    """Runs the backend `build()` makes until told to close. `nice`: added to the process's
    niceness (`Settings.job_process_nice` says why)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        os.nice(nice)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s "
                        "[job runner]: %(message)s")
    try:
        backend = build()
    except BaseException as exc:  # noqa: BLE001 - reported to the server, which raises it
        conn.send([("error", f"{type(exc).__name__}: {exc}")])
        return
    events: queue.SimpleQueue = queue.SimpleQueue()
    writer = threading.Thread(target=_writer, args=(conn, events), name="runner-events",
                              daemon=True)
    writer.start()
    events.put(("ready", os.getpid()))
    sink = _ForwardingSink(events)
    while True:
        try:
            if not conn.poll(PARENT_CHECK_SECONDS):
                if os.getppid() != parent:
                    os._exit(0)
                continue
            command = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the server is gone: its restart re-adopts the jobs
        if command[0] == "close":
            backend.close()
            events.put(None)
            writer.join(timeout=30)
            return
        _run(backend, sink, events, command)


def _run(backend: Backend, sink: _ForwardingSink, events: queue.SimpleQueue,
         command: tuple[Any, ...]) -> None:
    kind = command[0]
    if kind == "launch":
        spec = command[1]
        try:
            backend.launch(spec, sink)
        except Exception as exc:  # noqa: BLE001 - the job must still end
            log.exception("launching %s failed", spec.name)
            sink.finished(spec.name, JobOutcome("internal_error",
                                                failure_reason=f"launch failed: {exc}"))
    elif kind == "stop":
        with contextlib.suppress(Exception):
            backend.stop(command[1], command[2])
    elif kind == "recover":
        _recover(backend, sink, command[1], command[2])
    elif kind == "has_image":
        try:
            events.put(("reply", command[1], backend.has_image(command[2]), None))
        except Exception as exc:  # noqa: BLE001 - raised again in the server
            events.put(("reply", command[1], None, f"{type(exc).__name__}: {exc}"))


def _recover(backend: Backend, sink: _ForwardingSink, specs: list, offsets: dict) -> None:
    try:
        backend.recover(specs, sink, offsets)
    except Exception as exc:  # noqa: BLE001 - every job must still end
        log.exception("re-adopting %d jobs failed", len(specs))
        for spec in specs:
            sink.finished(spec.name, JobOutcome(
                "internal_error", failure_reason=f"re-adopting the job failed: {exc}"))
