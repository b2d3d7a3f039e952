"""Checkpoints reach S3 while the job trains, on every engine (spec §5: synced during and after training,
uncompressed, deletions propagate), so a job killed hard still has its latest checkpoints."""

# Fixtures are imported from runner_fixtures; pytest passes them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import threading
from pathlib import Path

from orchestrator.runner import layout
from tests.integration.e2e import wait_for
from tests.integration.runner_fixtures import (  # noqa: F401
    RecordingSink,
    env,
    probe_image,
    s3_server,
)

SYNC_SECONDS = 0.2


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    return wait_for(predicate, timeout, every=0.05, what=what)


def thread_names() -> list[str]:
    return [t.name for t in threading.enumerate()]


def states(env, job: str) -> list[str]:
    return env.states(job)


def checkpoint_dir(env, job: str, host: str = "algo-1") -> Path:
    """The checkpoint folder the running container writes: its host folder, bind-mounted on
    Docker; on Swarm the node folder its service mounts (the lab's nodes share this machine's
    files), which the engine copies back while the task runs."""
    folder = layout.host_dirs(env.work_dir, job, host).checkpoints
    return env.harness.container_folder(env.prefix, job, host, folder)


def test_checkpoints_reach_s3_while_the_container_runs(env) -> None:
    b = env.bucket
    env.s3.put(b, "run/old.txt", b"old")
    backend = env.new_backend(checkpoint_sync_seconds=SYNC_SECONDS)
    spec = env.spec(
        hyperparameters={
            "checkpoint_files": "new.txt,sub/a.txt",
            "delete_checkpoint_files": "old.txt",
            "sleep_seconds": "60",
        },
        checkpoint_s3_uri=f"s3://{b}/run/",
    )
    try:
        backend.launch(spec, env.sink)
        env.sink.wait_line("PROBE_SLEEPING")
        # Written and deleted by the training, seen in S3 before the job ends.
        expected = ["run/new.txt", "run/sub/a.txt"]
        wait_until(lambda: env.s3.keys(b, "run/") == expected, what=f"S3 to hold {expected}")
        assert states(env, spec.name) == ["running"]
        body = env.s3.client.get_object(Bucket=b, Key="run/new.txt")["Body"].read()
        assert body == b"new.txt from algo-1\n"  # uncompressed, as the container wrote it
        # A file removed locally disappears from S3 at the next sync; a new one appears.
        (checkpoint_dir(env, spec.name) / "sub" / "a.txt").unlink()
        (checkpoint_dir(env, spec.name) / "late.txt").write_bytes(b"late")
        expected = ["run/late.txt", "run/new.txt"]
        wait_until(lambda: env.s3.keys(b, "run/") == expected, what=f"S3 to hold {expected}")
        assert states(env, spec.name) == ["running"]
        # The end-of-job sync still sends what changed after the last periodic one.
        (checkpoint_dir(env, spec.name) / "late.txt").unlink()
        (checkpoint_dir(env, spec.name) / "final.txt").write_bytes(b"final")
        backend.stop(spec.name)
        assert env.sink.outcome(spec.name, timeout=30).kind == "stopped"
    finally:
        backend.close()
    assert env.s3.keys(b, "run/") == ["run/final.txt", "run/new.txt"]


def test_jobs_without_checkpoint_config_start_no_sync_thread(env) -> None:
    backend = env.new_backend(checkpoint_sync_seconds=SYNC_SECONDS)
    spec = env.spec(hyperparameters={"checkpoint_files": "c.txt", "sleep_seconds": "60"})
    try:
        backend.launch(spec, env.sink)
        env.sink.wait_line("PROBE_SLEEPING")
        names = thread_names()
        assert f"smlocal-ckpt-{spec.name}" not in names
        assert f"smlocal-{spec.name}" in names
        backend.stop(spec.name)
        assert env.sink.outcome(spec.name, timeout=30).kind == "stopped"
    finally:
        backend.close()


def test_a_recovered_job_resumes_periodic_sync(env) -> None:
    b = env.bucket
    first = env.new_backend(checkpoint_sync_seconds=SYNC_SECONDS)
    spec = env.spec(
        hyperparameters={"checkpoint_files": "before.txt", "sleep_seconds": "60"},
        checkpoint_s3_uri=f"s3://{b}/rec",
    )
    first.launch(spec, env.sink)
    env.sink.wait_line("PROBE_SLEEPING")
    wait_until(lambda: env.s3.keys(b, "rec/") == ["rec/before.txt"], what="first sync")
    offset = max(line.timestamp for line in env.sink.lines)
    first.close()
    thread = f"smlocal-ckpt-{spec.name}"
    wait_until(
        lambda: thread not in thread_names(),
        what="the sync thread to stop on close()",
    )
    # While no server supervises the job, its files change; the new backend catches up.
    (checkpoint_dir(env, spec.name) / "during-restart.txt").write_bytes(b"r")
    second, sink = env.new_backend(checkpoint_sync_seconds=SYNC_SECONDS), RecordingSink()
    try:
        second.recover([spec], sink, {spec.name: offset})
        expected = ["rec/before.txt", "rec/during-restart.txt"]
        wait_until(lambda: env.s3.keys(b, "rec/") == expected, what=f"S3 to hold {expected}")
        assert states(env, spec.name) == ["running"]
        second.stop(spec.name)
        assert sink.outcome(spec.name, timeout=30).kind == "stopped"
    finally:
        second.close()
    assert env.s3.keys(b, "rec/") == ["rec/before.txt", "rec/during-restart.txt"]
