"""The Docker engine restarted while training jobs run (issue 15): `dockerd` is stopped and
started again the way scripts/ensure-docker.sh starts it. Running jobs end as infrastructure
(RetryableError-class) failures with a clear FailureReason, are retried under RetryStrategy,
the server keeps serving and reconnects by itself.

This stops the machine's Docker engine for a few seconds, which breaks Docker work anyone else
runs at the time: it is a file of its own so that it can be run on purpose. A running engine is
always restored, whatever the test's outcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.e2e import wait_for
from tests.integration.faults import (
    BUCKET,
    ServerProcess,
    assert_clean_reason,
    assert_no_leftovers,
    running_container,
    script_job,
    unique,
    wait_training,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# Runs 8 s, then succeeds: an attempt cut by the restart fails, the retry completes. It ends
# on SIGTERM as training code usually does, so the engine's shutdown (SIGTERM, SIGKILL 10 s
# later) does not keep the engine down longer than needed.
SHORT = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
print('READY', flush=True)
time.sleep(8)
print('loss=0.5', flush=True)
"""


def _dockerd_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def _engine_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def _start_engine() -> None:
    """scripts/ensure-docker.sh, in a session of its own so that no test timeout's process
    group kill takes dockerd down with the test."""
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure-docker.sh")], check=True,
                   timeout=120, start_new_session=True)


@pytest.fixture
def engine_restart(docker_client) -> Iterator:
    """A function that stops dockerd, waits until it is gone and starts it again; whatever
    happens, the test ends with an engine that answers."""
    if os.geteuid() != 0 or not _dockerd_pids():
        pytest.skip("needs root and a dockerd started on this machine (scripts/ensure-docker.sh)")

    def restart() -> float:
        started = time.monotonic()
        for pid in _dockerd_pids():
            os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not _dockerd_pids(), 60, 0.1, "dockerd to exit")
        _start_engine()
        return time.monotonic() - started

    try:
        yield restart
    finally:
        if not _engine_answers():
            _start_engine()


def test_engine_restart_mid_job_is_a_retryable_failure_and_the_server_reconnects(
        tmp_path, docker_client, smlocal_image, engine_restart) -> None:
    smlocal_image("python-base")
    state = tmp_path / "state"
    srv = ServerProcess(state)
    try:
        srv.s3.create_bucket(Bucket=BUCKET)
        once, retried = unique("restart-once"), unique("restart-retry")
        srv.sm.create_training_job(**script_job(once, SHORT))
        srv.sm.create_training_job(**script_job(retried, SHORT, retries=2,
                                                metrics=[{"Name": "loss",
                                                          "Regex": r"loss=([0-9.]+)"}]))
        for name in (once, retried):
            container = running_container(docker_client, name)
            wait_for(lambda c=container: "READY" in c.logs().decode(), 30, 0.1, "READY")
        down = engine_restart()
        print(f"dockerd stopped and answering again after {down:.1f} s")

        d = wait_training(srv.sm, once, timeout=120)
        assert d["TrainingJobStatus"] == "Failed"
        reason = d["FailureReason"]
        assert_clean_reason(reason)
        assert reason.startswith("InternalServerError: ") and "outside smlocal" in reason, reason

        d = wait_training(srv.sm, retried, timeout=120)
        assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
        assert d["FinalMetricDataList"][0]["Value"] == 0.5
        assert any("Retrying the training job" in t.get("StatusMessage", "")
                   for t in d["SecondaryStatusTransitions"])

        # The server lived through it and talks to the new engine without being restarted.
        assert srv.alive()
        after = unique("after-restart")
        srv.sm.create_training_job(**script_job(after, "print('loss=0.25')\n"))
        assert wait_training(srv.sm, after, timeout=60)["TrainingJobStatus"] == "Completed"
        for name in (once, retried, after):
            assert_no_leftovers(docker_client, name, state)
        assert "Traceback" not in srv.log(), srv.log()[-3000:]
    finally:
        srv.stop()
