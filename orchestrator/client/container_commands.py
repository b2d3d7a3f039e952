"""Registers the commands that test a training container (issue 12): `train` (one job from
flags), `regex-check` (MetricDefinitions against a log) and `check` (the contract checklist).
Their code lives in `train`, `regex_check` and `check`; `cli` calls `register` once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from orchestrator.client.endpoint import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    client,
    default_endpoint,
    error,
    guarded,
)


def register(sub: Any) -> None:
    """Add the container-testing sub-commands to `smlocal`'s sub-parsers."""
    from orchestrator.client.train import add_training_flags, cmd_train

    s = sub.add_parser("train", help="run one training job from flags (no JSON)")
    add_training_flags(s)
    s.add_argument("--wait", action="store_true",
                   help="stream the log until the job ends, then print the final metrics")
    s.add_argument("--download", metavar="DIR", help="(implies --wait) unpack model.tar.gz "
                   "into DIR/model and output.tar.gz into DIR/output")
    s.add_argument("--print-request", action="store_true",
                   help="print the equivalent CreateTrainingJob body and exit")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("regex-check", help="MetricDefinitions regexes against a training log")
    s.add_argument("--metric", action="append", metavar="NAME=REGEX")
    s.add_argument("--metric-definitions", metavar="FILE",
                   help="JSON list of {Name, Regex} (or a request body holding one)")
    source = s.add_mutually_exclusive_group()
    source.add_argument("--log", metavar="FILE", help="a log file (default: standard input)")
    source.add_argument("--training-job", metavar="NAME", help="a training job's log, read "
                        "through the endpoint's CloudWatch Logs API")
    s.add_argument("--json", action="store_true", help="machine-readable report")
    s.set_defaults(func=cmd_regex_check)

    s = sub.add_parser("check", help="run an image through the SageMaker training contract "
                       "and print a checklist with fixes")
    add_training_flags(s)
    s.add_argument("--stop-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="how long after SIGTERM the container may take to exit (default 10)")
    s.add_argument("--no-sigterm", action="store_true", help="skip the SIGTERM job")
    s.add_argument("--json", action="store_true", help="machine-readable checklist")
    s.set_defaults(func=cmd_check)


def _log_lines(args: Any) -> tuple[int, list[str] | None]:
    if args.training_job:
        from orchestrator.client.logs import LogTail, render

        endpoint = default_endpoint(args.endpoint)
        code, events = guarded(endpoint, LogTail(client("logs", endpoint),
                                                 args.training_job).read)
        return code, None if events is None else [render(e) for e in events]
    if args.log:
        try:
            return EXIT_OK, Path(args.log).read_text(errors="replace").splitlines()
        except OSError as exc:
            return error(f"cannot read {args.log}: {exc.strerror}", EXIT_BAD_INPUT), None
    return EXIT_OK, sys.stdin.read().splitlines()


def cmd_regex_check(args: Any) -> int:
    """Exit 0 when every metric matched a number and no mistake was found, 1 otherwise, 2 when
    the definitions break AWS's limits (the service's message) or cannot be read."""
    from orchestrator.client.regex_check import (
        analyse,
        format_limit_errors,
        limit_errors,
        render,
    )
    from orchestrator.client.train import load_metric_definitions, parse_pairs

    try:
        defs = load_metric_definitions(args.metric_definitions,
                                       parse_pairs(args.metric, "--metric"))
    except ValueError as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    if not defs:
        return error("no metric definitions: give --metric NAME=REGEX or --metric-definitions "
                     "FILE", EXIT_BAD_INPUT)
    problems = limit_errors(defs)
    if problems:
        return error(f"ValidationException: {format_limit_errors(problems)}", EXIT_BAD_INPUT)
    code, lines = _log_lines(args)
    if lines is None:
        return code
    reports = analyse(defs, lines)
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        print(render(reports))
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED


def cmd_check(args: Any) -> int:
    """Exit 0 when no item fails, 1 when one does, 2/4 for bad input / no endpoint."""
    from orchestrator.client.check import FAIL, as_json, render, run_check
    from orchestrator.client.local_server import ServerOrEmbedded
    from orchestrator.client.train import spec_from_args

    try:
        spec = spec_from_args(args)
    except ValueError as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    with ServerOrEmbedded(default_endpoint(args.endpoint)) as server:
        try:
            code, items = guarded(server.url, lambda: run_check(
                server.url, spec, stop_timeout=args.stop_timeout, sigterm=not args.no_sigterm))
        except ValueError as exc:
            return error(str(exc), EXIT_BAD_INPUT)
    if items is None:
        return code
    print(json.dumps(as_json(items), indent=2) if args.json else render(items))
    return EXIT_FAILED if any(i.status == FAIL for i in items) else EXIT_OK
