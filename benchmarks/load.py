"""Load on one smlocal server: a tuning job with many short training jobs runs while concurrent
clients call Describe/List/ListTrainingJobsFor/Create for a fixed time (issue 15). The clients
read a finished tuning job of `--jobs` training jobs while a second one of as many runs: it
starts a second before the measured window (its jobs are instant, or `--live-sleep` seconds
each). The client processes start and warm up every client (one call) before the window, so
no client is late at its start.

The server runs in its own process (`smlocal serve`'s app, on the "fake" engine by default,
whose containers are threads, so hundreds of training jobs run in seconds without Docker;
`--backend docker` runs real containers). Its training jobs' lifecycles run in the server's job runner process
(`runner.process_backend`, the default, at niceness +5); `--in-process` runs them in threads
of the server itself (SMLOCAL_JOB_PROCESS=0, as before that process existed) to compare on
the same machine. The clients are boto3 clients in `--procs` worker processes
(`load_clients.py`, which explains the two client models): `--model closed` (each client
sends again as soon as it is answered) or `--model open --rate R` (R requests per second in
all, on a schedule; latency counted from the scheduled send time). Traffic goes to loopback
only and is bounded: `--clients` clients for `--seconds`, each creating at most `--creates`
training jobs. Reported: requests per second, p50/p99 latency and errors per operation,
Describe's p50/p99 while the second tuning job ran and after it ended, the server's resident
memory before and after, the CPU the server, its job runner process and the clients used,
and the machine's load average (the clients share the machine with the server: on a shared or small machine they
compete for the same cores).

    python3 benchmarks/load.py                                   # closed loop, 50 clients, 60 s
    python3 benchmarks/load.py --model open --rate 50            # 50 clients, 1 request/s each
    python3 benchmarks/load.py --jobs 100 --seconds 10 --clients 10
    python3 benchmarks/load.py --model open --rate 50 --in-process   # lifecycles in the server
    python3 benchmarks/load.py --model open --rate 50 --live-sleep 2  # jobs of 2 s each
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_clients import Plan, run_workers  # noqa: E402

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


def tuning_request(name: str, jobs: int, parallel: int, sleep: float = 0.0) -> dict:
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
            "StaticHyperParameters": {"metrics": "loss=0.5,0.4,0.3",
                                      **({"sleep_seconds": f"{sleep:g}"} if sleep else {})},
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                       "MetricDefinitions": METRIC},
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": "s3://load/out/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
    }


def training_request() -> dict:
    """CreateTrainingJob's request, less TrainingJobName."""
    definition = tuning_request("x", 1, 1)["TrainingJobDefinition"]
    return {"AlgorithmSpecification": definition[
        "AlgorithmSpecification"], "RoleArn": ROLE, "HyperParameters": {"metrics": "loss=1"},
        "OutputDataConfig": definition["OutputDataConfig"],
        "ResourceConfig": definition["ResourceConfig"],
        "StoppingCondition": definition["StoppingCondition"]}


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
    parser.add_argument("--model", default="closed", choices=["closed", "open"])
    parser.add_argument("--rate", type=float, default=50.0,
                        help="open loop: requests per second, all clients together")
    parser.add_argument("--procs", type=int, default=2, help="client worker processes")
    parser.add_argument("--live-jobs", type=int, default=None,
                        help="training jobs of the tuning job that runs meanwhile (default: "
                             "--jobs; 0: none, the clients alone)")
    parser.add_argument("--live-sleep", type=float, default=0.0,
                        help="seconds each training job of the running tuning job sleeps (0: "
                             "instant; e.g. 2: 500 jobs 20 at a time last about the window)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the training jobs' lifecycles in the server's own process "
                             "(SMLOCAL_JOB_PROCESS=0) instead of its job runner process")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="smlocal-load-")) / "state"
    server = ServerProcess(state, SMLOCAL_BACKEND=args.backend,
                           SMLOCAL_QUOTA_MAX_PARALLEL_TRAINING_JOBS=str(args.parallel),
                           SMLOCAL_JOB_PROCESS="0" if args.in_process else "1")
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
        names = tuple(s["TrainingJobName"] for s in summaries)
        alone = []
        for _ in range(50):  # one client alone: the cost of a Describe, without queueing
            started = time.perf_counter()
            sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning)
            alone.append((time.perf_counter() - started) * 1000)
        print(f"DescribeHyperParameterTuningJob of it, one client alone: p50 "
              f"{percentile(alone, 50):.1f} ms, p99 {percentile(alone, 99):.1f} ms")
        live = args.jobs if args.live_jobs is None else args.live_jobs
        # The workers build their clients first; everyone starts at `start`.
        plan = Plan(url=server.url, tuning=tuning, names=names, model=args.model,
                    rate=args.rate, clients=args.clients, start=time.monotonic() + 10 + 0.5 *
                    args.clients / args.procs, seconds=args.seconds, creates=args.creates,
                    create_request=training_request())
        load_before = os.getloadavg()
        before: dict = {}

        def at_start() -> None:
            # The second tuning job starts a second before the window, so it runs in it
            # however short its jobs are.
            while time.monotonic() < plan.start - 1.0:
                time.sleep(0.01)
            if live:
                sm.create_hyper_parameter_tuning_job(**tuning_request(
                    "load-live", live, args.parallel, args.live_sleep))
            while time.monotonic() < plan.start:
                time.sleep(0.01)
            before.update(rss=server.rss(), cpu=_cpu_seconds(server.proc.pid),
                          runner=_runner_cpu(server))

        # The workers are started now, so they are ready (clients warmed up) at `start`: spawned
        # at `start`, their first requests were a second late, counted as latency.
        waiter = threading.Thread(target=at_start)
        waiter.start()
        samples, client_cpu = run_workers(plan, args.procs)
        waiter.join()
        rss_before, cpu_before, runner_before = before["rss"], before["cpu"], before["runner"]
        elapsed = args.seconds  # the schedule's window (closed loop: the last call may overrun)
        rss_after, cpu = server.rss(), _cpu_seconds(server.proc.pid) - cpu_before
        runner = {pid: c - runner_before.get(pid, 0.0) for pid, c in _runner_cpu(server).items()}
        print(f"job runner process: {sum(runner.values()) / elapsed:.2f} cores "
              f"({'none: --in-process' if not runner else ', '.join(map(str, runner))})")
        load_after = os.getloadavg()
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="load-live") \
            if live else {}
        done = sum(d.get("TrainingJobStatusCounters", {}).values())
        results: dict = defaultdict(list)
        for op, latency, ok, error, _sent in samples:
            results[op].append((latency, ok))
            if error:
                results["errors"].append(error)
        report(results, elapsed, args, (rss_before, rss_after, cpu, client_cpu), done, d,
               (load_before, load_after))
        if live:
            _report_phases(samples, d)
    finally:
        server.stop()


