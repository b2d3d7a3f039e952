"""Local Docker backend: runs SageMaker training jobs as SageMaker would (spec §3, §5).

One supervisor thread per job (`supervisor.JobRun`) plus one log thread per container.
The backend keeps no state the controller needs: containers carry labels
(`<prefix>.job`, `<prefix>.host`) and per-job folders live under `work_dir`, which is
under the state dir, so `recover()` can pick jobs up after a restart.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import docker

from orchestrator.runner.base import JobSink, JobSpec
from orchestrator.runner.containers import ContainerState, DockerOps, InfraError, new_docker_client
from orchestrator.runner.resources import HostCapacity
from orchestrator.runner.staging import S3Stager
from orchestrator.runner.supervisor import BackendContext, JobRun, read_outcome

log = logging.getLogger(__name__)

__all__ = ["DockerBackend", "bridge_gateway_ip"]


class DockerBackend:
    """`Backend` on the local Docker engine.

    `work_dir`: per-job host folders and restart bookkeeping (the controller passes
    `<state_dir>/jobs`). Log lines, the backend's own notes included, go only to the sink.
    `s3_endpoint_url`: our S3 as the backend reaches it; `container_s3_endpoint_url`: the same
    S3 as containers reach it (e.g. `http://<bridge gateway>:<port>`; use an IP, so clients
    in the container choose path-style addressing), None to give containers no S3 endpoint.
    `host_capacity`: what containers may use at most (default: what the engine reports).
    `label_prefix`: container labels `<prefix>.job`, `<prefix>.host`, `<prefix>.state`; only
    containers whose `<prefix>.state` is this `work_dir` are ever adopted or removed.
    `checkpoint_sync_seconds`: how often a job with a CheckpointConfig syncs its checkpoint
    folder to S3 while it trains (<= 0: only when it ends).
    """

    def __init__(
        self,
        work_dir: Path,
        s3_endpoint_url: str,
        container_s3_endpoint_url: str | None,
        *,
        docker_client: docker.DockerClient | None = None,
        stop_grace_seconds: float = 120.0,
        cpu_oversubscribe: bool = True,
        label_prefix: str = "smlocal",
        host_capacity: HostCapacity | None = None,
        checkpoint_sync_seconds: float = 10.0,
    ) -> None:
        self._ops = DockerOps(docker_client)
        self._owns_client = docker_client is None
        self._ctx = BackendContext(
            ops=self._ops,
            stager=S3Stager(s3_endpoint_url),
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
        """Per-container ceiling (raises `InfraError` when no Docker engine answers)."""
        return self._ctx.host()

    def running_jobs(self) -> list[str]:
        with self._lock:
            return sorted(self._runs)

    # ---- Backend --------------------------------------------------------------------------

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
            containers = self._ctx.ops.find(f"{prefix}.state={self._ctx.work_dir}")
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
        if self._owns_client:
            self._ops.close()

    # ---- internals ------------------------------------------------------------------------

    def _start(self, run: JobRun) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("DockerBackend is closed")
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
                self._ctx.ops.remove(container.id)
        if not running:
            self._ctx.ops.remove_network(f"{self._ctx.label_prefix}-{job}")


def bridge_gateway_ip(client: docker.DockerClient | None = None) -> str:
    """The default bridge's gateway IP: bind the server there (or 0.0.0.0) and give
    containers `http://<this ip>:<port>` as their S3 endpoint."""
    owned = client is None
    client = client or new_docker_client()
    try:
        return DockerOps(client).bridge_gateway()
    finally:
        if owned:
            client.close()
