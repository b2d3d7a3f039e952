"""The live dashboard `smlocal serve` shows under `/ui/`: a WSGI app that reads the server's
public API like any client and renders HTML on the server.

Pages: `/ui/` (tuning jobs, and training jobs run on their own), `/ui/tuning/NAME` (the report's
sections, `report.sections`, with links to the training jobs) and `/ui/training/NAME` (status
and its transitions, one curve per metric from CloudWatch metrics, the log tail from CloudWatch
Logs). Each page is whole HTML that works without script; a few lines of inline script fetch
`?fragment=1` every two seconds and swap in the live part, until the job is over (the response
header `X-Smlocal-Terminal: 1`). Nothing is fetched from elsewhere: no CDN, no fonts, and a
Content-Security-Policy that lets the page reach only its own server.

Read-only: only GET and HEAD are answered (the server sends nothing else here). A `Host` header
that is neither an IP address, `localhost`, nor one of `allowed_hosts` is refused, so a web page
that rebinds its own DNS name to 127.0.0.1 cannot read the dashboard.

The server passes this app to its router (`orchestrator.app`); the app calls the server back
over HTTP at `endpoint()`, so it imports nothing of the server.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any
from urllib.parse import parse_qs, quote

from orchestrator.client import report
from orchestrator.client.endpoint import client
from orchestrator.client.logs import LogTail
from orchestrator.client.logs import render as log_line
from orchestrator.client.svg import PALETTE, Plot, fmt
from orchestrator.status import training_is_terminal, tuning_is_terminal

log = logging.getLogger("smlocal.ui")

PREFIX = "/ui"
REFRESH_MS = 2000
LOG_LINES = 200
CACHED_JOBS = 10_000
NAME = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}$")
HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
     "script-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
     "form-action 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store")]

STYLE = """
nav{font-size:13px;color:#666}nav a{color:#1f77b4}#updated{font-size:12px;color:#888}
.progress{font-size:16px}pre.log{background:#111;color:#ddd;padding:8px;max-height:420px;
overflow:auto;font-size:12px;white-space:pre-wrap}.InProgress,.Stopping{color:#1f77b4}
"""

# Fetch the live part again every REFRESH_MS until the server says the job is over; keep the
# table sorted as the user left it and the log scrolled to its end.
LIVE_SCRIPT = """
(function () {
  var live = document.getElementById('live'), note = document.getElementById('updated');
  function sorted() {
    return Array.from(live.querySelectorAll('table[id] th[data-dir]')).map(function (th) {
      return [th.closest('table').id, th.cellIndex, th.dataset.dir];
    });
  }
  function resort(state) {
    state.forEach(function (s) {
      var table = document.getElementById(s[0]);
      var th = table && table.tHead && table.tHead.rows[0].cells[s[1]];
      if (th) { th.click(); if (s[2] === 'desc') { th.click(); } }
    });
  }
  function bottom() {
    live.querySelectorAll('pre.log').forEach(function (p) { p.scrollTop = p.scrollHeight; });
  }
  function schedule() {
    if (live.dataset.terminal !== '1') { setTimeout(refresh, REFRESH_MS); }
  }
  function refresh() {
    fetch(location.pathname + '?fragment=1', {cache: 'no-store'}).then(function (r) {
      if (!r.ok) { throw new Error('HTTP ' + r.status); }
      live.dataset.terminal = r.headers.get('X-Smlocal-Terminal') || '0';
      return r.text();
    }).then(function (html) {
      var state = sorted();
      live.innerHTML = html; resort(state); bottom();
      note.textContent = 'updated ' + new Date().toLocaleTimeString();
    }).catch(function (e) {
      note.textContent = 'cannot reach the server (' + e.message + '), retrying';
    }).then(schedule);
  }
  bottom(); schedule();
})();
""".replace("REFRESH_MS", str(REFRESH_MS))


class NotFound(Exception):
    pass


class Dashboard:
    """WSGI app for `/ui/...`; `endpoint()` is the server's own URL (known once it listens)."""

    def __init__(self, endpoint: Callable[[], str], allowed_hosts: Sequence[str] = ()) -> None:
        self._endpoint = endpoint
        self._allowed = {h.strip("[]").lower() for h in allowed_hosts} | {"localhost"}
        self._clients: dict[str, Any] = {}
        # DescribeTrainingJob of finished jobs, which no longer change: a tuning job's page
        # asks again only for the running ones every two seconds.
        self._finished: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        if service not in self._clients:  # boto3 clients are thread-safe once made
            self._clients[service] = client(service, self._endpoint())
        return self._clients[service]

    def describe_training_job(self, name: str) -> dict[str, Any]:
        with self._lock:
            if name in self._finished:
                self._finished.move_to_end(name)
                return self._finished[name]
        t = self.client("sagemaker").describe_training_job(TrainingJobName=name)
        if training_is_terminal(t["TrainingJobStatus"]):
            with self._lock:
                self._finished[name] = t
                while len(self._finished) > CACHED_JOBS:
                    self._finished.popitem(last=False)
        return t

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _send(start_response, 405, "<p>The dashboard is read-only.</p>",
                         [("Allow", "GET, HEAD")])
        if not self._host_allowed(environ.get("HTTP_HOST", "")):
            return _send(start_response, 403, "<p>Unknown Host header; open the dashboard at "
                                              "http://127.0.0.1:PORT/ui/.</p>")
        if path == PREFIX:
            return _send(start_response, 308, "", [("Location", PREFIX + "/")])
        fragment = "fragment" in parse_qs(environ.get("QUERY_STRING", ""))
        try:
            title, nav, live, terminal = self._page(path[len(PREFIX):])
        except NotFound as exc:
            return _send(start_response, 404, _shell("not found", "", f"<p>{escape(str(exc))}"
                                                     "</p>", True))
        except Exception as exc:  # the API said no, or is not reachable: say so, keep serving
            log.warning("dashboard %s: %s", path, exc)
            return _send(start_response, 502, _shell("error", "", "<p>The API answered: "
                                                     f"{escape(str(exc))}</p>", True))
        body = live if fragment else _shell(title, nav, live, terminal)
        return _send(start_response, 200, body, [("X-Smlocal-Terminal", "1" if terminal else "0")])

    def _host_allowed(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        if not name or name in self._allowed:
            return True
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return False

    def _page(self, rest: str) -> tuple[str, str, str, bool]:
        """(title, navigation, live part, whether it is over) for the path below /ui."""
        if rest == "/":
            return "smlocal", "", self.jobs_list(), False
        kind, _, name = rest.strip("/").partition("/")
        if not NAME.match(name) or kind not in ("tuning", "training"):
            raise NotFound(f"No dashboard page at {PREFIX}{rest}; start at {PREFIX}/.")
        if kind == "tuning":
            return (f"Tuning job {name}", _nav(), *self.tuning_page(name))
        live, terminal, tuning = self.training_page(name)
        return (f"Training job {name}", _nav(tuning), live, terminal)

    # -- pages ---------------------------------------------------------------------------
    def jobs_list(self) -> str:
        sm = self.client("sagemaker")
        tuning = _pages(sm.list_hyper_parameter_tuning_jobs, "HyperParameterTuningJobSummaries",
                        SortBy="CreationTime", SortOrder="Descending")
        training = _pages(sm.list_training_jobs, "TrainingJobSummaries", SortBy="CreationTime",
                          SortOrder="Descending")
        head = ["tuning job", "status", "strategy", "finished", "of", "running", "counters",
                "created"]
        rows = []
        for s in tuning:
            c, limits = s["TrainingJobStatusCounters"], s.get("ResourceLimits", {})
            name = s["HyperParameterTuningJobName"]
            rows.append([
                (_link("tuning", name), name), _status(s["HyperParameterTuningJobStatus"]),
                (escape(s["Strategy"]), ""), (str(_finished(c)), str(_finished(c))),
                (str(limits.get("MaxNumberOfTrainingJobs", "")), ""),
                (str(c.get("InProgress", 0)), ""),
                (escape(", ".join(f"{k} {v}" for k, v in c.items() if v)), ""),
                (_time(s["CreationTime"]), s["CreationTime"].isoformat())])
        out = ("<section id=\"tuning-jobs\"><h2>Tuning jobs</h2>"
               + (report.table("tuning-jobs-table", head, rows) if rows else
                  "<p>None yet. Submit one with <code>smlocal tune FILE.json</code> or boto3."
                  "</p>") + "</section>")
        own = [s for s in training if not _from_tuning(s["TrainingJobName"], tuning)]
        if own:
            out += ("<section id=\"training-jobs\"><h2>Training jobs run on their own</h2>"
                    + report.table("training-jobs-table", ["training job", "status",
                                                           "created"], [[
                        (_link("training", s["TrainingJobName"]), s["TrainingJobName"]),
                        _status(s["TrainingJobStatus"]),
                        (_time(s["CreationTime"]), s["CreationTime"].isoformat())]
                        for s in own]) + "</section>")
        return out

    def tuning_page(self, name: str) -> tuple[str, bool]:
        data = _missing_as_404(lambda: report.gather(
            self.client("sagemaker"), self.client("cloudwatch"), name,
            self.describe_training_job), f"tuning job {name}")
        d, jobs = data["tuning"], data["jobs"]
        finished = sum(training_is_terminal(s["TrainingJobStatus"]) for s in jobs)
        running = len(jobs) - finished
        limit = d["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
        status = d["HyperParameterTuningJobStatus"]
        head = (f'<p class="progress"><b class="{escape(status)}">{escape(status)}</b>: '
                f'<b id="finished" data-finished="{finished}">{finished}</b> of {limit} '
                f'training jobs finished, <span id="running">{running}</span> running.</p>')
        return (head + report.sections(data, link=lambda job: _href("training", job)),
                tuning_is_terminal(status) and running == 0)

    def training_page(self, name: str) -> tuple[str, bool, str | None]:
        """(live part, over, the tuning job it belongs to)."""
        t = _missing_as_404(lambda: self.client("sagemaker").describe_training_job(
            TrainingJobName=name), f"training job {name}")
        tuning = t["TuningJobArn"].rsplit("/", 1)[-1] if t.get("TuningJobArn") else None
        status = t["TrainingJobStatus"]
        summary = report.dl([
            ("status", f'<b id="status" class="{escape(status)}">{escape(status)}</b> '
                       f'({escape(t.get("SecondaryStatus", ""))})'
                       + (f" — {escape(t['FailureReason'])}" if t.get("FailureReason") else "")),
            ("tuning job", _link("tuning", tuning) if tuning else "none"),
            ("image", f"<code>{escape(t['AlgorithmSpecification'].get('TrainingImage', ''))}"
                      "</code>"),
            ("created / started / ended", " / ".join(
                _time(t[k]) if t.get(k) else "-"
                for k in ("CreationTime", "TrainingStartTime", "TrainingEndTime"))),
            ("final metrics", ", ".join(f"<code>{escape(m['MetricName'])}</code> "
                                        f"{fmt(m['Value'])}"
                                        for m in t.get("FinalMetricDataList", [])) or "-"),
            ("model", f"<code>{escape(t.get('ModelArtifacts', {}).get('S3ModelArtifacts', '-'))}"
                      "</code>"),
            ("hyperparameters", " ".join(f"<code>{escape(k)}={escape(v)}</code>" for k, v in
                                         sorted(t.get("HyperParameters", {}).items())
                                         if not k.startswith("_")) or "-")])
        transitions = report.table("transitions-table", ["status", "started", "ended",
                                                         "message"], [[
            (escape(x["Status"]), ""), (_time(x["StartTime"]), x["StartTime"].isoformat()),
            (_time(x["EndTime"]) if x.get("EndTime") else "-", ""),
            (escape(x.get("StatusMessage", "")), "")]
            for x in t.get("SecondaryStatusTransitions", [])])
        charts = "".join(f"<figure>{svg}</figure>" for svg in self.metric_charts(t))
        lines = LogTail(self.client("logs"), name).last(LOG_LINES)
        text = "\n".join(log_line(e) for e in lines) or "(no log lines yet)"
        live = (f'<section id="summary"><h2>Summary</h2>{summary}</section>'
                f'<section id="transitions"><h2>Status transitions</h2>{transitions}</section>'
                '<section id="metrics"><h2>Metrics</h2><p>From CloudWatch metrics, against '
                f'seconds of training.</p><div class="grid">{charts or "no metrics"}</div>'
                f'</section><section id="log"><h2>Log</h2><p>The last {LOG_LINES} lines '
                f'(<code>smlocal logs {escape(name)}</code> has all).</p>'
                f'<pre class="log" id="log-tail">{escape(text)}</pre></section>')
        return live, training_is_terminal(status), tuning

    def metric_charts(self, t: dict[str, Any]) -> list[str]:
        """One chart per metric the job defines or reported, x in seconds of training."""
        names = [m["Name"] for m in t["AlgorithmSpecification"].get("MetricDefinitions", [])]
        names += [m["MetricName"] for m in t.get("FinalMetricDataList", [])
                  if m["MetricName"] not in names]
        start = t.get("TrainingStartTime") or t["CreationTime"]
        out = []
        for i, metric in enumerate(names):
            points = report.metric_data(self.client("cloudwatch"), [t["TrainingJobName"]],
                                        metric, t["CreationTime"], t.get("TrainingEndTime"))
            pts = [(max(0.0, (when - start).total_seconds()), v)
                   for when, v in points.get(t["TrainingJobName"], [])]
            plot = Plot(f"metric:{metric}", [x for x, _ in pts] or [0],
                        [y for _, y in pts] or [0], x_label="seconds of training",
                        y_label=metric, width=420, height=260)
            colour = PALETTE[i % len(PALETTE)]
            plot.line([x for x, _ in pts], [y for _, y in pts], metric, colour)
            for x, y in pts[-1:]:
                plot.point(x, y, f"{metric} at {x:.0f} s: {fmt(y)}", colour, r=3)
            out.append(plot.svg())
        return out


# -- helpers -----------------------------------------------------------------------------------
def _pages(call: Callable[..., dict], key: str, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = call(MaxResults=100, **kwargs)
        out += page[key]
        if not page.get("NextToken") or not page[key]:
            return out
        kwargs["NextToken"] = page["NextToken"]


def _missing_as_404(call: Callable[[], Any], what: str) -> Any:
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as exc:
        err = exc.response["Error"]
        if err["Code"] == "ResourceNotFound" or (
                err["Code"] == "ValidationException" and "not found" in err["Message"].lower()):
            raise NotFound(f"No {what}: {err['Message']}") from None
        raise


def _from_tuning(job: str, tuning: list[dict[str, Any]]) -> bool:
    """Training jobs a tuning job launched are named `<tuning job>-<3 digits>-<8 hex>`."""
    return any(job.startswith(s["HyperParameterTuningJobName"] + "-") for s in tuning)


def _finished(counters: dict[str, int]) -> int:
    return sum(v for k, v in counters.items() if k != "InProgress")


def _href(kind: str, name: str) -> str:
    return f"{PREFIX}/{kind}/{quote(name)}"


def _link(kind: str, name: str) -> str:
    return f'<a href="{escape(_href(kind, name))}">{escape(name)}</a>'


def _nav(tuning: str | None = None) -> str:
    return (f'<nav><a href="{PREFIX}/">smlocal</a>'
            + (f" › tuning job {_link('tuning', tuning)}" if tuning else "") + "</nav>")


def _status(status: str) -> tuple[str, str]:
    return f'<span class="{escape(status)}">{escape(status)}</span>', status


def _time(when: dt.datetime) -> str:
    return escape(when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


def _shell(title: str, nav: str, live: str, terminal: bool) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<title>{escape(title)} · smlocal</title><link rel="icon" href="data:,">'
            f"<style>{report.STYLE}{STYLE}</style></head><body>{nav}"
            f'<h1>{escape(title)}</h1><p id="updated"></p>'
            f'<div id="live" data-terminal="{"1" if terminal else "0"}">{live}</div>'
            f"<script>{report.SORT_SCRIPT}{LIVE_SCRIPT}</script></body></html>")


_REASONS = {200: "OK", 308: "Permanent Redirect", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 502: "Bad Gateway"}


def _send(start_response: Callable, status: int, html: str,
          headers: Sequence[tuple[str, str]] = ()) -> list[bytes]:
    body = html.encode("utf-8")
    start_response(f"{status} {_REASONS[status]}", [
        ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
        *HEADERS, *headers])
    return [body]
