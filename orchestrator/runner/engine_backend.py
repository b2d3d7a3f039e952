"""`Backend` over any container engine: runs SageMaker training jobs as SageMaker would
(spec §3, §5) on a `runner.engine.ContainerEngine` (Docker, the fake engine, later Swarm).

One supervisor thread per job (`lifecycle.JobRun`) plus one log thread per container.
The backend keeps no state the controller needs: containers carry labels
(`<prefix>.job`, `<prefix>.host`) and per-job folders live under `work_dir`, which is
under the state dir, so `recover()` can pick jobs up after a restart.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

from orchestrator.runner.base import JobSink, JobSpec
from orchestrator.runner.engine import ContainerEngine, ContainerState, InfraError
from orchestrator.runner.lifecycle import JobRun, RunContext, read_outcome
from orchestrator.runner.resources import HostCapacity
from orchestrator.runner.staging import S3Stager

log = logging.getLogger(__name__)

__all__ = ["EngineBackend"]


class EngineBackend:
    """`Backend` on a container engine.

    `engine`: where containers run; closed with the backend when `owns_engine`.
    `work_dir`: per-job host folders and restart bookkeeping (the controller passes
    `<state_dir>/jobs`). Log lines, the backend's own notes included, go only to the sink.
    `s3_endpoint_url`: our S3 as the backend reaches it; `container_s3_endpoint_url`: the same
    S3 as containers reach it (`http://<engine.host_address()>:<port>`; an IP, so clients
    in the container choose path-style addressing), None to give containers no S3 endpoint.
    `host_capacity`: what containers may use at most (default: what the engine reports).
    `label_prefix`: container labels `<prefix>.job`, `<prefix>.host`, `<prefix>.state`; only
    containers whose `<prefix>.state` is this `work_dir` are ever adopted or removed.
    `checkpoint_sync_seconds`: how often a job with a CheckpointConfig syncs its checkpoint
    folder to S3 while it trains (<= 0: only when it ends).
    `credentials`: what the stager and containers sign S3 requests with (default: dummy ones).
    """

    def __init__(
        self,
        engine: ContainerEngine,
        work_dir: Path,
        s3_endpoint_url: str,
        container_s3_endpoint_url: str | None,
        *,
        owns_engine: bool = True,
        stop_grace_seconds: float = 120.0,
        cpu_oversubscribe: bool = True,
        label_prefix: str = "smlocal",
        host_capacity: HostCapacity | None = None,
        checkpoint_sync_seconds: float = 10.0,
        credentials: dict[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self._owns_engine = owns_engine
        self._ctx = RunContext(
            engine=engine,
            stager=S3Stager(s3_endpoint_url, credentials),
            work_dir=Path(work_dir).resolve(),
            container_s3_endpoint_url=container_s3_endpoint_url,
            stop_grace_seconds=stop_grace_seconds,
            cpu_oversubscribe=cpu_oversubscribe,
            label_prefix=label_prefix,
            host_override=host_capacity,
            on_done=self._forget,
            checkpoint_sync_seconds=checkpoint_sync_seconds,
        )
        self._ctx.work_dir.mkdir(parents=True, exist_ok=True)
        self._runs: dict[str, JobRun] = {}
        self._lock = threading.Lock()
        self._closed = False

    @property
    def host_capacity(self) -> HostCapacity:
        """Per-container ceiling (raises `InfraError` when no engine answers)."""
        return self._ctx.host()

    def running_jobs(self) -> list[str]:
        with self._lock:
            return sorted(self._runs)

    # ---- Backend --------------------------------------------------------------------------

    def has_image(self, image: str) -> bool:
        try:
            self.engine.require_image(image)
        except InfraError:
            return False
        return True

    def launch(self, spec: JobSpec, sink: JobSink) -> None:
        self._start(JobRun(self._ctx, spec, sink))

    def stop(self, job_name: str, reason: str = "stopped") -> None:
        with self._lock:
            run = self._runs.get(job_name)
        if run is not None:
            run.request_stop(reason)

    def recover(self, specs: list[JobSpec], sink: JobSink, log_offsets: dict[str, float]) -> None:
        prefix = self._ctx.label_prefix
        found: dict[str, list[ContainerState]] = {}
        try:
            containers = self.engine.list_containers(f"{prefix}.state={self._ctx.work_dir}")
        except InfraError as exc:  # the jobs start over and report the engine's absence
            log.error("cannot look for running training containers: %s", exc)
            containers = []
        for container in containers:
            found.setdefault(container.labels.get(f"{prefix}.job", ""), []).append(container)
        wanted = {spec.name for spec in specs} | set(self.running_jobs())
        for job, containers in found.items():
            if job not in wanted:
                self._remove_orphans(job, containers)
        for path in self._ctx.work_dir.iterdir():  # folders of jobs that ended during a crash
            if path.name not in wanted and (path / "hosts").is_dir():
                shutil.rmtree(path / "hosts", ignore_errors=True)
        self.engine.sweep()
        for spec in specs:
            self._start(
                JobRun(
                    self._ctx,
                    spec,
                    sink,
                    recovered=found.get(spec.name, []),
                    log_offset=log_offsets.get(spec.name),
                    adopted=read_outcome(self._ctx.work_dir, spec.name),
                )
            )

    def close(self) -> None:
        """Stop supervising; running containers keep running (a restart must not kill jobs)."""
        with self._lock:
            self._closed = True
            runs = list(self._runs.values())
        for run in runs:
            run.close()
        for run in runs:
            run.thread.join(timeout=5)
        if self._owns_engine:
            self.engine.close()

    # ---- internals ------------------------------------------------------------------------

    def _start(self, run: JobRun) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the backend is closed")
            if run.spec.name in self._runs:
                raise ValueError(f"training job {run.spec.name} is already running")
            self._runs[run.spec.name] = run
        run.start()

    def _forget(self, job_name: str, run: object) -> None:
        with self._lock:
            if self._runs.get(job_name) is run:
                del self._runs[job_name]

    def _remove_orphans(self, job: str, containers: list[ContainerState]) -> None:
        """Exited containers of jobs the controller no longer runs (crash after the outcome)."""
        running = [c for c in containers if c.status == "running"]
        for container in running:
            log.warning(
                "container %s of job %s runs but the job is not in progress; leaving it alone",
                container.id[:12],
                job,
            )
        for container in containers:
            if container.status != "running":
                self.engine.remove(container.id)
        if not running:
            self.engine.remove_network(self._ctx.object_name(job))

