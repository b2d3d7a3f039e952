"""Registers `smlocal replay` (rerun here the configurations another tuning job tried, then
compare the objectives). The work lives in `replay`; `cli` calls `register` once."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

from orchestrator.client.endpoint import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_STOPPED,
    client,
    default_endpoint,
    error,
    guarded,
)


def register(sub: Any) -> None:
    s = sub.add_parser("replay", help="run here the exact configurations another (e.g. "
                       "imported) tuning job tried, as a fixed-points tuning job, and compare "
                       "local and remote objectives (rank correlation, same best)")
    s.add_argument("source", metavar="SOURCE", help="a finished tuning job on the endpoint")
    s.add_argument("--top", type=int, metavar="K", help="only its K best configurations")
    s.add_argument("--parallel", type=int, metavar="P",
                   help="MaxParallelTrainingJobs (default the source's)")
    s.add_argument("--name", metavar="NEW", help="the new tuning job's name "
                   "(default SOURCE-replay)")
    s.add_argument("--json", action="store_true", help="the report as JSON (keys in "
                   "orchestrator/client/replay.py)")
    s.set_defaults(func=cmd_replay)


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from orchestrator.client.svg import fmt

    def num(v: Any) -> str:
        return "-" if v is None else fmt(v)

    t = Table(title=f"{result['source']} replayed as {result['replay']} "
              f"({result['objective']['type']} {result['objective']['metric']})",
              title_justify="left")
    for col in ("#", "hyperparameters", "remote", "local", "local - remote", "local job"):
        t.add_column(col, overflow="fold")
    for row in result["configurations"]:
        t.add_row(str(row["index"]), " ".join(f"{k}={v}" for k, v in
                                               sorted(row["hyperparameters"].items())),
                  num(row["remote_objective"]), num(row["local_objective"]),
                  num(row["difference"]), f"{row['local_training_job'] or '-'} "
                  f"{row['local_status'] or ''}")
    Console().print(t)
    same = {True: "yes", False: "no", None: "-"}[result["best_same"]]
    print(f"pairs {result['pairs']}, Spearman {num(result['spearman'])}, Kendall "
          f"{num(result['kendall'])}; best configuration the same: {same} (remote #"
          f"{result['remote_best'] or '-'}, local #{result['local_best'] or '-'})")


def cmd_replay(args: Any) -> int:
    """Exit 0 when the replay Completed, 1 Failed, 3 Stopped/interrupted; 2/4 bad input or no
    endpoint."""
    from orchestrator.client.analytics import training_job_summaries
    from orchestrator.client.local_server import ServerOrEmbedded
    from orchestrator.client.progress import watch
    from orchestrator.client.replay import ReplayError, create, plan, report

    # With --json, stdout is the JSON alone: progress goes to stderr.
    progress = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with ServerOrEmbedded(default_endpoint(args.endpoint)) as server, progress:
        sm = client("sagemaker", server.url)
        try:
            code, planned = guarded(server.url, lambda: plan(sm, args.source, args.top,
                                                              args.parallel, args.name))
        except ReplayError as exc:
            return error(str(exc), EXIT_BAD_INPUT)
        if planned is None:
            return code
        source, chosen, body = planned
        name = body["HyperParameterTuningJobName"]
        code, arn = guarded(server.url, lambda: create(server.url, body, chosen))
        if arn is None:
            return code
        print(f"created {arn}: {len(chosen)} configurations of {args.source}", flush=True)
        try:
            code, final = guarded(server.url, lambda: watch(sm, name))
        except KeyboardInterrupt:
            return error(f"stopped watching; {name} goes on", EXIT_STOPPED)
        if final is None:
            return code
        code, jobs = guarded(server.url, lambda: training_job_summaries(sm, name))
        if jobs is None:
            return code
    result = report(source, chosen, final, jobs)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return {"Completed": EXIT_OK, "Failed": EXIT_FAILED}.get(
        final["HyperParameterTuningJobStatus"], EXIT_STOPPED)
