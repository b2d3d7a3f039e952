"""The backend's own notes (resource caps, retries) reach the sink as LogLines on stream
"smlocal"; the backend writes no log file. The engine is a stub: the job never gets as far as
a container."""

from __future__ import annotations

import time
from pathlib import Path

from orchestrator.runner.base import JobOutcome, JobSpec, LogLine
from orchestrator.runner.engine import InfraError
from orchestrator.runner.lifecycle import JobRun, RunContext
from orchestrator.runner.resources import GIB, HostCapacity
from orchestrator.runner.staging import S3Stager


class StubEngine:
    """An engine that fails once with a retryable error, then cannot create containers."""

    def __init__(self) -> None:
        self.image_checks = 0

    def ping(self) -> None:
        pass

    def require_image(self, image: str) -> None:
        self.image_checks += 1
        if self.image_checks == 1:
            raise InfraError("engine hiccup")

    def create(self, request) -> str:
        raise InfraError("no room for containers", retryable=False)

    def remove(self, container_id: str) -> None:
        raise AssertionError("no container was created")

    def remove_network(self, name: str) -> None:
        raise AssertionError("no network was created")


class Sink:
    def __init__(self) -> None:
        self.lines: list[tuple[str, LogLine]] = []
        self.outcomes: list[JobOutcome] = []

    def secondary_status(self, job_name: str, status: str, message: str) -> None:
        pass

    def logs(self, job_name: str, lines: list[LogLine]) -> None:
        self.lines.extend((job_name, line) for line in lines)

    def finished(self, job_name: str, outcome: JobOutcome) -> None:
        self.outcomes.append(outcome)


def job_parts(work_dir: Path, engine: StubEngine) -> tuple[RunContext, JobSpec]:
    """A context on `engine` and a one-retry job with no channels (nothing to stage)."""
    ctx = RunContext(
        engine=engine,
        stager=S3Stager("http://127.0.0.1:9"),  # never called: no channels, no upload
        work_dir=work_dir,
        container_s3_endpoint_url=None,
        stop_grace_seconds=1.0,
        cpu_oversubscribe=True,
        label_prefix="smlocal-unit",
        host_override=HostCapacity(cpus=1, memory_bytes=2 * GIB),
        on_done=lambda name, run: None,
    )
    spec = JobSpec(
        name="job-1",
        arn="arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1",
        image="img",
        hyperparameters={},
        environment={},
        channels=(),
        output_s3_path="s3://b/out/",
        instance_type="ml.m5.large",  # 2 vCPUs, 8 GiB: both capped on this host
        max_retry_attempts=1,
    )
    return ctx, spec


def run_job(work_dir: Path, sink: Sink) -> None:
    ctx, spec = job_parts(work_dir, StubEngine())
    run = JobRun(ctx, spec, sink)
    run.start()
    run.thread.join(timeout=30)
    assert not run.thread.is_alive()


def test_notes_go_to_the_sink_not_to_a_file(tmp_path) -> None:
    sink = Sink()
    before = time.time()
    run_job(tmp_path, sink)
    after = time.time()

    assert [o.kind for o in sink.outcomes] == ["internal_error"]
    assert {job for job, _line in sink.lines} == {"job-1"}
    lines = [line for _job, line in sink.lines]
    assert {(line.stream, line.host) for line in lines} == {("smlocal", "algo-1")}
    assert all(before <= line.timestamp <= after for line in lines)
    texts = [line.text for line in lines]
    assert texts[0] == "internal error, retrying (retry 1): engine hiccup"
    assert texts[1].startswith("ml.m5.large has 2 vCPUs; this Docker host allows 1 ")
    assert texts[2].startswith("ml.m5.large has 8 GiB of memory; this Docker host has 2.0 GiB")
    assert len(texts) == 3
    # The backend wrote no log file (nor anything else: no container ever ran).
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []
