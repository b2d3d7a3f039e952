"""Per-job overhead of smlocal over a bare `docker run` of the same image (issue 4, item 10).

In one run, N trivial training jobs (the contract probe with no work to do) go through
  1. bare:    `docker run --rm IMAGE train` (the floor: Docker's own create/start/wait/remove),
  2. backend: `EngineBackend.launch` (Docker engine) → `JobSink.finished` (staging, config files, container,
              log streaming, model.tar.gz upload to S3, clean-up),
  3. server:  boto3 `CreateTrainingJob` → `DescribeTrainingJob` says Completed, against a real
              smlocal server (skipped when `orchestrator.app` is not importable),
and the medians, overheads and ratios are printed as markdown. Target: median overhead
< 0.2 s per job (SageMaker Python SDK local mode measured ~6.5 s against ~0.4 s bare).

    python benchmarks/overhead.py --jobs 10
"""

from __future__ import annotations

import argparse
import logging
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.runner.base import JobOutcome, JobSpec, LogLine  # noqa: E402
from orchestrator.runner.docker_engine import DockerEngine  # noqa: E402
from orchestrator.runner.engine_backend import EngineBackend  # noqa: E402

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bare(image: str) -> float:
    started = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", image, "train"], check=True, capture_output=True)
    return time.perf_counter() - started


class TimingSink:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.outcome: JobOutcome | None = None
        self.marks: dict[str, float] = {}

    def secondary_status(self, job_name: str, status: str, message: str) -> None:
        self.marks.setdefault(status, time.perf_counter())

    def logs(self, job_name: str, lines: list[LogLine]) -> None:
        pass

    def finished(self, job_name: str, outcome: JobOutcome) -> None:
        self.marks["finished"] = time.perf_counter()
        self.outcome = outcome
        self.done.set()


def through_backend(backend: EngineBackend, image: str, bucket: str) -> tuple[float, dict]:
    name = f"bench-{uuid.uuid4().hex[:12]}"
    spec = JobSpec(
        name=name,
        arn=f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{name}",
        image=image,
        hyperparameters={},
        environment={},
        channels=(),
        output_s3_path=f"s3://{bucket}/out/",
    )
    sink = TimingSink()
    started = time.perf_counter()
    backend.launch(spec, sink)
    if not sink.done.wait(120):
        raise RuntimeError(f"{name} did not finish")
    elapsed = sink.marks["finished"] - started
    if sink.outcome.kind != "completed":
        raise RuntimeError(f"{name}: {sink.outcome}")
    phases = {
        "launch→Training": sink.marks["Training"] - started,
        "Training→finished": sink.marks["finished"] - sink.marks["Training"],
    }
    return elapsed, phases


def start_server(state_dir: Path):
    """An in-process smlocal server, or None when the app layer is not there yet."""
    try:
        from orchestrator.app import SmlocalApp
        from orchestrator.config import Settings
    except ImportError as exc:
        print(f"(server path skipped: {exc})", file=sys.stderr)
        return None
    return SmlocalApp(settings=Settings(state_dir=state_dir), port=free_port()).start()


def through_server(client, image: str, bucket: str, poll: float) -> float:
    name = f"bench-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    client.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/bench",
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    while True:
        status = client.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
        if status in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(poll)
    elapsed = time.perf_counter() - started
    if status != "Completed":
        raise RuntimeError(f"{name} ended {status}")
    return elapsed


def row(label: str, times: list[float], floor: float | None) -> str:
    med = statistics.median(times)
    over = f"{med - floor:+.3f}" if floor is not None else "—"
    ratio = f"{med / floor:.2f}×" if floor is not None else "—"
    return f"| {label} | {len(times)} | {med:.3f} | {min(times):.3f} | {max(times):.3f} | {over} | {ratio} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--image", default="smlocal/probe:latest")
    parser.add_argument("--no-server", action="store_true", help="skip the CreateTrainingJob path")
    parser.add_argument("--poll", type=float, default=0.01, help="Describe poll interval (s)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log

    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    s3_url = f"http://127.0.0.1:{port}"
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3",
        endpoint_url=s3_url,
        region_name=REGION,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    ).create_bucket(Bucket=bucket)
    results: dict[str, list[float]] = {"bare": [], "backend": [], "server": []}
    phases: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="smlocal-bench-") as tmp:
        backend = EngineBackend(DockerEngine(), Path(tmp) / "jobs", s3_url, None,
                                label_prefix="smlocal-bench")
        app = None if args.no_server else start_server(Path(tmp) / "state")
        client = None
        if app is not None:
            client = boto3.client(
                "sagemaker",
                endpoint_url=app.url,
                region_name=REGION,
                aws_access_key_id="x",
                aws_secret_access_key="x",
            )
            s3 = boto3.client(
                "s3",
                endpoint_url=app.url,
                region_name=REGION,
                aws_access_key_id="x",
                aws_secret_access_key="x",
            )
            s3.create_bucket(Bucket=bucket)
        # Warm-up (image cache, first connections), then interleave the paths so drifting
        # machine load hits them alike.
        bare(args.image)
        through_backend(backend, args.image, bucket)
        for _ in range(args.jobs):
            results["bare"].append(bare(args.image))
            elapsed, phase = through_backend(backend, args.image, bucket)
            results["backend"].append(elapsed)
            phases.append(phase)
            if client is not None:
                results["server"].append(through_server(client, args.image, bucket, args.poll))
        backend.close()
        if app is not None:
            app.stop()
    moto.stop()

    floor = statistics.median(results["bare"])
    command = "python benchmarks/overhead.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"\n`{command}` — image `{args.image}`\n")
    print("| path | jobs | median s | min s | max s | overhead vs bare s | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(row("bare `docker run --rm IMAGE train`", results["bare"], None))
    print(row("EngineBackend.launch → finished", results["backend"], floor))
    if results["server"]:
        print(
            row(
                f"boto3 CreateTrainingJob → Completed (poll {args.poll}s)",
                results["server"],
                floor,
            )
        )
    for key in ("launch→Training", "Training→finished"):
        print(f"\nmedian {key}: {statistics.median(p[key] for p in phases):.3f} s", end="")
    print()


if __name__ == "__main__":
    main()
