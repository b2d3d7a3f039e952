"""The load benchmark's clients (`benchmarks/load.py`): boto3 clients in worker processes.

Two client models (what a latency number means depends on it):

- closed loop: each client sends its next request as soon as the previous one answered (no
  think time). Its latency is the request's round trip. N clients keep exactly N requests
  in flight, so by Little's law mean latency = N / throughput: 50 such clients see a mean
  under 100 ms only if the server answers more than 500 requests per second.
- open loop: each client sends on a fixed schedule (its share of `rate` requests per second,
  starting at a random phase), whether or not earlier requests answered. Latency is measured
  from the *scheduled* send time, so a client that falls behind counts the wait it caused
  (no coordinated omission: a stalled server cannot hide its stall by slowing the clients).

A client is a thread with its own boto3 client; `procs` processes share the clients, because
one Python process signs and parses with one core at a time (the GIL) and would limit the
load it can offer, not the server.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import resource
import threading
import time
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config

OPERATIONS = ("DescribeHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob",
              "ListHyperParameterTuningJobs", "DescribeTrainingJob", "CreateTrainingJob")


@dataclass(frozen=True)
class Plan:
    url: str
    tuning: str  # the finished tuning job the clients read
    names: tuple[str, ...]  # some of its training jobs, for DescribeTrainingJob
    model: str  # "closed" | "open"
    rate: float  # open loop: requests per second offered by all clients together
    clients: int
    start: float  # time.monotonic() (system-wide on Linux) at which every client starts
    seconds: float
    creates: int  # CreateTrainingJob per client, at most
    create_request: dict[str, Any]  # CreateTrainingJob's request, less its name


Sample = tuple[str, float, bool, str, float]  # operation, latency s, ok, error, sent (epoch s)


def run_workers(plan: Plan, procs: int) -> tuple[list[Sample], float]:
    """Every sample of every client, and the CPU seconds the client processes used during the
    measured window."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    shares = [list(range(i, plan.clients, procs)) for i in range(procs)]
    workers = [ctx.Process(target=_worker, args=(plan, share, queue), daemon=True)
               for share in shares if share]
    for w in workers:
        w.start()
    samples: list[Sample] = []
    cpu = 0.0
    for _ in workers:
        reply = queue.get(timeout=plan.start - time.monotonic() + plan.seconds + 600)
        if isinstance(reply, str):
            raise SystemExit(f"{reply}: not measured (a later start would fix it)")
        got, used = reply
        samples += got
        cpu += used
    for w in workers:
        w.join(timeout=60)
    return samples, cpu


def _worker(plan: Plan, indexes: list[int], queue: Any) -> None:
    config = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=60,
                                    max_pool_connections=2)
    session = boto3.session.Session()
    clients = [_Client(plan, i, session.client(
        "sagemaker", endpoint_url=plan.url, region_name="us-east-1", aws_access_key_id="x",
        aws_secret_access_key="x", config=config)) for i in indexes]
    # One call per client before the window: a boto3 client's first call loads its service
    # model and opens its connection, tens of ms of this process's GIL each; 25 of them at the
    # window's start queued every client's first requests behind each other (seconds, counted
    # as the server's latency).
    for client in clients:
        client.sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=plan.tuning)
    if time.monotonic() > plan.start:  # its first requests would count its own lateness
        queue.put(f"client process {os.getpid()} was ready "
                  f"{time.monotonic() - plan.start:.1f} s after the window's start")
        return
    while time.monotonic() < plan.start:
        time.sleep(min(0.05, max(0.0, plan.start - time.monotonic())))
    cpu_before = _cpu()
    threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(([s for c in clients for s in c.samples], _cpu() - cpu_before))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Client:
    def __init__(self, plan: Plan, index: int, sm: Any) -> None:
        self.plan, self.index, self.sm = plan, index, sm
        self.rng = random.Random(index)
        self.created = 0
        self.samples: list[Sample] = []

    def run(self) -> None:
        plan = self.plan
        until = plan.start + plan.seconds
        period = plan.clients / plan.rate if plan.model == "open" else 0.0
        scheduled = plan.start + self.rng.random() * period
        while scheduled < until:
            if plan.model == "open":
                delay = scheduled - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            else:
                scheduled = time.monotonic()
            op = self.rng.choice(OPERATIONS)
            if op == "CreateTrainingJob" and self.created >= plan.creates:
                op = "DescribeHyperParameterTuningJob"
            error, sent = "", time.time()
            try:
                self.call(op)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                error = f"{op}: {exc}"
            self.samples.append((op, time.monotonic() - scheduled, not error, error, sent))
            scheduled += period

    def call(self, op: str) -> None:
        sm, tuning = self.sm, self.plan.tuning
        if op == "DescribeHyperParameterTuningJob":
            sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning)
        elif op == "ListTrainingJobsForHyperParameterTuningJob":
            sm.list_training_jobs_for_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=tuning, MaxResults=100)
        elif op == "ListHyperParameterTuningJobs":
            sm.list_hyper_parameter_tuning_jobs(MaxResults=10)
        elif op == "DescribeTrainingJob":
            sm.describe_training_job(TrainingJobName=self.rng.choice(self.plan.names))
        else:
            self.created += 1
            sm.create_training_job(**self.plan.create_request,
                                   TrainingJobName=f"load-{self.index}-{self.created}")
