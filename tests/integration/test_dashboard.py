"""The live dashboard under /ui/ (issue 13 item 2).

Fast (fake backend, no Docker): pages, 404s, the Host check, and that the dashboard takes
nothing from the API's routing (a signed S3 bucket named `ui`, non-GET requests under /ui/).

Slow (Docker + headless Chromium, as tests/integration/test_report.py): while a real tuning job
of 6 gbm training jobs, 2 in parallel, runs, the tuning job page (never reloaded) shows the
number of finished jobs grow; every chart is drawn; a training job page shows its status, its
transitions, a metric curve and log lines; the browser fetched nothing but the server; the
screenshot goes to docs/dashboard.png with SMLOCAL_UPDATE_DOCS=1.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from orchestrator.api.server import is_ui_request
from orchestrator.client.demo import demo_request
from tests.fake_backed import running_app, step_until
from tests.integration.browser import chromium
from tests.integration.e2e import wait_for

ROOT = Path(__file__).resolve().parents[2]
NAME = "dash-tune"


def get(url: str, **headers: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


# -- fast: the fake backend --------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("state")) as app:
        yield app


def test_pages_answer_and_unknown_names_are_404(fake):
    status, headers, html = get(fake.url + "/ui/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert 'id="live"' in html and "Tuning jobs" in html and "None yet" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    status, headers, fragment = get(fake.url + "/ui/?fragment=1")
    assert status == 200 and "<html" not in fragment and headers["X-Smlocal-Terminal"] == "0"
    assert get(fake.url + "/ui")[0] == 200  # redirected to /ui/
    for path in ("/ui/tuning/nope", "/ui/training/nope", "/ui/other/x", "/ui/tuning/a..b"):
        assert get(fake.url + path)[0] == 404, path


def test_a_foreign_host_name_is_refused(fake):
    """DNS rebinding: a page served as evil.example that resolves to 127.0.0.1 gets nothing."""
    assert get(fake.url + "/ui/", Host="evil.example")[0] == 403
    port = fake.url.rsplit(":", 1)[1]
    assert get(fake.url + "/ui/", Host=f"localhost:{port}")[0] == 200


def test_api_routing_is_unchanged(fake):
    """Signed and presigned requests under /ui/ are S3's; non-GET under /ui/ never reaches the
    dashboard; SageMaker calls work as before."""
    kw = dict(endpoint_url=fake.url, region_name="us-east-1", aws_access_key_id="x",
              aws_secret_access_key="x")
    s3 = boto3.client("s3", **kw)
    # "ui" is too short to be a bucket name, so path-style S3 never uses /ui/; S3 says so.
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket="ui")
    assert err.value.response["Error"]["Code"] in ("InvalidBucketName", "NoSuchBucket")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "ui", "Key": "tuning/x"})
    status, headers, body = get(url)  # presigned: routed as S3
    assert status >= 400 and "<Error>" in body and "text/html" not in headers["Content-Type"]
    s3.create_bucket(Bucket="dash")
    s3.put_object(Bucket="dash", Key="ui/tuning/x", Body=b"data")
    assert s3.get_object(Bucket="dash", Key="ui/tuning/x")["Body"].read() == b"data"
    assert boto3.client("sagemaker", **kw).list_hyper_parameter_tuning_jobs()[
        "HyperParameterTuningJobSummaries"] == []
    request = urllib.request.Request(fake.url + "/ui/", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert "text/html" not in err.value.headers.get("Content-Type", "")


def test_pages_of_a_tuning_job_and_its_training_jobs(fake):
    """Fake backend: jobs print nothing and end when stepped; the pages say what state is in,
    and the header tells the page script when to stop."""
    kw = dict(endpoint_url=fake.url, region_name="us-east-1", aws_access_key_id="x",
              aws_secret_access_key="x")
    sm = boto3.client("sagemaker", **kw)
    sm.create_hyper_parameter_tuning_job(**demo_request("fake-tune", "s3://b/data", jobs=2,
                                                        parallel=2))
    jobs = wait_for(lambda: len(names := [s["TrainingJobName"] for s in
                                          sm.list_training_jobs_for_hyper_parameter_tuning_job(
                                              HyperParameterTuningJobName="fake-tune")[
                                              "TrainingJobSummaries"]]) == 2 and names)
    status, headers, html = get(fake.url + "/ui/tuning/fake-tune?fragment=1")
    assert status == 200 and headers["X-Smlocal-Terminal"] == "0"
    assert 'data-finished="0"' in html and all(f'href="/ui/training/{j}"' in html for j in jobs)
    status, headers, html = get(f"{fake.url}/ui/training/{jobs[0]}")
    assert status == 200 and headers["X-Smlocal-Terminal"] == "0" and "InProgress" in html
    assert 'href="/ui/tuning/fake-tune"' in html and "(no log lines yet)" in html
    assert 'href="/ui/tuning/fake-tune"' in get(fake.url + "/ui/")[2]

    step_until(fake, lambda: sm.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="fake-tune")["HyperParameterTuningJobStatus"] == "Completed",
        "the tuning job's end")
    status, headers, html = get(fake.url + "/ui/tuning/fake-tune?fragment=1")
    assert headers["X-Smlocal-Terminal"] == "1" and 'data-finished="2"' in html
    assert get(f"{fake.url}/ui/training/{jobs[1]}")[1]["X-Smlocal-Terminal"] == "1"
    head = urllib.request.Request(fake.url + "/ui/", method="HEAD")
    with urllib.request.urlopen(head) as r:
        assert r.status == 200 and r.read() == b""


def test_is_ui_request() -> None:
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/ui/"}
    assert is_ui_request(base) and is_ui_request({**base, "PATH_INFO": "/ui"})
    assert is_ui_request({**base, "REQUEST_METHOD": "HEAD"})
    for other in ({"REQUEST_METHOD": "PUT"}, {"REQUEST_METHOD": "POST"}, {"PATH_INFO": "/uix"},
                  {"PATH_INFO": "/"}, {"HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 ..."},
                  {"HTTP_X_AMZ_TARGET": "SageMaker.ListTrainingJobs"},
                  {"QUERY_STRING": "X-Amz-Signature=abc"}, {"QUERY_STRING": "Signature=abc"}):
        assert not is_ui_request({**base, **other}), other


# -- slow: a real tuning job in a real browser ---------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    """Headless Chromium that resolves no host name but reaches the server at 127.0.0.1."""
    yield from chromium("127.0.0.1")


@pytest.mark.docker
@pytest.mark.slow
def test_the_dashboard_follows_a_running_tuning_job(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    app, sm, _, data = server
    sm.create_hyper_parameter_tuning_job(**demo_request(NAME, data, jobs=6, parallel=2))

    browser.get(app.url + "/ui/")
    link = browser.find_element(By.LINK_TEXT, NAME)
    assert "InProgress" in browser.find_element(By.ID, "tuning-jobs-table").text
    link.click()
    assert browser.current_url == f"{app.url}/ui/tuning/{NAME}"

    # The page is never reloaded: its script swaps in what the server renders now.
    seen: list[int] = []
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        finished, terminal = browser.execute_script(  # at once: the part is swapped in whole
            "return [Number(document.getElementById('finished').dataset.finished),"
            " document.getElementById('live').dataset.terminal]")
        if not seen or finished != seen[-1]:
            seen.append(finished)
        if terminal == "1":
            break
        time.sleep(0.5)
    assert seen[-1] == 6 and seen == sorted(seen) and len(seen) >= 3, seen
    assert browser.find_element(By.ID, "updated").text.startswith("updated ")
    assert browser.execute_script("return performance.getEntriesByType('navigation')"
                                  ".length") == 1  # still the page first loaded
    assert "Completed" in browser.find_element(By.CSS_SELECTOR, ".progress").text

    charts = {svg.get_attribute("data-chart"): svg
              for svg in browser.find_elements(By.CSS_SELECTOR, "svg.chart")}
    assert {"objective", "parallel", "timeline", "curves"} <= set(charts)
    assert len([c for c in charts if c.startswith("hyperparameter:")]) == 5
    for chart, svg in charts.items():
        _drawn(svg, chart)
    assert len(charts["timeline"].find_elements(By.CSS_SELECTOR, "rect.bar")) == 6
    rows = browser.find_elements(By.CSS_SELECTOR, "#jobs-table tbody tr")
    assert len(rows) == 6
    _screenshot(browser, tmp_path, "dashboard.png")

    # A training job page, reached through the jobs table.
    job = rows[0].find_element(By.TAG_NAME, "a")
    job_name = job.text
    job.click()
    assert browser.current_url == f"{app.url}/ui/training/{job_name}"
    assert browser.find_element(By.ID, "status").text in ("Completed", "Stopped")
    assert browser.find_element(By.ID, "live").get_attribute("data-terminal") == "1"
    transitions = browser.find_element(By.ID, "transitions-table").text
    assert "Starting" in transitions and "Training" in transitions
    curves = {svg.get_attribute("data-chart"): svg
              for svg in browser.find_elements(By.CSS_SELECTOR, "svg.chart")}
    assert "metric:validation:logloss" in curves
    for chart, svg in curves.items():
        _drawn(svg, chart)
    assert len(curves["metric:validation:logloss"].find_elements(By.CSS_SELECTOR,
                                                                 "path.line")) == 1
    log_text = browser.find_element(By.ID, "log-tail").text
    # header, one line per `eval_every` (10) rounds, the final line: a job that drew
    # max_iter = 10 (the range's low end) logs 3 lines (CI, sixth session of issue 14)
    lines = log_text.splitlines()
    assert any(line.startswith("train: ") for line in lines) and "validation:logloss=" in log_text
    assert any(line.startswith("[iter ") for line in lines) and len(lines) >= 3
    assert browser.find_element(By.LINK_TEXT, NAME)  # back to the tuning job
    _screenshot(browser, tmp_path, "dashboard-training.png")

    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert all(r.startswith(app.url + "/ui/") for r in resources), resources
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def _drawn(svg, chart: str) -> None:
    from selenium.webdriver.common.by import By

    marks = svg.find_elements(By.CSS_SELECTOR, ".mark")
    box = svg.rect
    assert marks and box["width"] > 100 and box["height"] > 100, chart
    assert any(m.rect["width"] > 0 or m.rect["height"] > 0 for m in marks), chart


def _screenshot(driver, tmp_path: Path, name: str, keep: bool = True) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 200, 6000))
    driver.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / name
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
    driver.set_window_size(1280, 900)
    if keep and os.environ.get("SMLOCAL_UPDATE_DOCS") == "1":  # a test run leaves the tree clean
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / name)
