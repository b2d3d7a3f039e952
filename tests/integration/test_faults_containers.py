"""Faults of training containers (issue 15): killed or removed from outside smlocal, and hostile
containers (a flood of logs, endless lines, forked children, 100,000 model files), against a
real server process on real Docker. Each test checks what the service reports and that nothing
is left behind (containers, host folders) or lost (metrics, artifacts)."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import tarfile
import time
from collections.abc import Iterator

import pytest

from orchestrator.client.demo import upload_example_data
from tests.integration import faults
from tests.integration.e2e import wait_for
from tests.integration.test_tuning_e2e import epoch_request, training_jobs, wait_terminal

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SLEEPER = "import time\nprint('READY', flush=True)\ntime.sleep(300)\n"


@pytest.fixture(scope="module")
def srv(tmp_path_factory, docker_client, smlocal_image) -> Iterator[faults.ServerProcess]:
    smlocal_image("python-base")
    state = tmp_path_factory.mktemp("faults") / "state"
    server = faults.ServerProcess(state)
    server.state_dir = state
    server.s3.create_bucket(Bucket=faults.BUCKET)
    yield server
    server.stop()


def _wait_ready(srv: faults.ServerProcess, docker_client, name: str):
    container = faults.running_container(docker_client, name)
    wait_for(lambda: "READY" in container.logs().decode(), 30, 0.1, "READY")
    return container


# ---- killed or removed from outside ----------------------------------------------------------

def test_container_killed_from_outside_fails_the_job_saying_so(srv, docker_client) -> None:
    name = faults.unique("killed")
    srv.sm.create_training_job(**faults.script_job(name, SLEEPER))
    _wait_ready(srv, docker_client, name).kill()  # docker kill: SIGKILL, not from smlocal
    d = faults.wait_training(srv.sm, name, timeout=60)
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    faults.assert_clean_reason(reason)
    assert "killed from outside smlocal" in reason and "137" in reason, reason
    assert srv.alive()
    faults.assert_no_leftovers(docker_client, name, srv.state_dir)


def test_container_removed_from_outside_fails_the_job_saying_so(srv, docker_client) -> None:
    name = faults.unique("removed")
    srv.sm.create_training_job(**faults.script_job(name, SLEEPER))
    _wait_ready(srv, docker_client, name).remove(force=True)  # docker rm -f
    d = faults.wait_training(srv.sm, name, timeout=60)
    assert d["TrainingJobStatus"] == "Failed"
    reason = d["FailureReason"]
    faults.assert_clean_reason(reason)
    # rm -f kills first: whichever the supervisor saw first (the exit or the removal) is said
    assert ("removed from outside smlocal" in reason
            or "killed from outside smlocal" in reason and "docker rm -f" in reason), reason
    assert srv.alive()
    faults.assert_no_leftovers(docker_client, name, srv.state_dir)


def test_killed_container_is_retried_under_retry_strategy(srv, docker_client) -> None:
    name = faults.unique("killed-retry")
    srv.sm.create_training_job(**faults.script_job(name, SLEEPER, retries=1))
    first = _wait_ready(srv, docker_client, name)
    first.kill()
    wait_for(lambda: [c for c in faults.job_containers(docker_client, name)
                      if c.id != first.id and c.status == "running"], 60, 0.2, "the retry")
    d = srv.sm.describe_training_job(TrainingJobName=name)
    assert d["TrainingJobStatus"] == "InProgress"
    assert any("retry 1 of 1" in t.get("StatusMessage", "")
               for t in d["SecondaryStatusTransitions"]), d["SecondaryStatusTransitions"]
    srv.sm.stop_training_job(TrainingJobName=name)
    assert faults.wait_training(srv.sm, name, timeout=60)["TrainingJobStatus"] == "Stopped"
    faults.assert_no_leftovers(docker_client, name, srv.state_dir)


def test_killed_container_in_a_tuning_job_frees_its_slot(srv, docker_client) -> None:
    name = faults.unique("tk")
    data = upload_example_data(srv.s3)
    req = epoch_request(name, data, jobs=3, parallel=1, strategy="Random", epochs=4, sleep=0.5)
    srv.sm.create_hyper_parameter_tuning_job(**copy.deepcopy(req))
    first = f"{name}-001-"
    victim = wait_for(lambda: next((c for c in docker_client.containers.list(ignore_removed=True, filters={
        "label": f"smlocal.tuning-job={name}"})), None), 60, 0.1, "the first container")
    assert victim.labels["smlocal.job"].startswith(first)
    victim.kill()
    d = wait_terminal(srv.sm, name, timeout=180)
    jobs = {j["TrainingJobName"]: j for j in training_jobs(srv.sm, name)}
    assert len(jobs) == 3, sorted(jobs)
    killed = jobs[victim.labels["smlocal.job"]]
    assert killed["TrainingJobStatus"] == "Failed"
    assert "killed from outside smlocal" in killed["FailureReason"]
    assert sum(j["TrainingJobStatus"] == "Completed" for j in jobs.values()) == 2
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"]["RetryableError"] == 1
    assert not docker_client.containers.list(ignore_removed=True, all=True, filters={
        "label": f"smlocal.tuning-job={name}"})


# ---- hostile containers ------------------------------------------------------------------------

METRIC = [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}]
FLOOD = """
import sys
line = b"x" * 1023 + b"\\n"
out = sys.stdout.buffer
for i in range(200 * 1024):  # 200 MiB in 1 KiB lines, as fast as the container can
    out.write(line)
    if i % 20000 == 0:
        out.write(b"loss=%d.5\\n" % (i // 20000))
out.write(b"loss=0.25\\n")
out.flush()
"""


def test_a_flood_of_logs_keeps_server_memory_bounded_and_the_log_capped(srv,
                                                                         docker_client) -> None:
    name = faults.unique("flood")
    before = srv.rss()
    srv.sm.create_training_job(**faults.script_job(name, FLOOD, metrics=METRIC))
    peak, started = before, time.monotonic()
    while srv.sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress":
        peak = max(peak, srv.rss())
        assert time.monotonic() - started < 240, "the flood did not end"
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    d = faults.wait_training(srv.sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    # Every metric line, the last one included, was parsed although the log was capped.
    assert {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]} == {"loss": 0.25}
    metrics = srv.sm.describe_training_job(TrainingJobName=name)
    assert metrics["TrainingJobStatus"] == "Completed"
    log_file = srv.state_dir / "logs" / f"{name}.events.jsonl"
    size = log_file.stat().st_size
    cap = 64 * 1024 * 1024  # Settings.max_log_bytes' default
    assert cap <= size < cap + 2 * 1024 * 1024, size
    with open(log_file, "rb") as f:
        f.seek(size - 4096)
        tail = f.read().decode()
    assert "log truncated: this job printed more than" in tail.splitlines()[-1]
    growth = peak - before
    print(f"flood: 200 MiB of log in {elapsed:.1f} s; server RSS {before / 2**20:.0f} MiB "
          f"before, peak {peak / 2**20:.0f} MiB (+{growth / 2**20:.0f} MiB), stored log "
          f"{size / 2**20:.1f} MiB")
    assert growth < 100 * 1024 * 1024, f"server RSS grew by {growth / 2**20:.0f} MiB"
    assert srv.alive()
    faults.assert_no_leftovers(docker_client, name, srv.state_dir)


LONG_LINES = """
import sys
out = sys.stdout.buffer
for n in range(3):
    out.write(b"y" * (10 * 1024 * 1024))  # 10 MiB, no newline
    out.flush()
out.write(b"\\nloss=0.5\\n")
out.flush()
"""


def test_ten_megabyte_lines_without_newline(srv, docker_client) -> None:
    name = faults.unique("longline")
    srv.sm.create_training_job(**faults.script_job(name, LONG_LINES, metrics=METRIC))
    d = faults.wait_training(srv.sm, name, timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["FinalMetricDataList"][0]["Value"] == 0.5
    texts = [text for _ms, _host, text in _stored_log(srv, name)]
    assert sum(len(t) for t in texts if set(t) == {"y"}) == 30 * 1024 * 1024  # nothing lost
    assert max(len(t) for t in texts) <= 256 * 1024  # split at CloudWatch's event size
    assert "loss=0.5" in texts
    faults.assert_no_leftovers(docker_client, name, srv.state_dir)


FORKER = """
import subprocess
for _ in range(3):  # detached children that would run for hours
    subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
print("FORKED", flush=True)
"""


def test_children_of_an_exited_container_do_not_outlive_it(srv, docker_client) -> None:
    name = faults.unique("forker")
    marker = f"{31000 + int(name[-4:], 16) % 1000}.{int(name[-8:-4], 16)}"  # a faults.unique sleep
    srv.sm.create_training_job(**faults.script_job(name, FORKER.replace("{marker}", marker)))
    d = faults.wait_training(srv.sm, name, timeout=60)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    faults.assert_no_leftovers(docker_client, name, srv.state_dir)

    def sleepers() -> list[str]:
        out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        return [line for line in out.splitlines() if f"sleep {marker}" in line]

    assert wait_for(lambda: not sleepers(), 10, 0.2, "the children to be gone") is True


MANY_FILES = """
import os
for i in range(100_000):
    with open(f"/opt/ml/model/d{i // 1000:03d}/{i}.txt", "w") as f:
        f.write(str(i))
print("WROTE", flush=True)
"""


def test_a_model_folder_with_100000_files_is_uploaded(srv, docker_client) -> None:
    name = faults.unique("manyfiles")
    script = ("import os\nfor d in range(100):\n    os.makedirs(f'/opt/ml/model/d{d:03d}')\n"
              + MANY_FILES)
    started = time.monotonic()
    srv.sm.create_training_job(**faults.script_job(name, script))
    d = faults.wait_training(srv.sm, name, timeout=300)
    elapsed = time.monotonic() - started
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    body = srv.s3.get_object(Bucket=faults.BUCKET, Key=f"out/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        files = [m for m in tar.getmembers() if m.isfile()]
    assert len(files) == 100_000
    upload = _phase_seconds(d, "Uploading")
    print(f"100,000 model files: job {elapsed:.1f} s, Uploading {upload:.1f} s, "
          f"model.tar.gz {len(body) / 2**20:.1f} MiB")
    faults.assert_no_leftovers(docker_client, name, srv.state_dir)


def _stored_log(srv: faults.ServerProcess, name: str) -> list[list]:
    path = srv.state_dir / "logs" / f"{name}.events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _phase_seconds(d: dict, status: str) -> float:
    entry = next(t for t in d["SecondaryStatusTransitions"] if t["Status"] == status)
    return (entry["EndTime"] - entry["StartTime"]).total_seconds()
