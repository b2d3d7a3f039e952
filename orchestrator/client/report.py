"""`smlocal report NAME`: one self-contained HTML file about a tuning job.

Everything is read through the public API (DescribeHyperParameterTuningJob,
ListTrainingJobsForHyperParameterTuningJob, DescribeTrainingJob, CloudWatch GetMetricData on
`/aws/sagemaker/TrainingJobs`), and drawn as inline SVG (`orchestrator.client.svg`) plus a few
lines of inline script that sort the table, so the file opens offline and fetches nothing.

Sections: summary; objective per training job in launch order with the best-so-far line;
objective against each tuned hyperparameter (log axes for logarithmic ranges, categories as
categories); parallel coordinates; training jobs per parallel slot over time; early-stopping
decisions; learning curves of the objective metric (cut jobs marked where they were cut); a
sortable table of every job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from html import escape
from typing import Any

from orchestrator.client.analytics import (
    objective_metric,
    objective_type,
    training_job_summaries,
)
from orchestrator.client.progress import completion_reason
from orchestrator.client.svg import PALETTE, STATUS_COLOURS, Axis, Plot, fmt

NAMESPACE, DIMENSION = "/aws/sagemaker/TrainingJobs", "TrainingJobName"
Link = Callable[[str], str]  # training job name -> the address of its page
CHARTS = ("objective", "hyperparameter:", "parallel", "timeline", "curves")  # data-chart


# -- reading ---------------------------------------------------------------------------------
def gather(sm: Any, cw: Any, name: str,
           describe: Callable[[str], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything the report shows, from the public API (`describe`: DescribeTrainingJob of a
    name, e.g. a cached one)."""
    describe = describe or (lambda job: sm.describe_training_job(TrainingJobName=job))
    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    jobs = sorted(training_job_summaries(sm, name), key=lambda s: s["CreationTime"])
    details = {s["TrainingJobName"]: describe(s["TrainingJobName"]) for s in jobs}
    return {"tuning": d, "jobs": jobs, "details": details,
            "curves": metric_series(cw, d, jobs, objective_metric(d))}


def metric_series(cw: Any, d: dict[str, Any], jobs: list[dict[str, Any]],
                  metric: str) -> dict[str, list[tuple[dt.datetime, float]]]:
    """Training job → the objective metric's samples (time, value), oldest first, from
    CloudWatch GetMetricData (one query per job, 1-second periods)."""
    if not jobs:
        return {}
    return metric_data(cw, [s["TrainingJobName"] for s in jobs], metric, d["CreationTime"],
                       d.get("HyperParameterTuningEndTime"))


def metric_data(cw: Any, jobs: list[str], metric: str, start: dt.datetime,
                end: dt.datetime | None) -> dict[str, list[tuple[dt.datetime, float]]]:
    """Training job → samples (time, value) of `metric` between `start` and `end` (None: now),
    oldest first, from GetMetricData (1-second periods under three hours, else minutes)."""
    start = start - dt.timedelta(minutes=2)
    end = (end or dt.datetime.now(dt.UTC)) + dt.timedelta(minutes=2)
    period = 1 if end - start < dt.timedelta(hours=3) else 60
    out: dict[str, list[tuple[dt.datetime, float]]] = {}
    for first in range(0, len(jobs), 500):  # GetMetricData takes 500 queries a call
        batch = jobs[first:first + 500]
        queries = [{"Id": f"m{i}", "ReturnData": True, "MetricStat": {
            "Period": period, "Stat": "Average", "Metric": {
                "Namespace": NAMESPACE, "MetricName": metric,
                "Dimensions": [{"Name": DIMENSION, "Value": job}]}}}
            for i, job in enumerate(batch)]
        kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start,
                                  "EndTime": end, "ScanBy": "TimestampAscending"}
        while True:
            page = cw.get_metric_data(**kwargs)
            for result in page["MetricDataResults"]:
                job = batch[int(result["Id"][1:])]
                out.setdefault(job, []).extend(
                    zip(result["Timestamps"], result["Values"], strict=True))
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return {job: sorted(points) for job, points in out.items()}


