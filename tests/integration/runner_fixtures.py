"""Fixtures of the runner conformance suite: one `EngineBackend` per test on every engine.

`env` is parametrized over the engines in `ENGINES` (Docker with the contract probe image, and
the fake engine with its probe program), so every test that asks for `env` is a conformance
check each engine must pass; `docker_env` is for what only a real container can show (name
resolution, /proc/mounts, network isolation, the toolkit image). A new engine (Swarm) adds an
`EngineHarness` and its name to `ENGINES`.

Also: a moto S3 that containers can reach, a private label prefix per test, a recording sink."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import docker
import pytest
from moto.server import ThreadedMotoServer

from orchestrator.runner.base import JobOutcome, JobSpec, LogLine
from orchestrator.runner.engine import DEFAULT_NETWORK, ContainerEngine, ContainerRequest
from orchestrator.runner.engine_backend import EngineBackend
from orchestrator.runner.fake_engine import FakeEngine
from orchestrator.runner.fake_probe import probe_program
from orchestrator.runner.lifecycle import NOTE_STREAM
from orchestrator.runner.resources import GIB, ContainerLimits

REGION = "us-east-1"
GRACE = 1.0  # SIGTERM → SIGKILL in tests (120 s on AWS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    url: str  # from this process
    port: int
    client: object

    def bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def put(self, bucket: str, key: str, body: bytes = b"data") -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=body)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def tar_members(self, bucket: str, key: str) -> dict[str, bytes]:
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto S3 on all interfaces, so containers reach it at their engine's host address."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="0.0.0.0", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    yield S3Server(url, port, client)
    server.stop()


@pytest.fixture(scope="session")
def probe_image(smlocal_image) -> str:
    return smlocal_image("probe")


@dataclass
class RecordingSink:
    """What a backend reported. `lines` holds every LogLine in arrival order (the job's whole
    log: the backend keeps none) and `jobs` the job name of each."""

    statuses: list[tuple[str, str, str]] = field(default_factory=list)
    lines: list[LogLine] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    outcomes: dict[str, JobOutcome] = field(default_factory=dict)
    finished_calls: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def secondary_status(self, job_name: str, status: str, message: str) -> None:
        with self._cond:
            self.statuses.append((job_name, status, message))
            self._cond.notify_all()

    def logs(self, job_name: str, lines: list[LogLine]) -> None:
        with self._cond:
            self.lines.extend(lines)
            self.jobs.extend([job_name] * len(lines))
            self._cond.notify_all()

    def finished(self, job_name: str, outcome: JobOutcome) -> None:
        with self._cond:
            self.finished_calls.append(job_name)
            self.outcomes[job_name] = outcome
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 60.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; statuses={self.statuses}")
                self._cond.wait(left)

    def outcome(self, job: str, timeout: float = 60.0) -> JobOutcome:
        return self.wait_for(lambda: self.outcomes.get(job), timeout, f"{job} to finish")

    def wait_line(self, text: str, timeout: float = 30.0) -> LogLine:
        return self.wait_for(
            lambda: next((ln for ln in self.lines if text in ln.text), None), timeout, repr(text)
        )

    def status_list(self, job: str) -> list[str]:
        return [s for j, s, _m in self.statuses if j == job]

    def job_lines(self, job: str) -> list[LogLine]:
        return [ln for ln, j in zip(self.lines, self.jobs, strict=True) if j == job]

    def texts(self, host: str | None = None, job: str | None = None) -> list[str]:
        """What the containers printed (the backend's own notes left out)."""
        lines = self.lines if job is None else self.job_lines(job)
        return [
            ln.text
            for ln in lines
            if ln.stream != NOTE_STREAM and (host is None or ln.host == host)
        ]

    def notes(self, job: str) -> list[str]:
        """The backend's own notes (stream "smlocal"); each must be attributed to algo-1."""
        lines = [ln for ln in self.job_lines(job) if ln.stream == NOTE_STREAM]
        assert all(ln.host == "algo-1" for ln in lines), lines
        return [ln.text for ln in lines]

    def report(self, host: str = "algo-1") -> dict:
        for line in self.lines:
            if line.host == host and line.text.startswith("PROBE_REPORT "):
                return json.loads(line.text[len("PROBE_REPORT ") :])
        raise AssertionError(f"no PROBE_REPORT from {host}: {self.texts(host)[:20]}")


class EngineHarness:
    """One engine under test: its image for the probe, where containers reach S3, what a
    job left behind, and how it says an image is missing."""

    name: str
    engine: ContainerEngine
    image: str
    s3_host: str  # the address containers reach the test S3 (and the host) at

    def networks(self, prefix: str, job: str) -> list[str]:
        raise NotImplementedError

    def node_folders(self, prefix: str, job: str) -> list[str]:
        """Folders the engine made for the job's hosts outside the host folders."""
        return []

    def missing_image_reason(self, image: str) -> str:
        raise NotImplementedError

    def clean(self, prefix: str) -> None:
        for container in self.engine.list_containers(f"{prefix}.job"):
            self.engine.remove(container.id)

    def container_folder(self, prefix: str, job: str, host: str, folder: Path) -> Path:
        """Where the running container of `job`/`host` writes host folder `folder`."""
        return folder  # a bind mount


class DockerHarness(EngineHarness):
    def __init__(self, docker_client, image: str) -> None:
        from orchestrator.runner.docker_engine import DockerEngine

        self.name, self.image, self.docker = "docker", image, docker_client
        self.engine = DockerEngine(docker_client)
        self.s3_host = self.engine.bridge_gateway()

    def networks(self, prefix: str, job: str) -> list[str]:
        return [n["Name"] for n in self.docker.api.networks(filters={"label": f"{prefix}.job={job}"})]

    def missing_image_reason(self, image: str) -> str:
        return f"image {image} not found locally; build it or docker pull it"

    def clean(self, prefix: str) -> None:
        super().clean(prefix)
        api = self.docker.api
        for network in api.networks(filters={"label": f"{prefix}.job"}):
            api.remove_network(network["Id"])


class FakeHarness(EngineHarness):
    def __init__(self) -> None:
        self.name, self.image, self.s3_host = "fake", "smlocal/probe:latest", "127.0.0.1"
        # Only the probe image exists, so a missing image is missing here too.
        self.fake = FakeEngine({self.image: probe_program}, default=None)
        self.engine = self.fake

    def networks(self, prefix: str, job: str) -> list[str]:
        return self.fake.networks(f"{prefix}.job={job}")

    def missing_image_reason(self, image: str) -> str:
        return f"image {image} is not known to the fake engine"


class SwarmHarness(EngineHarness):
    """The two-node lab (`swarm_lab`): services, overlay networks, images by digest."""

    def __init__(self, docker_client, image: str, lab) -> None:
        from orchestrator.runner.swarm_engine import SwarmEngine

        self.name, self.image, self.docker, self.s3_host = "swarm", image, docker_client, lab.address
        self.engine = SwarmEngine(registry=lab.registry, address=lab.address,
                                  stop_grace_seconds=GRACE,
                                  reserve_fraction=float(os.environ.get("SMLOCAL_SWARM_RESERVE",
                                                                        "0")),
                                  node_engines={"10.200.0.2": lab.node2})

    def container_folder(self, prefix: str, job: str, host: str, folder: Path) -> Path:
        from orchestrator.runner.swarm_services import mounts_label

        labels = [f"{prefix}.job={job}", f"{prefix}.host={host}"]
        for service in self.docker.api.services(filters={"label": labels}):
            info = mounts_label(service) or {"mounts": []}
            for i, (src, _dst, _ro) in enumerate(info["mounts"]):
                if src == str(folder):
                    return Path(info["node_root"]) / f"m{i}"  # the lab shares our files
        raise AssertionError(f"no service of {job}/{host} mounts {folder}")

    def watch_nodes(self, prefix: str, job: str) -> NodeWatch:
        return NodeWatch(self.docker.api, f"{prefix}.job={job}")

    def networks(self, prefix: str, job: str) -> list[str]:
        return [n["Name"] for n in self.docker.api.networks(filters={"label": f"{prefix}.job={job}"})]

    def node_folders(self, prefix: str, job: str) -> list[str]:
        # Both lab nodes share this machine's files: one listing covers both.
        root = Path(self.engine.node_dir) / "smlocal-swarm"
        # <prefix>-<state digest>-<job>-<host>-<random> (RunContext.object_name)
        return sorted(p.name for p in root.glob(f"{prefix}-*-{job}-*")) if root.is_dir() else []

    def missing_image_reason(self, image: str) -> str:
        return (f"image {image} not found locally; build it or docker pull it "
                "(the swarm backend pushes local images to its registry)")

    def clean(self, prefix: str) -> None:
        for service in self.docker.api.services(filters={"label": f"{prefix}.job"}):
            self.engine.remove(service["Spec"]["Name"])
        for network in self.docker.api.networks(filters={"label": f"{prefix}.job"}):
            self.engine.remove_network(network["Name"])


ENGINES = [
    pytest.param("docker", marks=pytest.mark.docker),
    "fake",
    pytest.param("swarm", marks=[pytest.mark.docker, pytest.mark.slow, pytest.mark.swarm]),
]


def _harness(request, name: str) -> EngineHarness:
    if name == "docker":
        return DockerHarness(request.getfixturevalue("docker_client"),
                             request.getfixturevalue("probe_image"))
    if name == "swarm":
        return SwarmHarness(request.getfixturevalue("docker_client"),
                            request.getfixturevalue("probe_image"),
                            request.getfixturevalue("swarm_lab"))
    return FakeHarness()


@dataclass
class Env:
    backend: EngineBackend
    sink: RecordingSink
    s3: S3Server
    bucket: str
    image: str
    prefix: str
    work_dir: Path
    harness: EngineHarness

    @property
    def engine(self) -> ContainerEngine:
        return self.harness.engine

    @property
    def container_s3_url(self) -> str:
        return f"http://{self.harness.s3_host}:{self.s3.port}"

    def spec(self, name: str | None = None, **overrides) -> JobSpec:
        name = name or f"job-{uuid.uuid4().hex[:10]}"
        base = dict(
            name=name,
            arn=f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{name}",
            image=self.image,
            hyperparameters={},
            environment={},
            channels=(),
            output_s3_path=f"s3://{self.bucket}/out/",
            instance_type="ml.m5.large",
            max_runtime_seconds=300,
        )
        base.update(overrides)
        return JobSpec(**base)

    def run(self, spec: JobSpec, timeout: float = 60.0) -> JobOutcome:
        self.backend.launch(spec, self.sink)
        return self.sink.outcome(spec.name, timeout)

    def model_key(self, spec: JobSpec, name: str = "model.tar.gz") -> str:
        return f"out/{spec.name}/output/{name}"

    def leftovers(self, job: str) -> tuple[list, list]:
        containers = self.engine.list_containers(f"{self.prefix}.job={job}")
        return containers, self.harness.networks(self.prefix, job)

    def states(self, job: str) -> list[str]:
        """The status of each container of `job` (running, exited, ...)."""
        return [c.status for c in self.engine.list_containers(f"{self.prefix}.job={job}")]

    def bare_container(self, labels: dict[str, str], command: list[str] | None = None) -> str:
        """A container made behind the backend's back (leftovers of an earlier server)."""
        return self.engine.create(ContainerRequest(
            name=f"{self.prefix}-bare-{uuid.uuid4().hex[:8]}", image=self.image,
            hostname="algo-1", command=command, entrypoint=None, environment={},
            labels=labels, mounts=[], limits=ContainerLimits(10**9, GIB, 0),
            network=DEFAULT_NETWORK))

    def wait_cleaned(
        self, job: str, backend: EngineBackend | None = None, timeout: float = 30.0
    ) -> None:
        """Clean-up runs right after `finished`: wait for containers, network and host
        folders to be gone and for the backend to forget the job."""
        backend = backend or self.backend
        deadline = time.monotonic() + timeout
        while True:
            state = (
                self.leftovers(job),
                (self.work_dir / job / "hosts").exists(),
                job in backend.running_jobs(),
                self.harness.node_folders(self.prefix, job),
            )
            if state == (([], []), False, False, []):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{job} not cleaned up: {state}")
            time.sleep(0.02)

    def new_backend(self, **kwargs) -> EngineBackend:
        """Another backend on the same engine (a restarted server: containers live on; with
        another `work_dir`, another server sharing the engine)."""
        return EngineBackend(
            self.engine,
            kwargs.pop("work_dir", self.work_dir),
            kwargs.pop("s3_url", self.s3.url),
            self.container_s3_url,
            owns_engine=False,
            stop_grace_seconds=kwargs.pop("stop_grace_seconds", GRACE),
            label_prefix=self.prefix,
            **kwargs,
        )


def _env(request, tmp_path, s3_server: S3Server) -> Iterator[Env]:
    harness = _harness(request, request.param)
    prefix = f"smlocal-test-{uuid.uuid4().hex[:8]}"
    environment = Env(None, RecordingSink(), s3_server, s3_server.bucket(), harness.image,
                      prefix, tmp_path / "jobs", harness)
    environment.backend = environment.new_backend()
    yield environment
    environment.backend.close()
    harness.clean(prefix)
    harness.engine.close()


@pytest.fixture(params=ENGINES)
def env(request, tmp_path, s3_server) -> Iterator[Env]:
    """The conformance environment, once per engine."""
    yield from _env(request, tmp_path, s3_server)


@pytest.fixture(params=[p for p in ENGINES if getattr(p, "values", None) in (("docker",),
                                                                        ("swarm",))])
def real_env(request, tmp_path, s3_server) -> Iterator[Env]:
    """Real containers: Docker on this machine, and the two-node swarm lab."""
    yield from _env(request, tmp_path, s3_server)


class NodeWatch:
    """Which swarm node ran each host of a job, read from the running tasks of the services
    with `label` while they run (the services are gone once a job ended)."""

    def __init__(self, api, label: str) -> None:
        self.api, self.label = api, label
        self.nodes: dict[str, str] = {}  # "<job>/<host>" -> node id (the last seen)
        self.seen: set[tuple[str, str]] = set()  # every ("<job>/<host>", node id)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> NodeWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=30)

    def _poll(self) -> None:
        while not self._done.wait(0.3):
            with contextlib.suppress(docker.errors.APIError):
                for service in self.api.services(filters={"label": self.label}):
                    spec = service["Spec"]
                    job = spec.get("Labels", {}).get(self.label.split("=")[0])
                    host = spec["TaskTemplate"]["ContainerSpec"].get("Hostname")
                    for task in self.api.tasks(filters={"service": spec["Name"]}):
                        if task["Status"]["State"] == "running" and job and host:
                            self.nodes[f"{job}/{host}"] = task["NodeID"]
                            self.seen.add((f"{job}/{host}", task["NodeID"]))


@pytest.fixture(params=[p for p in ENGINES if getattr(p, "values", None) == ("docker",)])
def docker_env(request, tmp_path, s3_server) -> Iterator[Env]:
    """For checks only a real container can make (Docker only)."""
    yield from _env(request, tmp_path, s3_server)
