"""Registers `smlocal compare` (tuning jobs side by side). The computation lives in `compare`,
the output in `compare_render`; `cli` calls `register` once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.client.endpoint import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    client,
    default_endpoint,
    error,
    guarded,
)


def register(sub: Any) -> None:
    s = sub.add_parser("compare", help="tuning jobs side by side (local, imported, several "
                       "runs): request differences, best, quantiles, jobs to within 1 %%/5 %% "
                       "of the best, coverage, training time, failures")
    s.add_argument("names", nargs="+", metavar="NAME", help="two or more tuning jobs")
    output_flags(s)
    s.set_defaults(func=cmd_compare)


def output_flags(s: Any) -> None:
    s.add_argument("--json", action="store_true", help="the comparison as JSON (keys "
                   "documented in orchestrator/client/compare.py)")
    s.add_argument("--html", metavar="FILE", help="also write an HTML page with the charts")


def show(result: dict[str, Any], args: Any) -> int:
    from orchestrator.client.compare_render import print_terminal, render_html, to_json

    if args.html:
        try:
            Path(args.html).write_text(render_html(result), encoding="utf-8")
        except OSError as exc:
            return error(f"cannot write {args.html}: {exc.strerror}", EXIT_BAD_INPUT)
    if args.json:
        print(to_json(result))
    else:
        print_terminal(result)
        if args.html:
            print(f"HTML written to {args.html}")
    return EXIT_OK


def cmd_compare(args: Any) -> int:
    from orchestrator.client.compare import compare, gather_run
    from orchestrator.client.costing import attach_costs

    if len(args.names) < 2:
        return error("compare needs at least two tuning jobs: smlocal compare A B [C ...]",
                     EXIT_BAD_INPUT)
    if len(set(args.names)) != len(args.names):
        return error("a tuning job is named twice", EXIT_BAD_INPUT)
    endpoint = default_endpoint(args.endpoint)
    sm = client("sagemaker", endpoint)
    def read() -> list[Any]:
        runs = [gather_run(sm, n) for n in args.names]
        attach_costs(sm, runs)
        return runs

    code, runs = guarded(endpoint, read)
    if runs is None:
        return code
    return show(compare(runs), args)