def _report_phases(samples: list, d: dict) -> None:
    """Describe's latency while the second tuning job ran and after it ended (issue 15's
    target is the former)."""
    end = d.get("HyperParameterTuningEndTime")
    cut = end.timestamp() if end is not None else float("inf")
    if end is not None and samples:
        print(f"the second tuning job ended {cut - min(s[4] for s in samples):.0f} s into the "
              "window")
    for label, keep in (("while the second tuning job ran", lambda t: t < cut),
                        ("after it ended", lambda t: t >= cut)):
        times = [lat * 1000 for op, lat, _ok, _e, sent in samples
                 if op == "DescribeHyperParameterTuningJob" and keep(sent)]
        if times:
            print(f"DescribeHyperParameterTuningJob {label}: {len(times)} requests, p50 "
                  f"{percentile(times, 50):.1f} ms, p99 {percentile(times, 99):.1f} ms")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _runner_cpu(server: ServerProcess) -> dict[int, float]:
    """CPU seconds of each child process of the server (its job runner)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == server.proc.pid:
            found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf(
                "SC_CLK_TCK")
    return found


def report(results: dict, elapsed: float, args, usage: tuple[int, int, float, float],
           done: int, d: dict, loads: tuple) -> None:
    rss_before, rss_after, cpu, client_cpu = usage
    total = sum(len(v) for k, v in results.items() if k != "errors")
    model = ("closed loop (no think time)" if args.model == "closed" else
             f"open loop at {args.rate:g} requests/s offered "
             f"({args.rate / args.clients:g}/s per client)")
    live = (f"the second tuning job {d['HyperParameterTuningJobStatus']}, {done} of its "
            f"training jobs launched meanwhile" if d else "no tuning job running meanwhile")
    where = ("lifecycles in the server's process" if args.in_process
             else "lifecycles in its job runner process")
    print(f"{args.clients} clients in {args.procs} processes, {model}, for {elapsed:.0f} s on "
          f"the {args.backend} backend ({where}); {live}")
    print(f"machine: {os.cpu_count()} cores, load average (1 min) {loads[0][0]:.2f} before, "
          f"{loads[1][0]:.2f} after")
    print(f"{total} requests, {total / elapsed:.0f} per second, "
          f"{len(results['errors'])} errors; server RSS {rss_before / 2**20:.0f} MiB before, "
          f"{rss_after / 2**20:.0f} MiB after; CPU: server {cpu / elapsed:.2f} cores, clients "
          f"{client_cpu / elapsed:.2f} cores")
    if total:
        per = (cpu + client_cpu) / total
        print(f"CPU per request (the server's includes the running tuning job's work): server "
              f"{cpu / total * 1000:.1f} ms, clients "
              f"{client_cpu / total * 1000:.1f} ms; at that cost {os.cpu_count()} cores serve at "
              f"most {os.cpu_count() / per:.0f} requests/s, so {args.clients} closed-loop clients "
              f"wait at least {args.clients * per / os.cpu_count() * 1000:.0f} ms on average "
              f"(Little's law)\n")
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
