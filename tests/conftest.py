"""Shared fixtures: the Docker engine, the smlocal images, example data, /opt/ml layouts.

Docker tests skip with a reason when no engine answers or an image is missing, so the unit
tests run anywhere. CI sets SMLOCAL_REQUIRE_DOCKER=1 (see .ci/run): then a missing engine or
image is a test failure, never a silent skip.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIRE_DOCKER = os.environ.get("SMLOCAL_REQUIRE_DOCKER") == "1"
TEST_LABEL = "smlocal.test"


def docker_unavailable(reason: str) -> None:
    """Skip (or, with SMLOCAL_REQUIRE_DOCKER=1, fail) a test that needs Docker."""
    if REQUIRE_DOCKER:
        pytest.fail(f"{reason} (SMLOCAL_REQUIRE_DOCKER=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker SDK client whose engine answered a ping."""
    try:
        import docker
    except ImportError:
        docker_unavailable("the docker SDK is not installed: run pip install -e '.[test]'")
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:  # any failure to reach the engine means: no Docker here
        docker_unavailable(f"no Docker engine answers ({exc}); run scripts/ensure-docker.sh")
    yield client
    client.close()


@pytest.fixture(scope="session")
def smlocal_image(docker_client) -> Callable[[str], str]:
    """`smlocal_image("gbm")` -> "smlocal/gbm:latest", skipping when that image is not built."""
    import docker.errors

    def require(name: str) -> str:
        tag = f"smlocal/{name}:latest"
        try:
            docker_client.images.get(tag)
        except docker.errors.ImageNotFound:
            docker_unavailable(f"image {tag} is not built; run scripts/build-images.sh")
        return tag

    return require


@pytest.fixture(scope="session")
def gbm_image(smlocal_image) -> str:
    return smlocal_image("gbm")


@pytest.fixture(scope="session")
def epoch_image(smlocal_image) -> str:
    return smlocal_image("epoch")


def load_script(name: str) -> ModuleType:
    """Import scripts/<name>.py as a module (script names have hyphens)."""
    path = REPO_ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def example_data(tmp_path_factory) -> dict[str, Path]:
    """Channel -> CSV file of the example data (breast cancer; label first, no header)."""
    dest = tmp_path_factory.mktemp("example-data")
    return load_script("make-example-data").write_example_data(dest)


@dataclass
class OptMl:
    """A hand-made /opt/ml on the host. Its sub-folders are mounted one by one, as SageMaker
    does (input, model, output and, when wanted, checkpoints); never all of /opt/ml."""

    root: Path
    checkpoints: bool = False
    containers: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        for sub in ("input/config", "input/data", "model", "output"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if self.checkpoints:
            (self.root / "checkpoints").mkdir(exist_ok=True)

    def configure(self, hyperparameters: dict[str, str], channels: dict[str, Path]) -> None:
        """Write the config files and copy each channel's file(s) into input/data/<channel>/."""
        config = self.root / "input" / "config"
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
        data_config = {
            name: {
                "ContentType": "text/csv",
                "TrainingInputMode": "File",
                "S3DistributionType": "FullyReplicated",
                "RecordWrapperType": "None",
            }
            for name in channels
        }
        (config / "inputdataconfig.json").write_text(json.dumps(data_config))
        resources = {
            "current_host": "algo-1",
            "hosts": ["algo-1"],
            "network_interface_name": "eth0",
        }
        (config / "resourceconfig.json").write_text(json.dumps(resources))
        for name, source in channels.items():
            dest = self.root / "input" / "data" / name
            dest.mkdir(parents=True, exist_ok=True)
            for path in [source] if source.is_file() else sorted(source.iterdir()):
                shutil.copy(path, dest / path.name)

    def volumes(self) -> dict[str, dict[str, str]]:
        subs = ["input", "model", "output"] + (["checkpoints"] if self.checkpoints else [])
        return {str(self.root / s): {"bind": f"/opt/ml/{s}", "mode": "rw"} for s in subs}

    @property
    def failure(self) -> str | None:
        path = self.root / "output" / "failure"
        return path.read_text() if path.exists() else None


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    logs: str


@pytest.fixture
def opt_ml_factory(tmp_path, docker_client) -> Iterator[Callable[..., OptMl]]:
    """`opt_ml_factory(checkpoints=False)` -> a fresh OptMl; containers started through
    `start_container` are removed after the test."""
    layouts: list[OptMl] = []

    def make(checkpoints: bool = False) -> OptMl:
        layout = OptMl(tmp_path / f"opt-ml-{len(layouts)}", checkpoints=checkpoints)
        layouts.append(layout)
        return layout

    yield make
    for layout in layouts:
        for container in layout.containers:
            with contextlib.suppress(Exception):  # already gone
                container.remove(force=True)


def start_container(client, image: str, layout: OptMl, command=("train",)) -> Any:
    """Start `image command` detached with `layout` mounted; no network."""
    user = None if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"
    container = client.containers.run(
        image,
        command=list(command),
        volumes=layout.volumes(),
        detach=True,
        network_mode="none",
        user=user,
        name=f"smlocal-test-{uuid.uuid4().hex[:12]}",
        labels={TEST_LABEL: "1"},
    )
    layout.containers.append(container)
    return container


def run_container(
    client, image: str, layout: OptMl, command=("train",), timeout: float = 120
) -> RunResult:
    """Run to completion; return its exit code and its stdout+stderr."""
    container = start_container(client, image, layout, command)
    status = container.wait(timeout=timeout)
    logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    return RunResult(int(status["StatusCode"]), logs)


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a TCP port that was free on loopback a moment ago."""
    import socket

    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return pick
