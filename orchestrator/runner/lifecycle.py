"""One training job from staging to upload, on any container engine: the supervisor thread of
`EngineBackend`. Written once over `runner.engine.ContainerEngine`; nothing here knows Docker.

Lifecycle (spec §3.1): Starting → Downloading (channels, checkpoints) → Training (containers
algo-1..N, logs streamed) → Uploading (model.tar.gz, output.tar.gz, checkpoints) → outcome.
Infrastructure failures (`InfraError`, `StagingError`) are retried up to
`spec.max_retry_attempts` times, going back to Starting (R7); a non-zero exit never is.

Restart bookkeeping in `<work_dir>/<job>/`: `stop_reason` (a stop in progress, so a restarted
server still reports `stopped`/`max_runtime`), `outcome.json` (written before containers
and folders are removed, so an outcome computed just before a crash is not lost) and
`checkpoints_sent.json` (what the checkpoint sync has uploaded).

With a CheckpointConfig, a small thread syncs the checkpoint folders to S3 every
`checkpoint_sync_seconds` while the containers run (as SageMaker does, spec §5), so a job
killed hard still has its latest checkpoints in S3; jobs without one get no thread.

The backend keeps no log file: the containers' lines and its own notes (stream "smlocal") go
to `JobSink.logs`, and the controller keeps the job's one log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.runner import layout
from orchestrator.runner.base import JobOutcome, JobSink, JobSpec, LogLine
from orchestrator.runner.engine import (
    Cancel,
    ContainerEngine,
    ContainerRequest,
    ContainerState,
    InfraError,
)
from orchestrator.runner.logstream import LineAssembler
from orchestrator.runner.requests import container_request
from orchestrator.runner.resources import GpuUnavailable, HostCapacity, container_limits
from orchestrator.runner.staging import S3Stager, StagingError, StopRequested, artifact_prefix
from orchestrator.runner.uploads import CheckpointSync, upload_files, upload_tar

log = logging.getLogger(__name__)
_TRAINING_MESSAGE = "Training image download completed. Training in progress."

STOP_FILE = "stop_reason"
# The backend's own notes are LogLines on stream "smlocal" (the controller parses no metrics
# from them and shows them as "[smlocal] <text>"), attributed to the first host.
NOTE_STREAM, NOTE_HOST = "smlocal", "algo-1"
# How long a retry waits for an engine that does not answer (a dockerd restart takes seconds;
# AWS itself takes minutes to replace a failed instance) before trying anyway.
ENGINE_WAIT_SECONDS = 120.0
OUTCOME_FILE = "outcome.json"
# What the checkpoint sync has sent (so a re-adopted job does not send it all again).
CHECKPOINT_STATE_FILE = "checkpoints_sent.json"


@dataclass
class RunContext:
    """What a job run needs from its backend: the engine and the backend's settings."""

    engine: ContainerEngine
    stager: S3Stager
    work_dir: Path
    container_s3_endpoint_url: str | None
    stop_grace_seconds: float
    cpu_oversubscribe: bool
    label_prefix: str
    host_override: HostCapacity | None
    on_done: Callable[[str, object], None]
    checkpoint_sync_seconds: float = 10.0  # <= 0: sync only when the job ends

    def host(self) -> HostCapacity:
        return self.host_override or self.engine.host_capacity()

    def object_name(self, job: str) -> str:
        """The engine name of a job's network, and the stem of its containers' names.

        Docker names are global to the engine, while job names are unique only within one
        state folder: two servers (two CI pipelines on a shared engine, each with its own
        temporary state) may both run a job called `test-job`. A digest of the state
        folder keeps their names apart; labels still say which server owns what."""
        tag = hashlib.sha256(str(self.work_dir).encode()).hexdigest()[:8]
        return f"{self.label_prefix}-{tag}-{job}"


@dataclass
class _Host:
    name: str
    dirs: layout.HostDirs
    container_id: str | None = None
    done: bool = False
    state: ContainerState | None = None
    error: str | None = None
    ended_at: float = field(default=0.0)
    signalled: bool = False  # smlocal sent it SIGTERM or SIGKILL


class _Abandoned(Exception):
    """close() was called: stop supervising, leave containers and files alone."""


