"""Restart safety, on every engine: a new backend re-adopts jobs whose containers outlived the
old one."""

# Fixtures are imported from runner_fixtures; pytest passes them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import dataclasses
import json

from orchestrator.runner.base import JobOutcome
from tests.integration.e2e import wait_for
from tests.integration.runner_fixtures import (  # noqa: F401
    RecordingSink,
    env,
    probe_image,
    s3_server,
)


def container_state(env, job: str) -> list[str]:
    return env.states(job)


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    return wait_for(predicate, timeout, every=0.05, what=what)


def start_then_close(env, spec) -> float:
    """Launch, wait until the probe sleeps, close the backend; returns the log offset."""
    env.backend.launch(spec, env.sink)
    env.sink.wait_line("PROBE_SLEEPING")
    offset = max(line.timestamp for line in env.sink.lines)
    env.backend.close()
    return offset


def test_a_running_job_is_reattached_and_finished(env) -> None:
    spec = env.spec(
        hyperparameters={
            "sleep_seconds": "2",
            "final_lines": "after-restart",
            "model_files": "m.bin",
            "metrics": "loss=0.9",
        }
    )
    offset = start_then_close(env, spec)
    assert container_state(env, spec.name) == ["running"]  # close() did not kill it
    first_start = env.sink.outcomes.get(spec.name)
    assert first_start is None and env.sink.finished_calls == []

    backend, sink = env.new_backend(), RecordingSink()
    try:
        backend.recover([spec], sink, {spec.name: offset})
        outcome = sink.outcome(spec.name)
    finally:
        backend.close()
    assert outcome.kind == "completed" and outcome.model_uploaded, outcome
    # "Training" again (the server may have died before storing it; the controller ignores
    # a repeat), then the end as for any job.
    assert [st for job, st, _ in sink.statuses if job == spec.name][:1] == ["Training"]
    texts = sink.texts()
    assert texts[-2:] == ["after-restart", "PROBE_END exit_code=0"]
    assert "PROBE_SLEEPING" not in texts and "loss=0.9;" not in texts  # nothing twice
    assert set(env.s3.tar_members(env.bucket, env.model_key(spec))) == {"m.bin"}
    assert outcome.training_end - outcome.training_start >= 2
    assert env.sink.finished_calls == []  # the old backend reported nothing after close()
    env.wait_cleaned(spec.name, backend)
    # The job's whole log, old backend then new: every line once, none lost at the end.
    log = env.sink.job_lines(spec.name) + sink.job_lines(spec.name)
    texts = [ln.text for ln in log]
    assert texts.count("PROBE_SLEEPING") == 1 and texts[-1] == "PROBE_END exit_code=0"
    assert len(set(log)) == len(log), "a line was received twice"


def test_a_job_that_ended_while_we_were_down_is_finished_from_its_exit(env) -> None:
    spec = env.spec(
        hyperparameters={
            "sleep_seconds": "0.5",
            "exit_code": "4",
            "failure_message": "boom",
            "final_lines": "late",
        }
    )
    offset = start_then_close(env, spec)
    wait_until(lambda: container_state(env, spec.name) == ["exited"], what="exit")
    backend, sink = env.new_backend(), RecordingSink()
    try:
        backend.recover([spec], sink, {spec.name: offset})
        outcome = sink.outcome(spec.name)
    finally:
        backend.close()
    assert (outcome.kind, outcome.exit_code, outcome.failure_reason) == ("failed", 4, "boom")
    assert sink.texts() == ["late", "PROBE_END exit_code=4"]
    env.wait_cleaned(spec.name, backend)


def test_max_runtime_counts_from_the_container_start_across_a_restart(env) -> None:
    spec = env.spec(
        hyperparameters={"sleep_seconds": "60", "model_files": "m"}, max_runtime_seconds=2
    )
    offset = start_then_close(env, spec)
    backend, sink = env.new_backend(), RecordingSink()
    try:
        backend.recover([spec], sink, {spec.name: offset})
        outcome = sink.outcome(spec.name, timeout=30)
    finally:
        backend.close()
    assert outcome.kind == "max_runtime" and outcome.model_uploaded
    assert outcome.training_end - outcome.training_start < 15


def test_a_stop_in_progress_survives_a_restart(env) -> None:
    spec = env.spec(hyperparameters={"sleep_seconds": "60", "ignore_sigterm_seconds": "60"})
    env.backend.launch(spec, env.sink)
    env.sink.wait_line("PROBE_SLEEPING")
    env.backend.stop(spec.name)
    env.sink.wait_line("PROBE_SIGTERM")
    offset = max(line.timestamp for line in env.sink.lines)
    env.backend.close()  # before the grace period ends
    backend, sink = env.new_backend(), RecordingSink()
    try:
        backend.recover([spec], sink, {spec.name: offset})
        outcome = sink.outcome(spec.name, timeout=30)
    finally:
        backend.close()
    assert outcome.kind == "stopped"


def test_a_job_with_nothing_left_is_launched_again(env) -> None:
    spec = env.spec(hyperparameters={"final_lines": "ran"})
    env.backend.recover([spec], env.sink, {})
    assert env.sink.outcome(spec.name).kind == "completed"
    assert env.sink.status_list(spec.name) == ["Starting", "Training", "Uploading"]
    assert "ran" in env.sink.texts()


def test_containers_created_but_never_started_are_replaced(env) -> None:
    spec = env.spec(hyperparameters={"final_lines": "fresh"})
    labels = {
        f"{env.prefix}.job": spec.name,
        f"{env.prefix}.host": "algo-1",
        f"{env.prefix}.state": str(env.work_dir.resolve()),
    }
    stale = env.bare_container(labels)
    env.backend.recover([spec], env.sink, {})
    assert env.sink.outcome(spec.name).kind == "completed"
    assert "fresh" in env.sink.texts()
    assert stale not in [c.id for c in env.engine.list_containers(f"{env.prefix}.job")]


def test_an_outcome_computed_before_a_crash_is_delivered(env) -> None:
    spec = env.spec()
    saved = JobOutcome(
        "completed", exit_code=0, model_uploaded=True, training_start=100.0, training_end=110.0
    )
    job_dir = env.work_dir / spec.name
    job_dir.mkdir(parents=True)
    (job_dir / "outcome.json").write_text(json.dumps(dataclasses.asdict(saved)))
    env.backend.recover([spec], env.sink, {})
    assert env.sink.outcome(spec.name) == saved
    assert env.sink.status_list(spec.name) == []  # nothing ran again


def test_exited_leftovers_of_finished_jobs_are_removed(env) -> None:
    labels = {
        f"{env.prefix}.job": "old-job",
        f"{env.prefix}.host": "algo-1",
        f"{env.prefix}.state": str(env.work_dir.resolve()),
    }
    leftover = env.bare_container(labels, command=["true"])
    env.engine.start(leftover)
    wait_until(lambda: env.states("old-job") == ["exited"])
    (env.work_dir / "old-job" / "hosts" / "algo-1").mkdir(parents=True)
    env.backend.recover([], env.sink, {})
    assert leftover not in [c.id for c in env.engine.list_containers(f"{env.prefix}.job")]
    assert not (env.work_dir / "old-job" / "hosts").exists()
