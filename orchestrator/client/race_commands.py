"""Registers `smlocal race` (one request, one run per strategy, then compare). The planning
lives in `race`, the comparison in `compare`; `cli` calls `register` once."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from orchestrator.client.compare_commands import output_flags, show
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
    s = sub.add_parser("race", help="run one request once per strategy with the same budget "
                       "and parallelism, one after another, then compare the runs")
    s.add_argument("file", help="a CreateHyperParameterTuningJob JSON body")
    s.add_argument("--strategies", default="Bayesian,Random,Grid,Hyperband",
                   help="comma-separated (default Bayesian,Random,Grid,Hyperband)")
    s.add_argument("--name-prefix", metavar="P", help="the runs are named P-<strategy> "
                   "(default race-MMDD-HHMMSS; the names must fit in 32 characters)")
    s.add_argument("--hyperband-min-resource", type=int, metavar="N",
                   help="Hyperband's MinResource when the request gives none (default 1)")
    s.add_argument("--hyperband-max-resource", type=int, metavar="N",
                   help="Hyperband's MaxResource (objective values a full training job "
                   "reports) when the request gives none and has no epochs hyperparameter")
    output_flags(s)
    s.set_defaults(func=cmd_race)


def cmd_race(args: Any) -> int:
    """Exit 0 when every run Completed, 1 when one Failed, 3 when interrupted, 2/4 for bad
    input / no endpoint."""
    from orchestrator.client.compare import compare, gather_run
    from orchestrator.client.costing import attach_costs
    from orchestrator.client.local_server import ServerOrEmbedded
    from orchestrator.client.progress import watch
    from orchestrator.client.race import (
        default_prefix,
        race_summary,
        run_one,
        strategies_from,
        variants,
    )
    from orchestrator.client.tune import load_request

    try:
        body = load_request(args.file)
        strategies = strategies_from(args.strategies)
        plan = variants(body, strategies, args.name_prefix or default_prefix(),
                        args.hyperband_min_resource, args.hyperband_max_resource)
    except ValueError as exc:  # RaceError included
        return error(str(exc), EXIT_BAD_INPUT)
    # With --json, stdout is the JSON alone: progress goes to stderr.
    progress = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with ServerOrEmbedded(default_endpoint(args.endpoint)) as server, progress:
        sm = client("sagemaker", server.url)
        for i, (strategy, v) in enumerate(plan.items(), 1):
            limits = v["HyperParameterTuningJobConfig"]["ResourceLimits"]
            print(f"race {i}/{len(plan)}: {strategy} as {v['HyperParameterTuningJobName']} "
                  f"({limits['MaxNumberOfTrainingJobs']} training jobs, "
                  f"{limits['MaxParallelTrainingJobs']} in parallel)", flush=True)
            try:
                code, final = guarded(server.url, lambda v=v: run_one(sm, v, watch))
            except KeyboardInterrupt:
                return error("race interrupted; the running tuning job was stopped",
                             EXIT_STOPPED)
            if final is None:
                return code

        def read() -> list[Any]:
            runs = [gather_run(sm, v["HyperParameterTuningJobName"]) for v in plan.values()]
            attach_costs(sm, runs)
            return runs

        code, runs = guarded(server.url, read)
        if runs is None:
            return code
    result = compare(runs)
    result["race"] = race_summary(plan, result)
    show(result, args)
    statuses = {r.tuning["HyperParameterTuningJobStatus"] for r in runs}
    return EXIT_OK if statuses == {"Completed"} else EXIT_FAILED
