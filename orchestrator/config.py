"""Settings with their sources: flags > environment > defaults.

Account quotas (spec §6) default to the AWS defaults and can be raised locally, because on AWS
they are raisable too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from orchestrator.credentials import AccessKey

DEFAULT_PORT = 4577
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"


def default_state_dir() -> Path:
    return Path(os.environ.get("SMLOCAL_HOME", Path.home() / ".smlocal"))


@dataclass(frozen=True)
class Quotas:
    """Account-level limits; AWS defaults (spec §6, C17)."""

    max_parallel_training_jobs: int = 10
    max_training_jobs: int = 750
    max_training_jobs_random: int = 10_000
    max_concurrent_tuning_jobs: int = 100
    max_grid_combinations: int = 750

    @classmethod
    def from_env(cls) -> Quotas:
        """AWS defaults, each raisable with `SMLOCAL_QUOTA_<FIELD>` (e.g.
        `SMLOCAL_QUOTA_MAX_PARALLEL_TRAINING_JOBS=20`), as AWS raises them on request."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f"SMLOCAL_QUOTA_{f.name.upper()}")
            if raw is not None:
                try:
                    values[f.name] = int(raw)
                except ValueError as exc:
                    raise ValueError(f"SMLOCAL_QUOTA_{f.name.upper()}={raw!r} is not an "
                                     "integer") from exc
        return cls(**values)


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(default_factory=default_state_dir)
    region: str = field(default_factory=lambda: os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION))
    account_id: str = DEFAULT_ACCOUNT
    quotas: Quotas = field(default_factory=Quotas.from_env)
    # SIGTERM → SIGKILL grace on stop and on MaxRuntimeInSeconds (120 s on AWS, spec §3.1 R3).
    stop_grace_seconds: float = field(
        default_factory=lambda: float(os.environ.get("SMLOCAL_STOP_GRACE_SECONDS", "120"))
    )
    # Default MaxNumberOfTrainingJobs for non-Grid strategies when omitted (spec Q1).
    default_max_training_jobs: int = 100
    # Where training jobs run: a name from `orchestrator.runner.backends` ("docker", "fake").
    backend: str = field(default_factory=lambda: os.environ.get("SMLOCAL_BACKEND", "docker"))
    # Run the training jobs' lifecycles (staging, log streaming, uploads) in a worker process
    # (`runner.process_backend`) instead of threads of the server, whose GIL they would share
    # with the HTTP requests (issue 15: Describe p99 under a tuning job of many short jobs).
    # env SMLOCAL_JOB_PROCESS=0 keeps them in the server's process.
    job_process: bool = field(
        default_factory=lambda: os.environ.get("SMLOCAL_JOB_PROCESS", "1") != "0")
    # The job runner process's niceness above the server's; env SMLOCAL_JOB_PROCESS_NICE. Out
    # of the GIL, the lifecycles compete with the server for cores instead: at the same
    # priority, on 2 busy cores, 500 instant fake jobs made Describe slower than in one
    # process; at +10 a 100,000-file model folder was not even removed within 30 s while other
    # work ran at 0 (benchmarks/load.py, tests/integration/test_faults_containers.py; README).
    # Containers keep their own priority.
    job_process_nice: int = field(
        default_factory=lambda: int(os.environ.get("SMLOCAL_JOB_PROCESS_NICE", "5")))
    # Bytes of one training job's stored log (`<state>/logs/<job>.events.jsonl`); past it the
    # job's lines are still parsed for metrics but no longer stored (a note says so).
    # env SMLOCAL_MAX_LOG_BYTES.
    max_log_bytes: int = field(
        default_factory=lambda: int(os.environ.get("SMLOCAL_MAX_LOG_BYTES", str(64 * 1024**2)))
    )
    # JSON/YAML file mapping training image URIs or patterns to local images
    # (`orchestrator.images`); env SMLOCAL_IMAGE_MAP.
    image_map: Path | None = field(default_factory=lambda: Path(os.environ["SMLOCAL_IMAGE_MAP"])
                                   if os.environ.get("SMLOCAL_IMAGE_MAP") else None)
    # Request authentication (`api.auth`): every request must be SigV4-signed with this key
    # (or the training containers' key derived from it); None: open, for loopback only.
    access_key: AccessKey | None = None

    @property
    def container_credentials(self) -> dict[str, str] | None:
        """What training containers and the stager sign S3 requests with when authentication
        is on (None: any, e.g. dummy, credentials do)."""
        return self.access_key.container_key().boto3_kwargs() if self.access_key else None

    @property
    def db_path(self) -> Path:
        return self.state_dir / "smlocal.db"

    @property
    def jobs_dir(self) -> Path:
        return self.state_dir / "jobs"

    @property
    def s3_dir(self) -> Path:
        return self.state_dir / "s3"

    def arn(self, resource: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{resource}/{name}"
