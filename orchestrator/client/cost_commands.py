"""Registers `smlocal cost` (issue 11 item 6): what a tuning job costs, or would cost, on
SageMaker. The computation lives in `cost`; this module parses flags and renders."""

from __future__ import annotations

import argparse
import json
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
    s = sub.add_parser("cost", help="what a tuning job costs (imported: billed) or would cost "
                       "(local: projected) on SageMaker")
    s.add_argument("name")
    s.add_argument("--prices", metavar="FILE", help="a price table (JSON, the format of the "
                   "shipped orchestrator/client/data/sagemaker-training-prices.json)")
    s.add_argument("--speed-factor", type=float, default=1.0, metavar="F",
                   help="SageMaker's training time / this machine's (default 1)")
    s.add_argument("--region", help="the region to price in (must be the price table's)")
    s.add_argument("--startup-seconds", type=float, default=None, metavar="S",
                   help="per-job start-up before training, for the wall time (default 120)")
    kind = s.add_mutually_exclusive_group()
    kind.add_argument("--billed", dest="kind", action="store_const", const="billed",
                      help="price BillableTimeInSeconds (default for jobs run on AWS)")
    kind.add_argument("--projected", dest="kind", action="store_const", const="projected",
                      help="project from measured training time (default for local jobs)")
    s.add_argument("--json", action="store_true", help="machine-readable")
    s.set_defaults(func=cmd_cost)


def cmd_cost(args: argparse.Namespace) -> int:
    from orchestrator.client.cost import STARTUP_SECONDS, load_prices, tuning_job_cost

    try:
        prices = load_prices(args.prices)
    except ValueError as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    if args.region and args.region != prices.region:
        return error(f"the price table {prices.path} is for {prices.region}, not "
                     f"{args.region}; give --prices FILE with {args.region}'s prices",
                     EXIT_BAD_INPUT)
    if args.speed_factor <= 0 or (args.startup_seconds or 0) < 0:
        return error("--speed-factor must be > 0 and --startup-seconds >= 0", EXIT_BAD_INPUT)
    startup = STARTUP_SECONDS if args.startup_seconds is None else args.startup_seconds
    endpoint = default_endpoint(args.endpoint)
    code, result = guarded(endpoint, lambda: tuning_job_cost(
        client("sagemaker", endpoint), args.name, prices, args.speed_factor, args.kind,
        startup))
    if result is None:
        return code
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        render(result)
    return EXIT_OK


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def _hourly(r: Any, job: Any) -> str:
    prices = [r.hourly.get(t) for t, _ in job.instances]
    return " + ".join("?" if p is None else f"{p:g}" for p in prices)


def render(r: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    money = f"{{:,.4f}} {r.currency}".format
    table = Table(title=f"{r.name}: {r.kind} SageMaker cost ({r.region}, prices of "
                  f"{r.price_date})", title_justify="left")
    right = ("seconds priced", "price/h", "cost")
    for col in ("training job", "status", "instances", *right):
        table.add_column(col, justify="right" if col in right else "left")
    for j in r.jobs:
        spot = f" (spot, saved {j.spot_saving:.0%})" if j.spot_saving is not None else ""
        table.add_row(j.name, j.status, ", ".join(f"{n}× {t}" for t, n in j.instances),
                      f"{j.seconds:,.0f}", _hourly(r, j),
                      "unpriced" if j.cost is None else money(j.cost) + spot)
    console = Console()
    console.print(table)
    lines = [f"total: {money(r.total)} for {len(r.jobs)} training job(s)"]
    if r.kind == "projected":
        lines += [f"measured training time × speed factor {r.speed_factor:g}; start-up "
                  f"{r.startup_seconds:g} s per job is not billed (wall time only)",
                  f"projected wall time with {r.max_parallel} in parallel: "
                  f"{_duration(r.wall_seconds)}",
                  f"with managed spot: {money(r.spot_range[0])} to {money(r.spot_range[1])} "
                  "(up to 90% saving)"]
    else:
        lines.append(f"wall time on SageMaker: {_duration(r.wall_seconds)}")
    if r.unpriced:
        lines.append(f"no price for {', '.join(r.unpriced)} in the table (not in the total); "
                     "give --prices FILE")
    lines.append(f"prices: {r.price_source}, retrieved {r.price_date}")
    for line in lines:
        console.print(line, highlight=False)