# -- what the charts need --------------------------------------------------------------------
def parameter_ranges(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Hyperparameter → its range with `Kind` (Continuous/Integer/Categorical), over every
    training job definition."""
    groups = [d["HyperParameterTuningJobConfig"].get("ParameterRanges") or {}]
    groups += [t.get("HyperParameterRanges") or {} for t in d.get("TrainingJobDefinitions", [])]
    out: dict[str, dict[str, Any]] = {}
    for ranges in groups:
        for key, items in ranges.items():
            for r in items:
                out.setdefault(r["Name"], {**r, "Kind": key.replace("ParameterRanges", "")})
    return out


def _value(summary: dict[str, Any]) -> float | None:
    metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
    return metric["Value"] if metric else None


def _seconds(t: dt.datetime, t0: dt.datetime) -> float:
    return (t - t0).total_seconds()


def early_stopping_decisions(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Stopped training jobs, each said to be cut by the tuner (early stopping or Hyperband,
    while the tuning job went on) or stopped with the tuning job."""
    d = data["tuning"]
    config = d["HyperParameterTuningJobConfig"]
    tuner_cuts = (config.get("TrainingJobEarlyStoppingType") == "Auto"
                  or config.get("Strategy") == "Hyperband")
    tuning_end = d.get("HyperParameterTuningEndTime")
    out = []
    for s in data["jobs"]:
        if s["TrainingJobStatus"] != "Stopped":
            continue
        end = s.get("TrainingEndTime")
        with_tuning_job = tuning_end is not None and end is not None and \
            _seconds(tuning_end, end) < 2.0
        transitions = data["details"][s["TrainingJobName"]].get("SecondaryStatusTransitions", [])
        message = transitions[-1].get("StatusMessage", "") if transitions else ""
        curve = data["curves"].get(s["TrainingJobName"], [])
        out.append({
            "job": s["TrainingJobName"],
            "decision": "cut by the tuner" if tuner_cuts and not with_tuning_job
            else "stopped with the tuning job" if with_tuning_job else "stopped",
            "last": curve[-1][1] if curve else None,
            "samples": len(curve), "message": message,
            "seconds": _seconds(end, s["TrainingStartTime"])
            if end and s.get("TrainingStartTime") else None})
    return out


def slots(jobs: list[dict[str, Any]], now: dt.datetime) -> list[tuple[int, dict[str, Any],
                                                                       dt.datetime, dt.datetime]]:
    """Each job on the lowest-numbered parallel slot free when it was created."""
    free_at: list[dt.datetime] = []
    out = []
    for s in jobs:
        start, end = s["CreationTime"], s.get("TrainingEndTime") or now
        slot = next((i for i, t in enumerate(free_at) if t <= start), len(free_at))
        if slot == len(free_at):
            free_at.append(end)
        free_at[slot] = end
        out.append((slot, s, start, end))
    return out


# -- charts ----------------------------------------------------------------------------------
def _colour(data: dict[str, Any], s: dict[str, Any]) -> str:
    names = [t["DefinitionName"] for t in data["tuning"].get("TrainingJobDefinitions", [])]
    name = s.get("TrainingJobDefinitionName")
    return PALETTE[names.index(name) % len(PALETTE)] if name in names else PALETTE[0]


def objective_chart(data: dict[str, Any]) -> str:
    jobs, maximize = data["jobs"], objective_type(data["tuning"]) == "Maximize"
    done = [(i + 1, s, _value(s)) for i, s in enumerate(jobs) if _value(s) is not None]
    plot = Plot("objective", [i for i, *_ in done] or [1], [v for *_, v in done] or [0],
                x_label="training job (launch order)",
                y_label=objective_metric(data["tuning"]))
    best: list[float] = []
    for _, _, v in done:
        best.append(v if not best else (max if maximize else min)(best[-1], v))
    plot.line([i for i, *_ in done], best, "best so far", "#444", step=True,
              cls="mark line best")
    for (i, s, v) in done:
        plot.point(i, v, f"#{i} {s['TrainingJobName']}: {fmt(v)}", _colour(data, s))
    return plot.svg()


def hyperparameter_charts(data: dict[str, Any]) -> list[tuple[str, str]]:
    ranges = parameter_ranges(data["tuning"])
    done = [s for s in data["jobs"] if _value(s) is not None]
    out = []
    for name, r in ranges.items():
        points = [(s["TunedHyperParameters"][name], _value(s)) for s in done
                  if name in s["TunedHyperParameters"]]
        if r["Kind"] == "Categorical":
            kind, cats = "category", r["Values"]
        else:
            kind, cats = ("log" if r.get("ScalingType") == "Logarithmic" else "linear"), None
            points = [(float(x), v) for x, v in points]
        plot = Plot(f"hyperparameter:{name}", [x for x, _ in points] or [0],
                    [v for _, v in points] or [0], x_label=name + (" (log)" if kind == "log"
                                                              else ""),
                    y_label=objective_metric(data["tuning"]), x_kind=kind, x_categories=cats,
                    width=420, height=260)
        for s in done:
            if name in s["TunedHyperParameters"]:
                x = s["TunedHyperParameters"][name]
                plot.point(x if kind == "category" else float(x), _value(s),
                           f"{s['TrainingJobName']}: {name}={x} → {fmt(_value(s))}",
                           _colour(data, s))
        out.append((name, plot.svg()))
    return out


def parallel_chart(data: dict[str, Any]) -> str:
    """One vertical axis per hyperparameter and one for the objective; one line per job,
    darker for better objectives."""
    ranges, d = parameter_ranges(data["tuning"]), data["tuning"]
    done = [s for s in data["jobs"] if _value(s) is not None]
    names = list(ranges)
    axes = [*names, objective_metric(d)]
    width, height, top, bottom = max(480, 130 * len(axes)), 320, 30, 290
    xs = [60 + i * (width - 120) / max(len(axes) - 1, 1) for i in range(len(axes))]
    scales = []
    for name in names:
        r = ranges[name]
        values = [s["TunedHyperParameters"].get(name) for s in done]
        if r["Kind"] == "Categorical":
            scales.append(Axis(values, bottom, top, "category", r["Values"]))
        else:
            kind = "log" if r.get("ScalingType") == "Logarithmic" else "linear"
            scales.append(Axis([float(v) for v in values if v is not None] or [0], bottom, top,
                               kind))
    scales.append(Axis([_value(s) for s in done] or [0], bottom, top))
    parts = []
    values = sorted(_value(s) for s in done)
    maximize = objective_type(d) == "Maximize"
    for s in done:
        v = _value(s)
        rank = values.index(v) / max(len(values) - 1, 1)
        goodness = rank if maximize else 1 - rank
        pts = []
        for axis, name in zip(scales, axes, strict=True):
            raw = v if name == axes[-1] else s["TunedHyperParameters"].get(name)
            if raw is None:
                continue
            pts.append(axis(raw if axis.kind == "category" else float(raw)))
        path = "M" + "L".join(f"{xs[i]:.1f},{y:.1f}" for i, y in enumerate(pts))
        parts.append(f'<path d="{path}" class="mark line" stroke="{PALETTE[0]}" '
                     f'stroke-opacity="{0.15 + 0.85 * goodness:.2f}"><title>'
                     f'{escape(s["TrainingJobName"])}: {fmt(v)}</title></path>')
    for x, axis, name in zip(xs, scales, axes, strict=True):
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" class="axis"/>'
                     f'<text x="{x:.1f}" y="{top - 10}" class="al" text-anchor="middle">'
                     f'{escape(name)}</text>')
        for py, label in axis.ticks(4):
            parts.append(f'<text x="{x + 4:.1f}" y="{py + 4:.1f}" class="tl">'
                         f'{escape(label[:10])}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="parallel" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">'
            + "".join(parts) + "</svg>")


