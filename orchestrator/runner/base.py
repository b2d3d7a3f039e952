"""The execution seam: what the controller asks of a backend that runs training jobs.

A backend runs one whole training job (stage data → run containers → upload artifacts) and
reports what happens through a `JobSink`. It never touches the job store: state is the
controller's. Nothing here assumes a local socket, host paths shared with the container, or a
single host.

Rooms of the runner package:
- `base` (this): the controller-facing `Backend` / `JobSink` protocols and their records.
- `engine`: the container-engine protocol the lifecycle is written over.
- `lifecycle` (one job: retries, stop grace, MaxRuntime, checkpoint sync, artifacts, outcome,
  restart bookkeeping) and `engine_backend` (`EngineBackend`: launch/stop/recover over an
  engine) — engine-neutral, written once.
- `docker_engine` (local Docker) and `fake_engine` + `fake_probe` (in-process containers):
  the engines. `backends`: the registry choosing one from `Settings.backend`.
- `requests` (the SageMaker run contract as a `ContainerRequest`), `layout` (/opt/ml folders),
  `staging` (S3 in and out), `confined` (all host-folder access: no links followed),
  `resources` (instance types → limits), `logstream` (log chunks → lines).
- `fake`: the scripted, step-driven `FakeBackend` for controller and API tests (no lifecycle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Channel:
    name: str
    s3_uri: str
    input_mode: str = "File"  # File | FastFile | Pipe
    distribution: str = "FullyReplicated"  # FullyReplicated | ShardedByS3Key
    content_type: str | None = None
    record_wrapper: str | None = None
    compression: str | None = None
    s3_data_type: str = "S3Prefix"


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to run one training job, derived from a CreateTrainingJob request."""

    name: str
    arn: str
    image: str
    hyperparameters: dict[str, str]
    environment: dict[str, str]
    channels: tuple[Channel, ...]
    output_s3_path: str  # OutputDataConfig.S3OutputPath as given
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_seconds: int = 86_400
    metric_definitions: tuple[dict[str, str], ...] = ()
    entrypoint: tuple[str, ...] | None = None
    arguments: tuple[str, ...] | None = None
    output_compression: str = "GZIP"  # GZIP | NONE
    checkpoint_s3_uri: str | None = None
    checkpoint_local_path: str = "/opt/ml/checkpoints"
    network_isolation: bool = False
    max_retry_attempts: int = 0  # RetryStrategy.MaximumRetryAttempts (infrastructure errors only)
    region: str = "us-east-1"
    labels: dict[str, str] = field(default_factory=dict)
    # The image is one of smlocal's CPU stand-ins for an AWS image: a GPU instance type runs on
    # CPU with a warning instead of failing for want of a GPU (SMLOCAL_ALLOW_CPU_FOR_GPU=1 does
    # this for every image).
    cpu_stand_in: bool = False


@dataclass(frozen=True)
class LogLine:
    timestamp: float  # epoch seconds
    stream: str  # "stdout" | "stderr" | "smlocal" (a note from smlocal itself, never parsed)
    host: str  # "algo-1" ...
    text: str


@dataclass(frozen=True)
class JobOutcome:
    """How a training job ended, as the backend saw it.

    `kind` is one of:
    - "completed": every container exited 0 (after artifacts were uploaded)
    - "failed": a container exited non-zero (algorithm error); `failure_reason` is the text of
      /opt/ml/output/failure (first 1024 chars) or None; `exit_code` set; `oom_killed` set
    - "stopped": stopped on request (StopTrainingJob / early stopping)
    - "max_runtime": MaxRuntimeInSeconds reached; SIGTERM, grace, SIGKILL; artifacts uploaded
    - "internal_error": infrastructure (image missing, Docker error, S3 download failed) after
      retries; `failure_reason` explains it for the user
    """

    kind: str
    exit_code: int | None = None
    failure_reason: str | None = None
    oom_killed: bool = False
    model_uploaded: bool = False
    training_start: float | None = None
    training_end: float | None = None


class JobSink(Protocol):
    """Callbacks from a backend to the controller. Called from backend threads."""

    def secondary_status(self, job_name: str, status: str, message: str) -> None:
        """`status` is a SecondaryStatus value: Starting, Downloading, Training, Uploading…"""
        ...

    def logs(self, job_name: str, lines: list[LogLine]) -> None:
        """New log lines of a running job, in order, per host."""
        ...

    def finished(self, job_name: str, outcome: JobOutcome) -> None:
        """Called exactly once per launch (after retries), when nothing of the job runs."""
        ...


class Backend(Protocol):
    def launch(self, spec: JobSpec, sink: JobSink) -> None:
        """Start running the job asynchronously; returns at once."""
        ...

    def stop(self, job_name: str, reason: str = "stopped") -> None:
        """Ask a running job to stop: SIGTERM, grace period, SIGKILL. Asynchronous.

        `reason` is "stopped" (user/tuner) or "max_runtime"; it becomes the outcome kind.
        Unknown or already finished jobs are ignored.
        """
        ...

    def recover(self, specs: list[JobSpec], sink: JobSink, log_offsets: dict[str, float]) -> None:
        """After a restart: re-adopt the given in-progress jobs.

        Running containers are re-attached (logs after `log_offsets[name]` epoch seconds);
        jobs whose containers ended while we were down are finished from exit code and files;
        jobs with nothing left (crashed before start) are launched again.
        """
        ...

    def has_image(self, image: str) -> bool:
        """True when the engine can run `image` as it is named (the controller resolves AWS
        image URIs to local images with it; nothing else about the engine leaks upward)."""
        ...

    def close(self) -> None: ...


SinkFactory = Callable[[], JobSink]
