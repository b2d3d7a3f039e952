"""The Swarm backend against the Docker backend, in one run, through real servers and boto3
(issue 10, item 6).

1. Per-job overhead: N trivial training jobs (the contract probe with nothing to do), one after
   another, `CreateTrainingJob` → `DescribeTrainingJob` says Completed; the same image on
   `serve --backend docker` (loopback) and on `serve --backend swarm` (the two-node lab).
2. Throughput: M short training jobs (the probe sleeping S seconds) submitted at once; jobs per
   minute, the most that ran at the same time, and slot utilisation = the jobs' summed training
   time / (that concurrency x wall time).

Needs root and the lab (`bash scripts/swarm-lab.sh up`; this script brings it up and leaves it
up). Both lab nodes share this machine's CPUs, so the swarm cannot be faster here: the numbers
show what the cluster plumbing (registry, staging helpers, overlay networks) costs per job.

    python3 benchmarks/swarm.py --jobs 10 --throughput-jobs 100 --sleep 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.server_process import ServerProcess  # noqa: E402

KEY, SECRET = "AKIASWARMBENCH000001", "swarm-benchmark-secret"
TERMINAL = ("Completed", "Failed", "Stopped")


def lab_up() -> dict[str, str]:
    out = subprocess.run(["bash", str(ROOT / "scripts/swarm-lab.sh"), "up"], check=True,
                         capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def servers(state: Path, lab: dict[str, str]) -> dict[str, ServerProcess]:
    docker = ServerProcess(state / "docker", SMLOCAL_BACKEND="docker",
                           SMLOCAL_ACCESS_KEY_ID=KEY, SMLOCAL_SECRET_ACCESS_KEY=SECRET)
    swarm = ServerProcess(
        state / "swarm", host=lab["SMLOCAL_SWARM_ADDRESS"], SMLOCAL_BACKEND="swarm",
        SMLOCAL_SWARM_REGISTRY=lab["SMLOCAL_SWARM_REGISTRY"],
        SMLOCAL_SWARM_ADDRESS=lab["SMLOCAL_SWARM_ADDRESS"],
        SMLOCAL_SWARM_NODE_ENGINES=f"10.200.0.2={lab['SMLOCAL_LAB_NODE2']}",
        SMLOCAL_ACCESS_KEY_ID=KEY, SMLOCAL_SECRET_ACCESS_KEY=SECRET)
    return {"docker": docker, "swarm": swarm}


def client(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET)


def create(sm: Any, name: str, image: str, sleep: float) -> None:
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        OutputDataConfig={"S3OutputPath": "s3://bench/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        HyperParameters={"sleep_seconds": str(sleep)} if sleep else {})


def wait(sm: Any, name: str, poll: float = 0.05) -> dict[str, Any]:
    while True:
        d = sm.describe_training_job(TrainingJobName=name)
        if d["TrainingJobStatus"] in TERMINAL:
            if d["TrainingJobStatus"] != "Completed":
                raise RuntimeError(f"{name}: {d['TrainingJobStatus']} {d.get('FailureReason')}")
            return d
        time.sleep(poll)


def per_job(url: str, image: str, jobs: int) -> list[float]:
    sm = client(url, "sagemaker")
    client(url, "s3").create_bucket(Bucket="bench")
    create(sm, f"warm-{uuid.uuid4().hex[:6]}", image, 0)  # first push / first pull: not timed
    times = []
    for _ in range(jobs):
        name = f"ovh-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        create(sm, name, image, 0)
        wait(sm, name)
        times.append(time.perf_counter() - started)
    return times


def throughput(url: str, image: str, jobs: int, sleep: float) -> dict[str, float]:
    sm = client(url, "sagemaker")
    names = [f"tp-{uuid.uuid4().hex[:8]}" for _ in range(jobs)]
    running_max = 0
    started = time.perf_counter()
    for name in names:
        create(sm, name, image, sleep)
    done: dict[str, dict[str, Any]] = {}
    stop = threading.Event()

    def count_running() -> None:
        nonlocal running_max
        while not stop.wait(0.5):
            page = sm.list_training_jobs(StatusEquals="InProgress", MaxResults=100)
            in_training = sum(1 for s in page["TrainingJobSummaries"]
                              if s["TrainingJobName"] in names)
            running_max = max(running_max, in_training)

    counter = threading.Thread(target=count_running, daemon=True)
    counter.start()
    try:
        for name in names:
            done[name] = wait(sm, name, poll=0.5)
    finally:
        stop.set()
        counter.join()
    wall = time.perf_counter() - started
    busy = sum((d["TrainingEndTime"] - d["TrainingStartTime"]).total_seconds()
               for d in done.values())
    return {"wall_s": wall, "jobs_per_min": jobs / wall * 60, "concurrency": running_max,
            "utilisation": busy / (max(running_max, 1) * wall)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10, help="jobs for the overhead part")
    parser.add_argument("--throughput-jobs", type=int, default=100)
    parser.add_argument("--sleep", type=float, default=2.0, help="seconds each job sleeps")
    parser.add_argument("--image", default="smlocal/probe:latest")
    args = parser.parse_args()
    lab = lab_up()
    with tempfile.TemporaryDirectory() as tmp:
        procs = servers(Path(tmp), lab)
        try:
            medians, tput = {}, {}
            for name, proc in procs.items():
                medians[name] = statistics.median(per_job(proc.url, args.image, args.jobs))
            for name, proc in procs.items():
                tput[name] = throughput(proc.url, args.image, args.throughput_jobs, args.sleep)
        finally:
            for proc in procs.values():
                proc.stop()
    load = os.getloadavg()[0]
    print(f"Command: python3 benchmarks/swarm.py --jobs {args.jobs} --throughput-jobs "
          f"{args.throughput_jobs} --sleep {args.sleep}  (load average at the end {load:.1f})\n")
    print("| backend | per-job wall time, median (s) | jobs/min | max concurrent | "
          "slot utilisation |")
    print("|---|---|---|---|---|")
    for name in procs:
        t = tput[name]
        print(f"| {name} | {medians[name]:.2f} | {t['jobs_per_min']:.1f} | "
              f"{t['concurrency']} | {t['utilisation']:.0%} |")
    print(f"\nswarm / docker per-job wall time: {medians['swarm'] / medians['docker']:.1f}x; "
          f"throughput: {tput['swarm']['jobs_per_min'] / tput['docker']['jobs_per_min']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