def timeline_chart(data: dict[str, Any]) -> tuple[str, float]:
    """Jobs per parallel slot over time (hatched: stopped; red: failed); and utilisation."""
    d, jobs = data["tuning"], data["jobs"]
    now = d.get("HyperParameterTuningEndTime") or dt.datetime.now(dt.UTC)
    t0 = d["CreationTime"]
    placed = slots(jobs, now)
    n_slots = max([slot for slot, *_ in placed], default=0) + 1
    xs = [_seconds(t, t0) for _, _, a, b in placed for t in (a, b)] or [0, 1]
    plot = Plot("timeline", [0, *xs], [-0.5, n_slots - 0.5], x_label="seconds since creation",
                y_label="parallel slot", y_kind="category",
                y_categories=[str(i + 1) for i in range(n_slots)],
                height=max(160, 70 + 34 * n_slots))
    busy = 0.0
    for slot, s, start, end in placed:
        status = s["TrainingJobStatus"]
        a, b = _seconds(start, t0), _seconds(end, t0)
        busy += b - a
        plot.bar(a, b, str(slot + 1), f"{s['TrainingJobName']} {status} {a:.0f}–{b:.0f} s",
                 STATUS_COLOURS.get(status, "#999"), hatch=status == "Stopped")
    parallel = d["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"]
    span = max(_seconds(now, t0), 1e-9)
    return plot.svg(), min(1.0, busy / (parallel * span))


