"""smlocal's pytest plugin: integration-test a SageMaker training container from your own tests.

Registered through the `pytest11` entry point, so `pip install smlocal` is enough; no conftest.
Fixtures:

- `smlocal_endpoint` (session): the URL of an smlocal server. By default one runs inside the
  test session on a free port with a temporary state folder; `--smlocal-endpoint URL` uses a
  running one instead (another machine too: everything else goes through the public API).
- `sagemaker_client`, `s3_client`: boto3 clients against it.
- `upload_channel(path_or_files) -> "s3://..."`: a local file or folder, or a {name: text or
  bytes} mapping, uploaded to the server's S3; the URI is a channel's `S3Uri`.
- `run_training_job(image, hyperparameters=..., channels=..., metric_definitions=...,
  instance_type=..., timeout=...) -> TrainingJobResult`: status, failure reason, final metrics,
  metric series, log text and the model folder (model.tar.gz unpacked). `channels` values are
  local paths (uploaded first) or s3:// URIs; `metric_definitions` a {name: regex} mapping or
  the API's list. `result.assert_completed()` fails with the reason and the log's tail.
- `run_tuning_job(request, timeout=...) -> TuningJobResult`: a CreateHyperParameterTuningJob
  body run to its end: status, best training job, its training jobs, the Describe payload.

Marker `@pytest.mark.smlocal_docker`: skip, with the reason, when the embedded server would
need a Docker engine and none answers (with `--smlocal-endpoint` the server's engine counts).

The module imports only pytest at load time: every pytest run in an environment with smlocal
installed loads it.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHANNEL_BUCKET = "smlocal-pytest"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smlocal", "smlocal (SageMaker training containers)")
    group.addoption("--smlocal-endpoint", metavar="URL", default=None,
                    help="use the smlocal server at URL instead of one started in the session")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smlocal_docker: needs a Docker engine to run training "
                            "containers (skipped with the reason when none answers)")


def _docker_problem() -> str | None:
    """None when a local Docker engine answers, else why not."""
    try:
        import docker

        engine = docker.from_env(timeout=10)
        engine.ping()
        engine.close()
        return None
    except Exception as exc:  # noqa: BLE001 - whatever the reason, there is no engine
        return f"no Docker engine answers ({exc})"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("smlocal_docker") and not item.config.getoption(
            "--smlocal-endpoint"):
        problem = _docker_problem()
        if problem:
            pytest.skip(f"smlocal: {problem}; training containers need Docker")


@pytest.fixture(scope="session")
def smlocal_endpoint(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = request.config.getoption("--smlocal-endpoint")
    if url:
        yield url.rstrip("/")
        return
    from orchestrator.app import SmlocalApp
    from orchestrator.config import Settings

    app = SmlocalApp(settings=Settings(state_dir=tmp_path_factory.mktemp("smlocal-state")),
                     port=0).start()
    try:
        yield app.url
    finally:
        app.stop()


@pytest.fixture(scope="session")
def sagemaker_client(smlocal_endpoint: str) -> Any:
    from orchestrator.client.endpoint import client

    return client("sagemaker", smlocal_endpoint)


@pytest.fixture(scope="session")
def s3_client(smlocal_endpoint: str) -> Any:
    from orchestrator.client.endpoint import client

    return client("s3", smlocal_endpoint)


@pytest.fixture
def upload_channel(s3_client: Any, tmp_path: Path) -> Any:
    def upload(path_or_files: str | Path | Mapping[str, str | bytes]) -> str:
        from orchestrator.client.train import upload_path

        source = Path(path_or_files) if isinstance(path_or_files, str | Path) else None
        if source is None:
            source = tmp_path / f"channel-{uuid.uuid4().hex[:8]}"
            for name, content in path_or_files.items():  # type: ignore[union-attr]
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                data = content.encode() if isinstance(content, str) else content
                (source / name).write_bytes(data)
        uri = f"s3://{CHANNEL_BUCKET}/channels/{uuid.uuid4().hex[:12]}/"
        if not source.exists():
            raise FileNotFoundError(f"upload_channel: no such file or folder: {source}")
        upload_path(s3_client, source, uri)
        return uri

    return upload


@dataclass
class TrainingJobResult:
    name: str
    status: str
    failure_reason: str | None
    final_metrics: dict[str, float]
    metric_series: dict[str, list[float]]
    log: str
    model_dir: Path | None
    described: dict[str, Any] = field(repr=False, default_factory=dict)

    def assert_completed(self) -> None:
        """AssertionError with the status, the reason and the log's last lines unless
        Completed."""
        if self.status != "Completed":
            tail = "\n".join(self.log.splitlines()[-20:])
            raise AssertionError(f"training job {self.name} ended {self.status}: "
                                 f"{self.failure_reason}\n--- last log lines ---\n{tail}")


@pytest.fixture
def run_training_job(smlocal_endpoint: str, tmp_path: Path) -> Any:
    def run(image: str, hyperparameters: Mapping[str, Any] | None = None,
            channels: Mapping[str, str | Path] | None = None,
            metric_definitions: Mapping[str, str] | list[dict[str, str]] | None = None,
            instance_type: str = "ml.m5.large", instance_count: int = 1,
            timeout: float = 600) -> TrainingJobResult:
        from orchestrator.client.regex_check import analyse
        from orchestrator.client.train import TrainingSpec, run_job

        defs = ([{"Name": k, "Regex": v} for k, v in metric_definitions.items()]
                if isinstance(metric_definitions, Mapping) else list(metric_definitions or []))
        spec = TrainingSpec(
            image=image, hyperparameters={k: str(v) for k, v in (hyperparameters or {}).items()},
            channels={k: str(v) for k, v in (channels or {}).items()}, metric_definitions=defs,
            instance_type=instance_type, instance_count=instance_count,
            max_runtime=max(1, int(timeout)))
        out = tmp_path / f"job-{uuid.uuid4().hex[:6]}"
        result = run_job(smlocal_endpoint, spec, download=out)
        lines = [e[2] for e in result.log]
        series = {r.name: [m.value for m in r.matches]
                  for r in analyse(defs, lines, max_listed=len(lines) + 1)}
        return TrainingJobResult(result.name, result.status, result.failure_reason,
                                 result.final_metrics, series, result.log_text,
                                 result.artifacts.get("model"), result.described)

    return run


@dataclass
class TuningJobResult:
    name: str
    status: str
    best_training_job: dict[str, Any] | None
    training_jobs: list[dict[str, Any]]
    described: dict[str, Any] = field(repr=False, default_factory=dict)


@pytest.fixture
def run_tuning_job(sagemaker_client: Any) -> Any:
    def run(request: dict[str, Any], timeout: float = 1800) -> TuningJobResult:
        from orchestrator.status import TuningJobStatus

        name = request["HyperParameterTuningJobName"]
        sagemaker_client.create_hyper_parameter_tuning_job(**request)
        deadline = time.time() + timeout
        terminal = {TuningJobStatus.Completed, TuningJobStatus.Failed, TuningJobStatus.Stopped}
        while True:
            described = sagemaker_client.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name)
            if described["HyperParameterTuningJobStatus"] in terminal:
                break
            if time.time() > deadline:
                with contextlib.suppress(Exception):
                    sagemaker_client.stop_hyper_parameter_tuning_job(
                        HyperParameterTuningJobName=name)
                pytest.fail(f"tuning job {name} did not end within {timeout:g} s")
            time.sleep(1)
        pages = sagemaker_client.get_paginator(
            "list_training_jobs_for_hyper_parameter_tuning_job").paginate(
            HyperParameterTuningJobName=name)
        jobs = [s for page in pages for s in page["TrainingJobSummaries"]]
        return TuningJobResult(name, described["HyperParameterTuningJobStatus"],
                               described.get("BestTrainingJob"), jobs, described)

    return run
