"""How `smlocal compare` (and `race`) show a comparison: rich tables for the terminal, JSON, and
one self-contained HTML page drawn with the report's renderer (`svg.Plot`, the report's style,
sortable tables and sort script), so the two pages look and behave the same."""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from typing import Any

from orchestrator.client.report import SORT_SCRIPT, STYLE, dl, table
from orchestrator.client.svg import PALETTE, Plot, fmt


def _num(v: Any, digits: str = ".4g") -> str:
    return "-" if v is None else format(v, digits)


def _plain(o: Any) -> Any:
    return o.isoformat() if isinstance(o, dt.datetime) else str(o)


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, default=_plain)


# -- terminal --------------------------------------------------------------------------------
def _hp(h: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(h.items()))


def summary_rows(result: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(label, one cell per run) for the main table; shared by the terminal and HTML."""
    runs = result["runs"]

    def row(label: str, fn: Any) -> tuple[str, list[str]]:
        return label, [fn(r) for r in runs]

    rows = [
        row("status", lambda r: r["status"]),
        row("strategy", lambda r: str(r["strategy"])),
        row("objective", lambda r: f"{r['objective']['type']} {r['objective']['metric']}"),
        row("budget / parallel", lambda r: f"{r['max_jobs']} / {r['max_parallel']}"),
        row("training jobs", lambda r: ", ".join(
            f"{k} {v}" for k, v in r["training_job_status_counters"].items())),
        row("objectives", lambda r: ", ".join(
            f"{k} {v}" for k, v in r["objective_status_counters"].items())),
        row("best", lambda r: "-" if r["best"] is None else
            f"{fmt(r['best']['value'])} (job #{r['best']['index']})"),
        row("best hyperparameters", lambda r: "-" if r["best"] is None
            else _hp(r["best"]["hyperparameters"])),
    ]
    for q in ("min", "p25", "median", "p75", "max"):
        rows.append(row(f"objective {q}", lambda r, q=q: "-" if r["quantiles"] is None
                        else fmt(r["quantiles"][q])))
    for label in ("1%", "5%"):
        rows.append(row(f"jobs to within {label} of best",
                        lambda r, label=label: _num(r["jobs_to_within"][label], "d")))
    rows += [
        row("training s (median / p90)", lambda r: f"{_num(r['training_seconds']['median'], '.1f')}"
            f" / {_num(r['training_seconds']['p90'], '.1f')}"),
        row("stopped", lambda r: str(r["stopped"])),
        row("failed", lambda r: str(r["failed"]) + "".join(
            f"\n  {n}× {reason[:60]}" for reason, n in r["failures_by_reason"].items())),
        row("SageMaker cost", lambda r: "-" if not r.get("cost") else
            f"{_num(r['cost']['total'])} {r['cost']['currency']} ({r['cost']['kind']})"),
    ]
    return rows


def coverage_rows(result: dict[str, Any]) -> list[tuple[str, list[str]]]:
    names = list(dict.fromkeys(n for r in result["runs"] for n in r["coverage"]))

    def cell(r: dict[str, Any], name: str) -> str:
        c = r["coverage"].get(name)
        if c is None:
            return "-"
        if c["kind"] == "Categorical":
            return f"{c['levels_tried']}/{c['levels']} levels: " + ", ".join(
                f"{v} {x['jobs']}" for v, x in c["per_level"].items())
        return f"span {c['span']:.0%}, bins {c['bins']:.0%}"

    return [(name, [cell(r, name) for r in result["runs"]]) for name in names]


def print_terminal(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    names = [r["name"] for r in result["runs"]]

    def grid(title: str, rows: list[tuple[str, list[str]]]) -> Table:
        t = Table(title=title, title_justify="left")
        t.add_column("", no_wrap=True)
        for n in names:
            t.add_column(n, overflow="fold")
        for label, cells in rows:
            t.add_row(label, *cells)
        return t

    console.print(grid("Tuning jobs", summary_rows(result)))
    console.print(grid("Hyperparameter coverage", coverage_rows(result)))
    if not result["same_objective"]:
        console.print("[yellow]the runs do not optimise the same metric in the same direction: "
                      "best values are not comparable[/yellow]")
    reach = reach_rows(result)
    if reach:
        console.print(grid("Jobs needed to reach the other run's best (row: run, column: whose "
                           "best)", reach))
    diffs = result["request_differences"]
    t = Table(title=f"Request differences ({len(diffs)})", title_justify="left")
    t.add_column("path", overflow="fold")
    for n in names:
        t.add_column(n, overflow="fold")
    for d in diffs:
        t.add_row(d["path"], *(json.dumps(d["values"][n], default=_plain) for n in names))
    console.print(t)


def reach_rows(result: dict[str, Any]) -> list[tuple[str, list[str]]]:
    names = [r["name"] for r in result["runs"]]
    if len(names) < 2:
        return []
    m = result["jobs_to_reach"]
    return [(a, ["" if a == b else ("never" if m[a][b] is None else str(m[a][b]))
                 for b in names]) for a in names]


# -- HTML ------------------------------------------------------------------------------------
def best_so_far_chart(result: dict[str, Any], key: str, x_label: str, chart: str) -> str:
    """One step line per run: best-so-far against `key` ("by_index", "by_time", "by_cost")."""
    series = [(r["name"], r["best_so_far"].get(key) or []) for r in result["runs"]]
    xs = [x for _, pts in series for x, _ in pts] or [0]
    ys = [y for _, pts in series for _, y in pts] or [0]
    metric = result["runs"][0]["objective"]["metric"]
    plot = Plot(chart, xs, ys, x_label=x_label, y_label=metric, width=720, height=340)
    for i, (name, pts) in enumerate(series):
        if not pts:
            continue
        colour = PALETTE[i % len(PALETTE)]
        plot.line([x for x, _ in pts], [y for _, y in pts], name, colour, step=True)
        x, y = pts[-1]
        plot.point(x, y, f"{name}: {fmt(y)} at {fmt(x)}", colour, r=3)
    legend = "".join(f'<span style="color:{PALETTE[i % len(PALETTE)]}">■ {escape(n)}</span> '
                     for i, (n, _) in enumerate(series))
    return f"<figure>{plot.svg()}<figcaption>{legend}</figcaption></figure>"


def _table(table_id: str, names: list[str], rows: list[tuple[str, list[str]]]) -> str:
    return table(table_id, ["", *names], [
        [(escape(label), ""), *((escape(c).replace("\n", "<br>"), "") for c in cells)]
        for label, cells in rows])


def render_html(result: dict[str, Any]) -> str:
    names = [r["name"] for r in result["runs"]]
    charts = [best_so_far_chart(result, "by_index", "training job (creation order)",
                                "best-by-index"),
              best_so_far_chart(result, "by_time", "seconds since the tuning job's creation",
                                "best-by-time")]
    if any(r["best_so_far"].get("by_cost") for r in result["runs"]):
        currency = next(r["cost"]["currency"] for r in result["runs"] if r.get("cost"))
        charts.append(best_so_far_chart(result, "by_cost", f"SageMaker cost so far ({currency})",
                                        "best-by-cost"))
    diffs = [(d["path"], [json.dumps(d["values"][n], default=_plain) for n in names])
             for d in result["request_differences"]]
    parts = [
        "<section id=\"summary\"><h2>Tuning jobs</h2>",
        _table("compare-table", names, summary_rows(result)), "</section>",
        "<section id=\"best-so-far\"><h2>Best so far</h2><p>Against training jobs in creation "
        "order, and against wall time (when each result was known).</p>"
        f"<div class=\"grid\">{''.join(charts)}</div></section>",
        "<section id=\"reach\"><h2>Jobs needed to reach another run's best</h2>",
        _table("reach-table", names, reach_rows(result)) if len(names) > 1 else "",
        "</section><section id=\"coverage\"><h2>Hyperparameter coverage</h2>",
        _table("coverage-table", names, coverage_rows(result)), "</section>",
        f"<section id=\"differences\"><h2>Request differences ({len(diffs)})</h2>",
        _table("differences-table", names, diffs), "</section>",
    ]
    if not result["same_objective"]:
        parts.insert(0, dl([("warning", "the runs do not optimise the same metric in the same "
                                        "direction")]))
    title = " vs ".join(names)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>smlocal compare: {escape(title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>Compare <code>{escape(title)}</code></h1>{''.join(parts)}"
            f"<script>{SORT_SCRIPT}</script></body></html>")