def curves_chart(data: dict[str, Any]) -> str:
    """The objective metric over training time per job; cut jobs end with a cross."""
    metric, curves = objective_metric(data["tuning"]), data["curves"]
    starts = {s["TrainingJobName"]: s.get("TrainingStartTime") or s["CreationTime"]
              for s in data["jobs"]}
    series = {job: [(max(0.0, _seconds(t, starts[job])), v) for t, v in pts]
              for job, pts in curves.items() if pts and job in starts}
    xs = [x for pts in series.values() for x, _ in pts] or [0]
    ys = [y for pts in series.values() for _, y in pts] or [0]
    plot = Plot("curves", xs, ys, x_label="seconds of training", y_label=metric, width=720,
                height=340)
    statuses = {s["TrainingJobName"]: s["TrainingJobStatus"] for s in data["jobs"]}
    for i, (job, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        plot.line([x for x, _ in pts], [y for _, y in pts], job, colour)
        x, y = pts[-1]
        if statuses.get(job) == "Stopped":
            plot.point(x, y, f"{job} cut at {x:.0f} s: {fmt(y)}", "#d62728", r=6, shape="cross")
        else:
            plot.point(x, y, f"{job}: {fmt(y)}", colour, r=3)
    return plot.svg()


# -- the page --------------------------------------------------------------------------------
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #eee;
text-align:left;font-variant-numeric:tabular-nums}th{cursor:pointer;background:#f6f6f6}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}dt{color:#666}dd{margin:0}
.chart{background:#fff;max-width:100%;height:auto}.frame{fill:none;stroke:#ccc}
.tick,.axis{stroke:#999}.tl{font-size:10px;fill:#555}.al{font-size:12px;fill:#333}
.line{fill:none;stroke-width:1.5}.best{stroke-width:2;stroke-dasharray:5 3}.cut{stroke-width:2.5}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid figure{margin:0}
figcaption{font-size:12px;color:#555}.Completed{color:#2ca02c}.Failed{color:#d62728}
.Stopped{color:#c96400}code{font-size:12px}
"""

# One listener on the document, so tables replaced later (the live dashboard) sort too.
SORT_SCRIPT = """
document.addEventListener('click', function (event) {
  var th = event.target.closest('table.sortable th');
  if (!th) { return; }
  var col = th.cellIndex;
  var body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
  var dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir > 0 ? 'asc' : 'desc';
  rows.sort(function (a, b) {
    var x = a.cells[col].dataset.v || a.cells[col].textContent,
        y = b.cells[col].dataset.v || b.cells[col].textContent;
    var nx = parseFloat(x), ny = parseFloat(y);
    return dir * (isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny);
  });
  rows.forEach(function (r) { body.appendChild(r); });
});
"""


def dl(items: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def summary_section(data: dict[str, Any], utilisation: float) -> str:
    d = data["tuning"]
    config = d["HyperParameterTuningJobConfig"]
    limits, c = config["ResourceLimits"], d["TrainingJobStatusCounters"]
    status = d["HyperParameterTuningJobStatus"]
    items = [
        ("status", f'<b class="{escape(status)}">{escape(status)}</b>'
                   + (f" — {escape(completion_reason(d))}"
                      if d.get("HyperParameterTuningEndTime") else "")),
        ("strategy", escape(config["Strategy"])),
        ("objective", f"{escape(objective_type(d))} <code>{escape(objective_metric(d))}</code>"),
        ("limits", f"{limits['MaxNumberOfTrainingJobs']} training jobs, "
                   f"{limits['MaxParallelTrainingJobs']} in parallel"),
        ("early stopping", escape(config.get("TrainingJobEarlyStoppingType", "Off"))),
        ("training jobs", ", ".join(f"{k} {v}" for k, v in c.items())),
        ("consumed time", f"{d.get('ConsumedResources', {}).get('RuntimeInSeconds', 0)} s; "
                          f"slots busy {utilisation:.0%} of the time"),
        ("created", escape(str(d["CreationTime"]))),
    ]
    ranges = parameter_ranges(d)
    items.append(("tuned", ", ".join(
        f"<code>{escape(n)}</code> {escape(r['Kind'].lower())}"
        + (f" [{escape(r['MinValue'])}, {escape(r['MaxValue'])}]"
           f" {escape(r.get('ScalingType', 'Auto'))}" if r["Kind"] != "Categorical"
           else " {" + escape(", ".join(r["Values"])) + "}") for n, r in ranges.items())))
    for t in d.get("TrainingJobDefinitions", []):
        items.append(("definition", f"<code>{escape(t['DefinitionName'])}</code> "
                                    f"{escape(t['AlgorithmSpecification'].get('TrainingImage', ''))}"))
    warm = d.get("WarmStartConfig")
    if warm:
        items.append(("warm start", escape(warm["WarmStartType"]) + " from " + ", ".join(
            f"<code>{escape(p['HyperParameterTuningJobName'])}</code>"
            for p in warm["ParentHyperParameterTuningJobs"])))
    best = d.get("BestTrainingJob")
    if best:
        job = data["details"].get(best["TrainingJobName"], {})
        items += [
            ("best training job", f"<b>{escape(best['TrainingJobName'])}</b> "
                                  f"{fmt(_value(best))}"),
            ("best hyperparameters", " ".join(
                f"<code>{escape(k)}={escape(v)}</code>"
                for k, v in sorted(best["TunedHyperParameters"].items()))),
            ("model", f"<code>{escape(job.get('ModelArtifacts', {}).get('S3ModelArtifacts', '-'))}"
                      "</code>")]
    return "<section id=\"summary\"><h2>Summary</h2>" + dl(items) + "</section>"


def jobs_table(data: dict[str, Any], link: Link | None = None) -> str:
    names = list(parameter_ranges(data["tuning"]))
    multi = any("TrainingJobDefinitionName" in s for s in data["jobs"])
    head = ["#", "training job", *(["definition"] if multi else []), "status", "objective",
            "seconds", *names]
    rows = []
    for i, s in enumerate(data["jobs"], 1):
        start, end = s.get("TrainingStartTime"), s.get("TrainingEndTime")
        v = _value(s)
        job = escape(s["TrainingJobName"])
        cells = [(str(i), str(i)),
                 (f'<a href="{escape(link(s["TrainingJobName"]))}">{job}</a>' if link else job,
                  "")]
        if multi:
            cells.append((escape(s.get("TrainingJobDefinitionName", "")), ""))
        cells += [(f'<span class="{escape(s["TrainingJobStatus"])}">'
                   f'{escape(s["TrainingJobStatus"])}</span>', s["TrainingJobStatus"]),
                  (fmt(v) if v is not None else "-", repr(v) if v is not None else ""),
                  (f"{_seconds(end, start):.0f}" if start and end else "-", "")]
        cells += [(escape(s["TunedHyperParameters"].get(n, "")), "") for n in names]
        rows.append(cells)
    return table("jobs-table", head, rows)


def table(table_id: str, head: list[str], rows: list[list[tuple[str, str]]]) -> str:
    """A table SORT_SCRIPT sorts by a click on a column; each cell is (HTML, the value to sort
    by, or "" for its text)."""
    body = "".join("<tr>" + "".join(
        f'<td data-v="{escape(v)}">{c}</td>' if v else f"<td>{c}</td>" for c, v in row)
        + "</tr>" for row in rows)
    return (f'<table class="sortable" id="{escape(table_id)}"><thead><tr>'
            + "".join(f"<th>{escape(h)}</th>" for h in head)
            + f"</tr></thead><tbody>{body}</tbody></table>")


def early_stopping_section(data: dict[str, Any]) -> str:
    decisions = early_stopping_decisions(data)
    config = data["tuning"]["HyperParameterTuningJobConfig"]
    intro = (f"TrainingJobEarlyStoppingType={escape(config.get('TrainingJobEarlyStoppingType', 'Off'))}"
             f", strategy {escape(config['Strategy'])}. ")
    if not decisions:
        return f"<p>{intro}No training job was stopped.</p>"
    rows = "".join(
        f"<tr><td>{escape(x['job'])}</td><td>{escape(x['decision'])}</td>"
        f"<td>{'-' if x['seconds'] is None else format(x['seconds'], '.0f')}</td>"
        f"<td>{'-' if x['last'] is None else fmt(x['last'])}</td><td>{x['samples']}</td>"
        f"<td>{escape(x['message'])}</td></tr>" for x in decisions)
    return (f"<p>{intro}{len(decisions)} training job(s) stopped; crosses mark them on the "
            "learning curves.</p><table class=\"sortable\" id=\"early-stopping-table\"><thead>"
            "<tr><th>training job</th><th>decision</th><th>cut after (s)</th>"
            "<th>last objective</th><th>metric samples</th><th>status message</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>")


def render(data: dict[str, Any]) -> str:
    """The whole HTML page."""
    name = data["tuning"]["HyperParameterTuningJobName"]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<title>smlocal report: {escape(name)}</title><style>{STYLE}</style></head><body>'
            f'<h1>Tuning job <code>{escape(name)}</code></h1>' + sections(data)
            + f"<script>{SORT_SCRIPT}</script></body></html>")


def sections(data: dict[str, Any], link: Link | None = None) -> str:
    """Every section of the report (the live dashboard shows the same); `link` gives the
    address of a training job's page, when there is one."""
    d = data["tuning"]
    timeline, utilisation = timeline_chart(data)
    hp = "".join(f"<figure>{svg}</figure>" for _, svg in hyperparameter_charts(data))
    parts = [
        summary_section(data, utilisation),
        '<section id="objective"><h2>Objective per training job</h2><p>In launch order; the '
        f'dashed line is the best so far.</p>{objective_chart(data)}</section>',
        '<section id="hyperparameters"><h2>Objective against each hyperparameter</h2>'
        f'<div class="grid">{hp}</div></section>',
        '<section id="parallel"><h2>Parallel coordinates</h2><p>One line per training job; '
        f'darker is better.</p>{parallel_chart(data)}</section>',
        '<section id="timeline"><h2>Training jobs per parallel slot</h2><p>Green completed, '
        f'hatched stopped, red failed, blue running. Slots busy {utilisation:.0%} of the time.'
        f'</p>{timeline}</section>',
        f'<section id="early-stopping"><h2>Early stopping</h2>'
        f'{early_stopping_section(data)}</section>',
        f'<section id="curves"><h2>Learning curves</h2><p><code>{escape(objective_metric(d))}'
        '</code> from CloudWatch metrics; a cross marks where a stopped job was cut.</p>'
        f'{curves_chart(data)}</section>',
        f'<section id="jobs"><h2>All training jobs</h2><p>Click a column to sort.</p>'
        f'{jobs_table(data, link)}</section>',
    ]
    return "".join(parts)


def write_report(sm: Any, cw: Any, name: str, path: str) -> str:
    html = render(gather(sm, cw, name))
    with open(path, "w", encoding="utf-8") as f:
        f.write(html)
    return path
