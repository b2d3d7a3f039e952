"""Seeing a tuning job (issue 13), on one real tuning job run by `smlocal tune --wait`:

- progress through a pipe is one line per event, no redrawn table;
- `smlocal jobs NAME --csv/--json` equal the SDK v2's `HyperparameterTuningJobAnalytics`
  dataframe for the same job (same columns in the same order, same values);
- `smlocal report NAME -o FILE` writes one self-contained HTML file, which headless Chromium
  (Debian's `chromium` + `chromium-driver`, via Selenium; scripts/ensure-browser.sh installs
  them) opens from disk with no network, every chart drawn and no console error; the
  screenshot goes to docs/report.png (the README's picture) and the test's tmp folder.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.client.demo import demo_request
from tests.integration.browser import chromium
from tests.sdk_v2 import tuning_analytics

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAME = "report-tune"
ROOT = Path(__file__).resolve().parents[2]


def smlocal(url: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.client.cli", "--endpoint", url,
                           *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tuned(server, tmp_path_factory):
    """`smlocal tune --wait` through a pipe (not a terminal) on 6 jobs, 3 in parallel, with
    early stopping on. Returns (app, the finished run)."""
    app, sm, s3, data = server
    req = demo_request(NAME, data, jobs=6, parallel=3)
    config = req["HyperParameterTuningJobConfig"]
    config["TrainingJobEarlyStoppingType"] = "Auto"
    for r in config["ParameterRanges"]["IntegerParameterRanges"]:
        if r["Name"] == "max_iter":
            r.update(MinValue="20", MaxValue="120")
    body = tmp_path_factory.mktemp("req") / "job.json"
    body.write_text(json.dumps(req))
    run = smlocal(app.url, "tune", str(body), "--wait")
    assert run.returncode == 0, run.stdout + run.stderr
    return app, run


def test_tune_wait_through_a_pipe_prints_one_line_per_event(tuned):
    app, run = tuned
    out = run.stdout
    assert "\x1b" not in out and "━" not in out and "│" not in out  # no table, no escapes
    lines = out.splitlines()
    stamped = [line for line in lines if re.match(r"\d\d:\d\d:\d\d ", line)]
    launched = [line for line in stamped if " launched " in line]
    ended = [line for line in stamped if " ended report-tune-" in line]
    assert len(launched) == 6 and len(ended) == 6, out
    assert all("learning_rate=" in line and "max_depth=" in line for line in launched)
    assert all(re.search(r"  (Completed  objective [0-9.]+|Stopped  objective \S+)$", line)
               for line in ended), ended
    assert any(" new best report-tune-" in line for line in stamped)
    assert stamped[-1].endswith(f"tuning job {NAME} ended Completed: all 6 training jobs ran "
                                "(MaxNumberOfTrainingJobs)"), stamped[-1]
    for job in (line.split()[2] for line in launched):  # each launch before its end
        assert lines.index(next(x for x in launched if f" {job} " in x)) < lines.index(
            next(x for x in ended if f" {job} " in x))
    assert f"report: smlocal report {NAME} -o {NAME}.html" in lines[-1]


def test_exports_equal_the_sdk_analytics_dataframe(tuned):
    app, _ = tuned
    import pandas as pd

    sdk = tuning_analytics(app.url, NAME, "smlocal-demo")
    assert len(sdk) == 6

    csv_run, json_run = smlocal(app.url, "jobs", NAME, "--csv"), smlocal(app.url, "jobs", NAME,
                                                                         "--json")
    assert csv_run.returncode == 0 and json_run.returncode == 0, csv_run.stderr + json_run.stderr
    for frame in (pd.read_csv(io.StringIO(csv_run.stdout)),
                  pd.DataFrame(json.loads(json_run.stdout))):
        assert list(frame.columns) == list(sdk.columns)
        assert list(sdk.columns)[-6:] == [
            "TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue", "TrainingStartTime",
            "TrainingEndTime", "TrainingElapsedTimeSeconds"]
        assert len(frame) == len(sdk)
        for column in sdk.columns:
            ours, theirs = frame[column].tolist(), sdk[column].tolist()
            if column.endswith("Time"):
                ours = pd.to_datetime(pd.Series(ours), utc=True).tolist()
                theirs = pd.to_datetime(pd.Series(theirs), utc=True).tolist()
                assert ours == theirs, column
            elif isinstance(theirs[0], float):
                assert all(math.isclose(a, b, rel_tol=1e-12) or (math.isnan(a) and math.isnan(b))
                           for a, b in zip(ours, theirs, strict=True)), column
            else:
                assert ours == theirs, column

    missing = smlocal(app.url, "jobs", "no-such-job", "--csv")
    assert missing.returncode == 2 and "ResourceNotFound" in missing.stderr


@pytest.fixture(scope="module")
def report_file(tuned, tmp_path_factory) -> Path:
    app, _ = tuned
    path = tmp_path_factory.mktemp("report") / "report.html"
    run = smlocal(app.url, "report", NAME, "-o", str(path))
    assert run.returncode == 0, run.stderr
    assert f"report written to {path}" in run.stdout
    return path


def test_the_report_is_one_self_contained_file(report_file):
    html = report_file.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched
    assert "<link" not in html and "@import" not in html
    for section in ("summary", "objective", "hyperparameters", "parallel", "timeline",
                    "early-stopping", "curves", "jobs"):
        assert f'<section id="{section}">' in html, section
    assert html.count("<tr>") >= 7  # the jobs table: a header and six jobs
    assert "TrainingJobEarlyStoppingType=Auto" in html
    assert "s3://smlocal-demo/gbm/output/" in html  # the best job's model


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium via Selenium, every host name unresolvable (no network)."""
    yield from chromium()


def test_chromium_renders_every_chart_of_the_report_offline(report_file, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(report_file.as_uri())
    charts = {svg.get_attribute("data-chart"): svg
              for svg in browser.find_elements(By.CSS_SELECTOR, "svg.chart")}
    hyperparameters = [c for c in charts if c.startswith("hyperparameter:")]
    assert sorted(hyperparameters) == [f"hyperparameter:{n}" for n in sorted(
        ["learning_rate", "l2_regularization", "max_depth", "max_iter", "min_samples_leaf"])]
    for chart, svg in charts.items():
        marks = svg.find_elements(By.CSS_SELECTOR, ".mark")
        box = svg.rect
        assert marks and box["width"] > 100 and box["height"] > 100, chart
        assert any(m.rect["width"] > 0 or m.rect["height"] > 0 for m in marks), chart
    assert {"objective", "parallel", "timeline", "curves"} <= set(charts)
    assert len(charts["objective"].find_elements(By.CSS_SELECTOR, "circle.mark")) == 6 - len(
        [r for r in browser.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr")
         if "Stopped" in r.text and r.find_elements(By.CSS_SELECTOR, "td")[3].text == "-"])
    assert len(charts["timeline"].find_elements(By.CSS_SELECTOR, "rect.bar")) == 6
    assert charts["curves"].find_elements(By.CSS_SELECTOR, "path.line")

    # The table sorts by a click on the objective column (inline script, no library).
    table = browser.find_element(By.ID, "jobs-table")
    table.find_elements(By.TAG_NAME, "th")[3].click()
    values = [r.find_elements(By.TAG_NAME, "td")[3].text
              for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    numbers = [float(v) for v in values if v != "-"]
    assert numbers == sorted(numbers), values

    assert browser.execute_script(
        "return performance.getEntriesByType('resource').length") == 0  # fetched nothing
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 200, 6000))  # + the window's own frame
    browser.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copyfile(shot, ROOT / "docs" / "report.png")
