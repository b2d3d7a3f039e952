"""Load on one smlocal server: a tuning job with many short training jobs runs while concurrent
clients call Describe/List/ListTrainingJobsFor/Create for a fixed time (issue 15). The clients
read a finished tuning job of `--jobs` training jobs while a second one of as many runs.

The server runs in its own process (`smlocal serve`'s app, on the in-process "fake" engine by
default, so hundreds of training jobs run in seconds without Docker; `--backend docker` runs
real containers). Traffic goes to loopback only and is bounded: `--clients` threads for
`--seconds`, each creating at most `--creates` training jobs. Reported: requests per second,
p50/p99 latency and errors per operation, and the server's resident memory before and after.

    python3 benchmarks/load.py                       # 500 jobs, 50 clients, 60 s
    python3 benchmarks/load.py --jobs 100 --seconds 10 --clients 10
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import boto3
import botocore.config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.server_process import ServerProcess  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/any"


def _wait_completed(sm, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
            "HyperParameterTuningJobStatus"] != "Completed":
        if time.monotonic() > deadline:
            raise SystemExit(f"tuning job {name} did not complete within {timeout} s")
        time.sleep(1.0)
IMAGE = "smlocal/probe:latest"  # the fake engine runs the contract probe's behaviour
METRIC = [{"Name": "loss", "Regex": r"loss=([0-9.]+);"}]


def tuning_request(name: str, jobs: int, parallel: int) -> dict:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs,
                               "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "0", "MaxValue": "1"}]},
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"metrics": "loss=0.5,0.4,0.3"},
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                       "MetricDefinitions": METRIC},
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": "s3://load/out/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
    }


def training_request(name: str) -> dict:
    definition = tuning_request("x", 1, 1)["TrainingJobDefinition"]
    return {"TrainingJobName": name, "AlgorithmSpecification": definition[
        "AlgorithmSpecification"], "RoleArn": ROLE, "HyperParameters": {"metrics": "loss=1"},
        "OutputDataConfig": definition["OutputDataConfig"],
        "ResourceConfig": definition["ResourceConfig"],
        "StoppingCondition": definition["StoppingCondition"]}


class Client(threading.Thread):
    """One client: random operations until `until`, at most `creates` CreateTrainingJob."""

    def __init__(self, index: int, url: str, tuning: str, names: list[str], until: float,
                 creates: int, results: dict) -> None:
        super().__init__(daemon=True)
        self.index, self.tuning, self.until, self.creates = index, tuning, until, creates
        self.names = names
        self.results, self.created = results, 0
        config = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=30,
                                        max_pool_connections=2)
        self.sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1",
                               aws_access_key_id="x", aws_secret_access_key="x", config=config)
        self.rng = random.Random(index)

    def run(self) -> None:
        ops = ["DescribeHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob",
               "ListHyperParameterTuningJobs", "DescribeTrainingJob", "CreateTrainingJob"]
        while time.monotonic() < self.until:
            op = self.rng.choice(ops)
            if op == "CreateTrainingJob" and self.created >= self.creates:
                op = "DescribeHyperParameterTuningJob"
            started = time.perf_counter()
            try:
                self.call(op)
                ok = True
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                ok = False
                self.results["errors"].append(f"{op}: {exc}")
            self.results[op].append((time.perf_counter() - started, ok))

    def call(self, op: str) -> None:
        sm, tuning = self.sm, self.tuning
        if op == "DescribeHyperParameterTuningJob":
            sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning)
        elif op == "ListTrainingJobsForHyperParameterTuningJob":
            sm.list_training_jobs_for_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=tuning, MaxResults=100)
        elif op == "ListHyperParameterTuningJobs":
            sm.list_hyper_parameter_tuning_jobs(MaxResults=10)
        elif op == "DescribeTrainingJob":
            sm.describe_training_job(TrainingJobName=self.rng.choice(self.names))
        else:
            self.created += 1
            sm.create_training_job(**training_request(f"load-{self.index}-{self.created}"))


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=500, help="training jobs of the tuning job")
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--creates", type=int, default=2, help="CreateTrainingJob per client")
    parser.add_argument("--backend", default="fake", choices=["fake", "docker"])
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="smlocal-load-")) / "state"
    server = ServerProcess(state, SMLOCAL_BACKEND=args.backend,
                           SMLOCAL_QUOTA_MAX_PARALLEL_TRAINING_JOBS=str(args.parallel))
    try:
        kw = dict(endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="x",
                  aws_secret_access_key="x")
        sm = boto3.client("sagemaker", **kw)
        boto3.client("s3", **kw).create_bucket(Bucket="load")
        # The clients read a finished tuning job of --jobs training jobs while a second one
        # of as many jobs runs (launches, log lines, metrics: the server's own work).
        tuning, settle = "load", time.monotonic()
        sm.create_hyper_parameter_tuning_job(**tuning_request(tuning, args.jobs, args.parallel))
        _wait_completed(sm, tuning, timeout=1800)
        print(f"{args.jobs} training jobs ran in {time.monotonic() - settle:.0f} s")
        summaries = sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=tuning, MaxResults=100)["TrainingJobSummaries"]
        names = [s["TrainingJobName"] for s in summaries]
        alone = []
        for _ in range(50):  # one client alone: the cost of a Describe, without queueing
            started = time.perf_counter()
            sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning)
            alone.append((time.perf_counter() - started) * 1000)
        print(f"DescribeHyperParameterTuningJob of it, one client alone: p50 "
              f"{percentile(alone, 50):.1f} ms, p99 {percentile(alone, 99):.1f} ms")
        sm.create_hyper_parameter_tuning_job(**tuning_request("load-live", args.jobs,
                                                              args.parallel))
        rss_before, cpu_before = server.rss(), _cpu_seconds(server)
        results: dict = defaultdict(list)
        until = time.monotonic() + args.seconds
        clients = [Client(i, server.url, tuning, names, until, args.creates, results)
                   for i in range(args.clients)]
        started = time.monotonic()
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        elapsed = time.monotonic() - started
        rss_after, cpu = server.rss(), _cpu_seconds(server) - cpu_before
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="load-live")
        done = sum(d["TrainingJobStatusCounters"].values())
        report(results, elapsed, args, (rss_before, rss_after, cpu), done, d)
    finally:
        server.stop()


def _cpu_seconds(server: ServerProcess) -> float:
    """User + system CPU time of the server process (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(results: dict, elapsed: float, args, server: tuple[int, int, float], done: int,
           d: dict) -> None:
    rss_before, rss_after, cpu = server
    total = sum(len(v) for k, v in results.items() if k != "errors")
    print(f"{args.clients} clients for {elapsed:.1f} s on the {args.backend} backend; the "
          f"second tuning job {d['HyperParameterTuningJobStatus']}, {done} of {args.jobs} "
          f"training jobs launched meanwhile")
    print(f"{total} requests, {total / elapsed:.0f} per second, "
          f"{len(results['errors'])} errors; server RSS {rss_before / 2**20:.0f} MiB before, "
          f"{rss_after / 2**20:.0f} MiB after; server CPU {cpu / elapsed:.2f} cores\n")
    print("| operation | requests | errors | p50 (ms) | p99 (ms) |\n|---|---|---|---|---|")
    for op in sorted(k for k in results if k != "errors"):
        times = [t * 1000 for t, _ok in results[op]]
        errors = sum(not ok for _t, ok in results[op])
        print(f"| {op} | {len(times)} | {errors} | {percentile(times, 50):.1f} | "
              f"{percentile(times, 99):.1f} |")
    for line in results["errors"][:10]:
        print("error:", line[:300])


if __name__ == "__main__":
    main()