class _Cancels:
    """Cancel callables of a job's open log streams, so `close()` can cut them."""

    def __init__(self) -> None:
        self._items: list[Cancel] = []
        self._lock = threading.Lock()

    def add(self, cancel: Cancel) -> None:
        with self._lock:
            self._items.append(cancel)

    def cancel_all(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        for cancel in items:
            cancel()


_OUTSIDE_SIGNALS = {137: "SIGKILL", 143: "SIGTERM"}


def _signal_from_outside(host: _Host) -> str | None:
    """The signal the container exited on (exit code 128 + n) when smlocal did not send one
    and the OOM killer did not kill it; None otherwise."""
    state = host.state
    if state is None or state.oom_killed or host.signalled:
        return None
    return _OUTSIDE_SIGNALS.get(state.exit_code)


def read_outcome(work_dir: Path, job_name: str) -> JobOutcome | None:
    path = layout.job_dir(work_dir, job_name) / OUTCOME_FILE
    try:
        return JobOutcome(**json.loads(path.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


class JobRun:
    def __init__(
        self,
        ctx: RunContext,
        spec: JobSpec,
        sink: JobSink,
        *,
        recovered: list[ContainerState] | None = None,
        log_offset: float | None = None,
        adopted: JobOutcome | None = None,
    ) -> None:
        self.ctx, self.spec, self.sink = ctx, spec, sink
        self.stop_reason: str | None = None
        self._recovered = recovered
        self._log_offset = log_offset
        self._adopted = adopted
        self._changed = threading.Event()
        self._closed = threading.Event()
        self._cancels = _Cancels()
        self._hosts: list[_Host] = []
        self._network: str | None = None
        self._ips: dict[str, str] = {}
        self._training_start: float | None = None
        self._runtime_used = 0.0
        self._checkpoints: CheckpointSync | None = None
        self._dir = layout.job_dir(ctx.work_dir, spec.name)
        self._dir.mkdir(parents=True, exist_ok=True)
        if recovered is None and adopted is None:  # a fresh launch: no stale bookkeeping
            for stale in (STOP_FILE, OUTCOME_FILE, CHECKPOINT_STATE_FILE):
                (self._dir / stale).unlink(missing_ok=True)
        self.thread = threading.Thread(target=self._main, name=f"smlocal-{spec.name}", daemon=True)

    # ---- called from other threads ---------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            (self._dir / STOP_FILE).write_text(reason)
        self._changed.set()

    def close(self) -> None:
        self._closed.set()
        self._cancels.cancel_all()
        self._changed.set()

    # ---- supervisor thread ----------------------------------------------------------------

    def _main(self) -> None:
        outcome: JobOutcome | None = None
        try:
            outcome = self._run()
        except _Abandoned:
            outcome = None
        except Exception as exc:  # a bug must still end the job, never leave it InProgress
            log.exception("supervisor of %s crashed", self.spec.name)
            outcome = JobOutcome("internal_error", failure_reason=f"unexpected error: {exc}")
        try:
            if outcome is not None and not self._closed.is_set():
                try:
                    self.sink.finished(self.spec.name, outcome)
                except Exception:  # noqa: BLE001 - the controller's bug; still clean up
                    log.exception("sink.finished failed for %s", self.spec.name)
                # Clean-up after reporting: the containers have exited and the artifacts are
                # in S3, so nothing of the job runs; removing them is not the job's latency.
                # A crash right here leaves exited containers that recover() removes.
                self._teardown()
        except Exception:  # noqa: BLE001
            log.exception("cleaning up %s failed", self.spec.name)
        finally:
            self.ctx.on_done(self.spec.name, self)

    def _run(self) -> JobOutcome:
        if self._adopted is not None:  # computed before a restart, never delivered
            self._remove_leftovers(self._recovered or [])
            return self._adopted
        stop_file = self._dir / STOP_FILE
        if stop_file.exists():
            self.stop_reason = stop_file.read_text().strip() or "stopped"
        attempt = 0
        while True:
            try:
                if self._recovered:
                    containers, self._recovered = self._recovered, None
                    outcome = self._resume(containers)
                    if outcome is not None:
                        return outcome
                return self._attempt(attempt)
            except StopRequested:
                self._teardown()
                self._check_closed()
                return JobOutcome(self.stop_reason or "stopped")
            except (InfraError, StagingError) as exc:
                self._teardown()
                self._check_closed()
                if self.stop_reason:
                    return JobOutcome(self.stop_reason)
                if exc.retryable and attempt < self.spec.max_retry_attempts:
                    self._await_engine()
                    self._check_closed()
                    if self.stop_reason:
                        return JobOutcome(self.stop_reason)
                    attempt += 1
                    log.warning("%s: retrying after internal error: %s", self.spec.name, exc)
                    self._note(f"internal error, retrying (retry {attempt}): {exc}")
                    self._status(
                        "Starting",
                        f"Retrying the training job after an internal "
                        f"error (retry {attempt} of {self.spec.max_retry_attempts})",
                    )
                    continue
                return JobOutcome("internal_error", failure_reason=str(exc))

    def _await_engine(self) -> None:
        """Before a retry, wait (backing off, at most ENGINE_WAIT_SECONDS) until the engine
        answers: a job cut by an engine restart would otherwise spend every retry on the
        engine while it is still going down or not yet up. A stop or close ends the wait."""
        delay, deadline = 0.25, time.monotonic() + ENGINE_WAIT_SECONDS
        while True:
            self._changed.clear()  # set by a stop or close from here on, ending the wait
            try:
                self.ctx.engine.ping()
                return
            except InfraError as exc:
                if self.stop_reason or self._closed.is_set() or time.monotonic() >= deadline:
                    return
                log.info("%s: waiting for the engine before retrying: %s", self.spec.name, exc)
            self._changed.wait(delay)
            delay = min(delay * 2, 5.0)

    def _attempt(self, attempt: int) -> JobOutcome:
        spec, ctx = self.spec, self.ctx
        if attempt == 0:
            self._status("Starting", "Starting the training job")
        if any(c.input_mode == "Pipe" for c in spec.channels):
            raise InfraError(
                "Pipe input mode is not supported locally; use File or FastFile", retryable=False
            )
        ctx.engine.require_image(spec.image)
        limits = self._limits()
        self._hosts = [
            _Host(name, layout.host_dirs(ctx.work_dir, spec.name, name))
            for name in layout.host_names(spec.instance_count)
        ]
        for host in self._hosts:
            layout.create_host_dirs(host.dirs, spec.channels)
        self._stage()
        for host in self._hosts:
            layout.write_config(host.dirs, spec, host.name)
        self._check_stop()
        self._network = self._create_network()
        for host in self._hosts:
            host.container_id = ctx.engine.create(self._request(host, limits))
        self._check_stop()
        for host in self._hosts:
            ctx.engine.start(host.container_id)
        self._training_start = time.time()
        self._status("Training", _TRAINING_MESSAGE)
        self._watch_all(since=None)
        return self._supervise_and_finish()

    def _resume(self, containers: list[ContainerState]) -> JobOutcome | None:
        """Re-adopt containers found after a restart; None when the job must start over."""
        spec, prefix = self.spec, self.ctx.label_prefix
        by_host = {c.labels.get(f"{prefix}.host"): c for c in containers}
        names = layout.host_names(spec.instance_count)
        hosts = [_Host(n, layout.host_dirs(self.ctx.work_dir, spec.name, n)) for n in names]
        usable = (
            sorted(by_host, key=str) == sorted(names)
            and all(
                c.status in ("running", "exited", "paused") and c.started_at for c in containers
            )
            and all(h.dirs.root.is_dir() for h in hosts)
        )
        self._network = self.ctx.object_name(spec.name) if spec.instance_count > 1 else None
        if not usable:
            log.info("%s: leftovers of an unstarted run; launching again", spec.name)
            self._remove_leftovers(containers)
            return None
        for host in hosts:
            host.container_id = by_host[host.name].id
        self._hosts = hosts
        self._training_start = min(c.started_at for c in containers)
        # The server may have died before it stored "Training" (it is sent after the start, and
        # from the job runner process); the controller ignores a repeated status.
        self._status("Training", _TRAINING_MESSAGE)
        self._watch_all(since=self._log_offset)
        return self._supervise_and_finish()

    # ---- staging --------------------------------------------------------------------------

    def _stage(self) -> None:
        spec = self.spec
        if not spec.channels and not spec.checkpoint_s3_uri:
            return
        self._status("Downloading", "Downloading input data")
        stager, should_stop = self.ctx.stager, self._should_stop
        for channel in spec.channels:
            dests = [h.dirs.channel(channel.name) for h in self._hosts]
            stager.download_channel(channel, dests, spec.region, should_stop)
        if spec.checkpoint_s3_uri:
            dests = [h.dirs.checkpoints for h in self._hosts]
            stager.restore_checkpoints(
                spec.checkpoint_s3_uri, dests, spec.region, should_stop, spec.checkpoint_local_path
            )
            self._checkpoint_sync().mark_current()  # restored files are in S3 already

    def _checkpoint_sync(self) -> CheckpointSync:
        if self._checkpoints is None:
            self._checkpoints = CheckpointSync(
                self.ctx.stager,
                [h.dirs.checkpoints for h in self._hosts],
                self.spec.checkpoint_s3_uri,
                self.spec.region,
                state_file=self._dir / CHECKPOINT_STATE_FILE,
            )
        return self._checkpoints

    def _should_stop(self) -> bool:
        return self.stop_reason is not None or self._closed.is_set()

    def _check_stop(self) -> None:
        self._check_closed()
        if self.stop_reason is not None:
            raise StopRequested()

    def _check_closed(self) -> None:
        if self._closed.is_set():
            raise _Abandoned()

    # ---- containers -----------------------------------------------------------------------

    def _limits(self):
        try:
            limits = container_limits(
                self.spec.instance_type,
                self.spec.instance_count,
                self.ctx.host(),
                oversubscribe=self.ctx.cpu_oversubscribe,
                allow_cpu_for_gpu=(self.spec.cpu_stand_in
                                   or os.environ.get("SMLOCAL_ALLOW_CPU_FOR_GPU") == "1"),
            )
        except GpuUnavailable as exc:
            raise InfraError(str(exc), retryable=False) from exc
        for warning in limits.warnings:
            log.warning("%s: %s", self.spec.name, warning)
            self._note(warning)
        return limits

    def _create_network(self) -> str | None:
        spec, prefix = self.spec, self.ctx.label_prefix
        if spec.instance_count <= 1:
            return None
        name = self.ctx.object_name(spec.name)
        # Isolated multi-instance jobs still talk to each other, but not to the outside.
        self._ips = self.ctx.engine.create_network(
            name,
            {f"{prefix}.job": spec.name, f"{prefix}.state": str(self.ctx.work_dir)},
            spec.network_isolation,
            [h.name for h in self._hosts],
        )
        return name

    def _request(self, host: _Host, limits) -> ContainerRequest:
        ips = self._ips if self._network else None
        return container_request(
            self.spec, host.name, host.dirs, limits, label_prefix=self.ctx.label_prefix,
            name=f"{self.ctx.object_name(self.spec.name)}-{host.name}",
            work_dir=self.ctx.work_dir, s3_endpoint_url=self.ctx.container_s3_endpoint_url,
            network=self._network, ips=ips, credentials=self.ctx.stager.credentials)

    def _watch_all(self, since: float | None) -> None:
        for host in self._hosts:
            threading.Thread(
                target=self._watch, args=(host, since), name=f"smlocal-{host.name}", daemon=True
            ).start()

    def _watch(self, host: _Host, since: float | None) -> None:
        """Stream one container's logs until it exits, then record its exit state."""
        assembler = LineAssembler(host.name, not_after=since)

        def on_chunk(stream: str, timestamp: float, data: bytes) -> None:
            lines = assembler.feed(stream, timestamp, data)
            if lines:
                self._emit(lines)

        try:
            self.ctx.engine.follow_logs(
                host.container_id, on_chunk, since=since, register=self._cancels.add
            )
        except Exception as exc:  # noqa: BLE001 - a broken stream must not lose the exit
            if not self._closed.is_set():
                log.warning("%s/%s: log stream ended early: %s", self.spec.name, host.name, exc)
        try:
            if self._closed.is_set():
                return
            rest = assembler.flush()
            if rest:
                self._emit(rest)
            host.state = self.ctx.engine.wait(host.container_id, self._closed.is_set)
        except InfraError as exc:
            host.error = str(exc)
        except Exception as exc:  # noqa: BLE001
            host.error = f"container engine error while waiting for {host.name}: {exc}"
        finally:
            host.ended_at = time.time()
            host.done = True
            self._changed.set()

    def _emit(self, lines: list[LogLine]) -> None:
        if self._closed.is_set():
            return
        try:
            self.sink.logs(self.spec.name, lines)
        except Exception:  # noqa: BLE001 - the controller's problem must not kill the job
            log.exception("sink.logs failed for %s", self.spec.name)

    def _note(self, text: str) -> None:
        """A line from smlocal itself (a resource-cap warning, a retry), in the job's log.

        Only called while no container of the job runs: the note's timestamp is the host's
        "now", and the controller's log offset (max timestamp received) must not pass
        container lines still on their way, or a restart would skip them.
        """
        self._emit([LogLine(time.time(), NOTE_STREAM, NOTE_HOST, text)])

    # ---- supervision and the end ----------------------------------------------------------

    def _supervise_and_finish(self) -> JobOutcome:
        syncing = self._start_checkpoint_sync()
        try:
            self._supervise()
        finally:
            if syncing is not None:  # stopped before the final sync: never two at once
                syncing[0].set()
                syncing[1].join()
        exited = time.time()
        self._runtime_used += exited - self._training_start
        errors = [h.error for h in self._hosts if h.error]
        if errors and self.stop_reason is None:
            raise InfraError(errors[0])
        killed = next((h for h in self._hosts if _signal_from_outside(h)), None)
        own_failure = any(h.state and h.state.exit_code not in (0, *_OUTSIDE_SIGNALS)
                          for h in self._hosts)  # a peer's own error explains the rest
        if killed is not None and self.stop_reason is None and not own_failure:
            # Not the algorithm's doing: PID 1 of a container ignores signals sent from inside
            # it, so the signal came from the host (`docker kill`, an engine restart), as when
            # an instance fails on SageMaker: an infrastructure error, retried under
            # RetryStrategy.
            raise InfraError(
                f"the container of {killed.name} was killed from outside smlocal "
                f"({_signal_from_outside(killed)}, exit code {killed.state.exit_code}, not out of "
                f"memory), e.g. by docker kill, docker rm -f or a restart of the Docker engine")
        return self._finish(exited)

    def _start_checkpoint_sync(self) -> tuple[threading.Event, threading.Thread] | None:
        period = self.ctx.checkpoint_sync_seconds
        if not self.spec.checkpoint_s3_uri or period <= 0:
            return None
        sync, done = self._checkpoint_sync(), threading.Event()

        def loop() -> None:
            while not done.wait(period) and not self._closed.is_set():
                try:
                    sync.sync()
                except Exception as exc:  # noqa: BLE001 - the final sync reports failures
                    log.warning("%s: periodic checkpoint sync failed: %s", self.spec.name, exc)

        thread = threading.Thread(target=loop, name=f"smlocal-ckpt-{self.spec.name}", daemon=True)
        thread.start()
        return done, thread

    def _supervise(self) -> None:
        """Wait until every container has exited, enforcing stops and MaxRuntimeInSeconds."""
        hosts, engine, grace = self._hosts, self.ctx.engine, self.ctx.stop_grace_seconds
        deadline = self._training_start + self.spec.max_runtime_seconds - self._runtime_used
        terminate_at: float | None = None
        killed = False
        while True:
            self._changed.clear()
            self._check_closed()
            if all(h.done for h in hosts):
                break
            now = time.time()
            if terminate_at is None:
                if self.stop_reason is None and now >= deadline:
                    self.request_stop("max_runtime")
                    self._status("Stopping", "MaxRuntimeInSeconds reached; stopping the job")
                failed = any(
                    h.done and (h.error or (h.state is not None and h.state.exit_code != 0))
                    for h in hosts
                )
                if self.stop_reason is not None or failed:
                    for host in hosts:
                        if not host.done:  # SIGTERM now, SIGKILL after the grace period
                            host.signalled = True
                            engine.stop(host.container_id)
                    terminate_at = now
                    continue
                timeout = deadline - now
            elif not killed and now >= terminate_at + grace:
                for host in hosts:
                    if not host.done:
                        host.signalled = True
                        engine.kill(host.container_id)
                killed = True
                timeout = 1.0
            else:
                timeout = (terminate_at + grace - now) if not killed else 1.0
            self._changed.wait(max(0.0, min(timeout, 3600.0)))

    def _finish(self, exited: float) -> JobOutcome:
        hosts = self._hosts
        states = [h for h in hosts if h.state is not None]
        failing = sorted((h for h in states if h.state.exit_code != 0), key=lambda h: h.ended_at)
        reporter = failing[0] if failing else (states[0] if states else hosts[0])
        kind = self.stop_reason or ("failed" if failing else "completed")
        exit_code = reporter.state.exit_code if reporter.state else None
        oom = bool(reporter.state and reporter.state.oom_killed)
        failure = layout.read_failure(reporter.dirs)
        if failure is None:
            failure = next(filter(None, (layout.read_failure(h.dirs) for h in hosts)), None)
        model_uploaded = False
        try:
            model_uploaded = self._upload(uploads_all=kind != "failed")
        except StagingError as exc:
            kind, failure = "internal_error", f"Uploading the job's artifacts failed: {exc}"
        outcome = JobOutcome(
            kind=kind,
            exit_code=exit_code,
            failure_reason=failure if kind in ("failed", "internal_error") else None,
            oom_killed=oom,
            model_uploaded=model_uploaded,
            training_start=self._training_start,
            training_end=exited if kind == "failed" else time.time(),
        )
        self._check_closed()
        (self._dir / OUTCOME_FILE).write_text(json.dumps(dataclasses.asdict(outcome)))
        return outcome

    def _upload(self, *, uploads_all: bool) -> bool:
        """Artifacts to S3 (R4); on failure only what was written. True if a model went up."""
        spec, stager, hosts = self.spec, self.ctx.stager, self._hosts
        prefix = artifact_prefix(spec.output_s3_path, spec.name)
        models = [h.dirs.model for h in hosts]
        outputs = [h.dirs.output_data for h in hosts]
        send_model = uploads_all or any(layout.has_files(p) for p in models)
        send_output = uploads_all or any(layout.has_files(p) for p in outputs)
        if send_model or send_output or spec.checkpoint_s3_uri:
            self._status("Uploading", "Uploading generated training model")
        scratch = layout.hosts_root(self.ctx.work_dir, spec.name) / ".scratch"
        tasks: list[Callable[[], None]] = []
        if send_model and spec.output_compression == "NONE":
            tasks.append(lambda: upload_files(stager, models, f"{prefix}/model", spec.region))
        elif send_model:
            tasks.append(
                lambda: upload_tar(stager, models, f"{prefix}/model.tar.gz", spec.region, scratch)
            )
        if send_output:
            tasks.append(
                lambda: upload_tar(stager, outputs, f"{prefix}/output.tar.gz", spec.region,
                                   scratch)
            )
        if spec.checkpoint_s3_uri:  # only what changed since the last periodic sync
            tasks.append(self._checkpoint_sync().sync)
        if len(tasks) > 1:  # independent uploads go up side by side
            with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
                for future in [pool.submit(task) for task in tasks]:
                    future.result()
        elif tasks:
            tasks[0]()
        return send_model

    def _teardown(self) -> None:
        """Remove this job's containers, network and host folders."""
        for host in self._hosts:
            if host.container_id:
                self.ctx.engine.remove(host.container_id)
        if self._network:
            self.ctx.engine.remove_network(self._network)
        shutil.rmtree(layout.hosts_root(self.ctx.work_dir, self.spec.name), ignore_errors=True)

    def _remove_leftovers(self, containers: list[ContainerState]) -> None:
        for container in containers:
            self.ctx.engine.remove(container.id)
        if self.spec.instance_count > 1:
            self.ctx.engine.remove_network(self.ctx.object_name(self.spec.name))

    def _status(self, status: str, message: str) -> None:
        if self._closed.is_set():
            return
        try:
            self.sink.secondary_status(self.spec.name, status, message)
        except Exception:  # noqa: BLE001
            log.exception("sink.secondary_status failed for %s", self.spec.name)
