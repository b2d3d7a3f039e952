"""The server's job runner process (`runner.process_backend`, `Settings.job_process`) through
the public API, on the fake engine (no Docker): a runner killed mid-job is replaced and the
job still ends; `smlocal serve` killed with -9 leaves no runner behind, and its restart ends
the job; a stop and MaxRuntimeInSeconds reach the job through it. (On Docker, every test that
starts `smlocal serve` or `SmlocalApp` runs its jobs through it too: it is the default.)"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest

from orchestrator.app import SmlocalApp
from orchestrator.config import Settings
from orchestrator.runner.process_backend import ProcessBackend
from orchestrator.server_process import ServerProcess
from tests.integration.e2e import clients, wait_for
from tests.integration.test_backend_choice import BUCKET, training_request


def describe(sm, name: str) -> dict:
    return sm.describe_training_job(TrainingJobName=name)


def training(sm, name: str) -> bool:
    d = describe(sm, name)
    return d["TrainingJobStatus"] == "InProgress" and d["SecondaryStatus"] == "Training"


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (alive or not yet reaped)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.fixture
def app(tmp_path):
    settings = Settings(state_dir=tmp_path / "state", backend="fake", stop_grace_seconds=1.0,
                        job_process=True)
    started = SmlocalApp(settings=settings, port=0).start()
    clients(started.url)[1].create_bucket(Bucket=BUCKET)
    yield started
    started.stop()


def test_a_killed_job_runner_is_replaced_and_the_job_still_completes(app) -> None:
    assert isinstance(app.backend, ProcessBackend)
    sm, s3 = clients(app.url)
    name = f"runner-{uuid.uuid4().hex[:8]}"
    sm.create_training_job(**training_request(name, sleep_seconds="2", model_files="m.bin",
                                              final_lines="done loss=0.5"))
    wait_for(lambda: training(sm, name), timeout=60, every=0.05, what="training")
    first = app.backend.pid
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: describe(sm, name)["TrainingJobStatus"] == "Completed", timeout=90,
             every=0.1, what=f"{name} to complete after its runner was killed")
    assert app.backend.pid not in (None, first) and not alive(first)
    s3.head_object(Bucket=BUCKET, Key=f"out/{name}/output/model.tar.gz")


def test_stop_and_max_runtime_reach_the_job_through_the_runner(app) -> None:
    sm, _s3 = clients(app.url)
    stopped, timed = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("stop", "max"))
    sm.create_training_job(**training_request(stopped, sleep_seconds="60"))
    request = training_request(timed, sleep_seconds="60")
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = 2
    sm.create_training_job(**request)
    wait_for(lambda: training(sm, stopped), timeout=60, every=0.05, what="training")
    sm.stop_training_job(TrainingJobName=stopped)
    for name, secondary in ((stopped, "Stopped"), (timed, "MaxRuntimeExceeded")):
        wait_for(lambda n=name: describe(sm, n)["TrainingJobStatus"] == "Stopped", timeout=90,
                 every=0.1, what=f"{name} to stop")
        assert describe(sm, name)["SecondaryStatus"] == secondary


def test_serve_killed_with_minus_9_leaves_no_runner_and_its_restart_ends_the_job(
        tmp_path) -> None:
    state = tmp_path / "state"
    server = ServerProcess(state, SMLOCAL_BACKEND="fake", SMLOCAL_JOB_PROCESS="1")
    name = f"kill9-{uuid.uuid4().hex[:8]}"
    try:
        sm, s3 = clients(server.url)
        s3.create_bucket(Bucket=BUCKET)
        sm.create_training_job(**training_request(name, sleep_seconds="3", model_files="m"))
        wait_for(lambda: training(sm, name), timeout=60, every=0.05, what="training")
        runners = children(server.proc.pid)
        assert runners, "no job runner process"
        server.proc.kill()
        server.proc.wait(timeout=10)
        wait_for(lambda: not [pid for pid in runners if alive(pid)], timeout=30, every=0.05,
                 what=f"the runner processes {runners} to exit after their server")
    finally:
        server.stop()
    again = ServerProcess(state, port=int(server.url.rsplit(":", 1)[1]),
                          SMLOCAL_BACKEND="fake", SMLOCAL_JOB_PROCESS="1")
    try:
        wait_for(lambda: describe(sm, name)["TrainingJobStatus"] == "Completed", timeout=90,
                 every=0.1, what=f"{name} to complete after the restart")
        runners = children(again.proc.pid)
        assert runners
    finally:
        again.stop()
    # Stopped (SIGTERM): its runner went with it.
    wait_for(lambda: not [pid for pid in runners if alive(pid)], timeout=30, every=0.05,
             what=f"{runners} to exit with their server")
