"""How training jobs end, on every engine: exit codes, failure files, OOM, timeouts, stops,
retries (spec §3.1 R1–R4, R7)."""

# Fixtures are imported from runner_fixtures; pytest passes them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import os
import time

import pytest

from orchestrator.runner.base import Channel
from orchestrator.runner.resources import GIB, HostCapacity
from tests.integration.runner_fixtures import (  # noqa: F401
    GRACE,
    RecordingSink,
    env,
    probe_image,
    s3_server,
)


def test_failure_file_becomes_the_failure_reason(env) -> None:
    spec = env.spec(
        hyperparameters={"exit_code": "3", "failure_message": "Bad input: " + "x" * 2000}
    )
    outcome = env.run(spec)
    assert outcome.kind == "failed" and outcome.exit_code == 3
    assert outcome.failure_reason == ("Bad input: " + "x" * 2000)[:1024]
    assert not outcome.oom_killed
    # Nothing was written, so nothing is uploaded for a failed job.
    assert not outcome.model_uploaded
    assert env.s3.keys(env.bucket, f"out/{spec.name}/") == []
    assert env.sink.status_list(spec.name) == ["Starting", "Training"]
    env.wait_cleaned(spec.name)


def test_exit_code_without_failure_file(env) -> None:
    outcome = env.run(env.spec(hyperparameters={"exit_code": "2"}))
    assert (outcome.kind, outcome.exit_code, outcome.failure_reason) == ("failed", 2, None)


def test_failed_job_uploads_what_it_wrote(env) -> None:
    spec = env.spec(hyperparameters={"exit_code": "1", "model_files": "partial.bin"})
    outcome = env.run(spec)
    assert outcome.kind == "failed" and outcome.model_uploaded
    assert env.s3.keys(env.bucket, f"out/{spec.name}/") == [env.model_key(spec)]


def test_out_of_memory_is_reported(env) -> None:
    small = env.new_backend(host_capacity=HostCapacity(cpus=2, memory_bytes=GIB // 4))
    try:
        spec = env.spec(hyperparameters={"allocate_mb": "600"})
        small.launch(spec, env.sink)
        outcome = env.sink.outcome(spec.name)
    finally:
        small.close()
    assert outcome.kind == "failed" and outcome.oom_killed, outcome
    assert outcome.exit_code == 137
    assert "PROBE_ALLOCATED" not in " ".join(env.sink.texts())
    # The cap is explained in the job's log, as a note of the backend's own.
    assert any(n.startswith("ml.m5.large has 8 GiB of memory") for n in env.sink.notes(spec.name))


def test_max_runtime_stops_the_job_and_uploads_the_model(env) -> None:
    spec = env.spec(
        hyperparameters={"model_files": "early.bin", "sleep_seconds": "60"},
        max_runtime_seconds=1,
    )
    outcome = env.run(spec, timeout=30)
    assert outcome.kind == "max_runtime" and outcome.model_uploaded
    assert outcome.exit_code == 143  # the probe saved its model on SIGTERM and exited
    assert set(env.s3.tar_members(env.bucket, env.model_key(spec))) == {"early.bin", "sigterm.txt"}
    assert env.s3.keys(env.bucket, env.model_key(spec, "output.tar.gz"))
    assert 1.0 <= outcome.training_end - outcome.training_start < 20
    assert env.sink.status_list(spec.name)[-2:] == ["Stopping", "Uploading"]
    env.wait_cleaned(spec.name)


def test_stop_sends_sigterm_and_uploads_artifacts(env) -> None:
    spec = env.spec(hyperparameters={"sleep_seconds": "60", "model_files": "m.bin"})
    env.backend.launch(spec, env.sink)
    env.sink.wait_line("PROBE_SLEEPING")
    env.backend.stop(spec.name)
    outcome = env.sink.outcome(spec.name, timeout=30)
    assert outcome.kind == "stopped" and outcome.model_uploaded
    assert "PROBE_SIGTERM_SAVED" in env.sink.texts()
    assert set(env.s3.tar_members(env.bucket, env.model_key(spec))) == {"m.bin", "sigterm.txt"}
    env.backend.stop(spec.name)  # finished jobs are ignored
    assert env.sink.finished_calls == [spec.name]


def test_a_container_ignoring_sigterm_is_killed_after_the_grace_period(env) -> None:
    spec = env.spec(hyperparameters={"sleep_seconds": "60", "ignore_sigterm_seconds": "60"})
    env.backend.launch(spec, env.sink)
    env.sink.wait_line("PROBE_SLEEPING")
    stopped_at = time.time()
    env.backend.stop(spec.name)
    outcome = env.sink.outcome(spec.name, timeout=30)
    assert outcome.kind == "stopped" and outcome.exit_code == 137  # SIGKILL
    assert "PROBE_SIGTERM" in env.sink.texts()
    assert "PROBE_SIGTERM_SAVED" not in env.sink.texts()
    assert outcome.training_end - stopped_at >= GRACE


@pytest.mark.parametrize("signal", ["SIGKILL", "SIGTERM"])
def test_a_signal_from_outside_is_a_retried_infrastructure_error(env, signal) -> None:
    """`docker kill` (or an engine restart) of a running container: the job did not fail on
    its own, so it is an internal error, retried under RetryStrategy, saying what happened."""
    spec = env.spec(hyperparameters={"sleep_seconds": "60"}, max_retry_attempts=1)
    env.backend.launch(spec, env.sink)
    env.sink.wait_line("PROBE_SLEEPING")
    (first,) = env.engine.list_containers(f"{env.prefix}.job={spec.name}")
    send = env.engine.kill if signal == "SIGKILL" else env.engine.stop  # not through the job
    send(first.id)
    env.sink.wait_for(lambda: env.sink.texts(job=spec.name).count("PROBE_SLEEPING") == 2,
                      what="the retry")
    send(next(c.id for c in env.engine.list_containers(f"{env.prefix}.job={spec.name}")
              if c.id != first.id))
    outcome = env.sink.outcome(spec.name)
    code = 137 if signal == "SIGKILL" else 143
    assert outcome.kind == "internal_error"
    assert outcome.failure_reason == (
        f"the container of algo-1 was killed from outside smlocal ({signal}, exit code {code}, "
        "not out of memory), e.g. by docker kill, docker rm -f or a restart of the Docker "
        "engine")
    assert env.sink.notes(spec.name) == [
        f"internal error, retrying (retry 1): {outcome.failure_reason}"]
    env.wait_cleaned(spec.name)


def test_missing_image_is_an_internal_error_after_retries(env) -> None:
    spec = env.spec(image="smlocal/no-such-image:latest", max_retry_attempts=2)
    outcome = env.run(spec)
    assert outcome.kind == "internal_error"
    assert outcome.failure_reason == env.harness.missing_image_reason(
        "smlocal/no-such-image:latest"
    )
    assert env.sink.status_list(spec.name) == ["Starting"] * 3  # first try + 2 retries
    assert env.sink.notes(spec.name) == [
        f"internal error, retrying (retry {i}): {outcome.failure_reason}" for i in (1, 2)
    ]
    env.wait_cleaned(spec.name)


def test_algorithm_errors_are_never_retried(env) -> None:
    spec = env.spec(hyperparameters={"exit_code": "1"}, max_retry_attempts=3)
    assert env.run(spec).kind == "failed"
    assert env.sink.status_list(spec.name).count("Starting") == 1


def test_missing_input_data_is_a_client_error_without_retries(env) -> None:
    spec = env.spec(
        channels=(Channel("train", f"s3://{env.bucket}/nothing-here/"),), max_retry_attempts=2
    )
    outcome = env.run(spec)
    assert outcome.kind == "internal_error"
    assert outcome.failure_reason.startswith("ClientError: No S3 objects found under S3 URL")
    assert env.sink.status_list(spec.name) == ["Starting", "Downloading"]


def test_unreachable_s3_is_retried(env) -> None:
    backend = env.new_backend(s3_url="http://127.0.0.1:9")  # nothing listens on port 9
    try:
        spec = env.spec(
            channels=(Channel("train", f"s3://{env.bucket}/x/"),), max_retry_attempts=1
        )
        backend.launch(spec, env.sink)
        outcome = env.sink.outcome(spec.name)
    finally:
        backend.close()
    assert outcome.kind == "internal_error" and "listing" in outcome.failure_reason
    assert env.sink.status_list(spec.name) == ["Starting", "Downloading"] * 2
    (note,) = env.sink.notes(spec.name)
    assert note.startswith("internal error, retrying (retry 1): ") and "listing" in note


def test_gpu_instance_without_gpus_is_a_clear_error(env, monkeypatch) -> None:
    if env.backend.host_capacity.gpus:
        pytest.skip("this host has GPUs")
    spec = env.spec(instance_type="ml.g5.xlarge", max_retry_attempts=2)
    outcome = env.run(spec)
    assert outcome.kind == "internal_error" and "needs 1 GPU" in outcome.failure_reason
    assert env.sink.status_list(spec.name) == ["Starting"]  # not retried
    monkeypatch.setenv("SMLOCAL_ALLOW_CPU_FOR_GPU", "1")
    cpu_spec = env.spec(instance_type="ml.g5.xlarge")
    assert env.run(cpu_spec).kind == "completed"
    assert "ml.g5.xlarge is a GPU type; running on CPU only" in env.sink.notes(cpu_spec.name)


def test_gpu_instance_on_a_cpu_stand_in_runs_on_cpu_with_a_warning(env) -> None:
    """smlocal's stand-ins for AWS images are CPU builds: a GPU type runs, with the note."""
    if env.backend.host_capacity.gpus:
        pytest.skip("this host has GPUs")
    spec = env.spec(instance_type="ml.g4dn.xlarge", cpu_stand_in=True)
    assert env.run(spec).kind == "completed"
    assert "ml.g4dn.xlarge is a GPU type; running on CPU only" in env.sink.notes(spec.name)


def test_pipe_mode_is_refused(env) -> None:
    spec = env.spec(channels=(Channel("train", f"s3://{env.bucket}/x/", input_mode="Pipe"),))
    outcome = env.run(spec)
    assert outcome.kind == "internal_error" and "Pipe" in outcome.failure_reason


def test_stop_while_downloading_ends_stopped_without_containers(env) -> None:
    for i in range(40):
        env.s3.put(env.bucket, f"many/{i:03d}", os.urandom(64 * 1024))
    spec = env.spec(channels=(Channel("train", f"s3://{env.bucket}/many/"),))
    env.backend.launch(spec, env.sink)
    env.sink.wait_for(lambda: "Downloading" in env.sink.status_list(spec.name))
    env.backend.stop(spec.name)
    outcome = env.sink.outcome(spec.name)
    if "Training" in env.sink.status_list(spec.name):
        pytest.skip("the download finished before the stop arrived")
    assert outcome.kind == "stopped" and not outcome.model_uploaded
    assert outcome.training_start is None
    env.wait_cleaned(spec.name)


def test_concurrent_jobs_run_side_by_side(env) -> None:
    specs = [
        env.spec(hyperparameters={"sleep_seconds": "1", "final_lines": f"job{i}"})
        for i in range(3)
    ]
    for spec in specs:
        env.backend.launch(spec, env.sink)
    assert sorted(env.backend.running_jobs()) == sorted(s.name for s in specs)
    outcomes = [env.sink.outcome(s.name) for s in specs]
    assert [o.kind for o in outcomes] == ["completed"] * 3
    # They overlapped: each started before any other finished.
    assert max(o.training_start for o in outcomes) < min(o.training_end for o in outcomes)
    for i, spec in enumerate(specs):  # each job's lines reached the sink under its own name
        assert [t for t in env.sink.texts(job=spec.name) if "job" in t] == [f"job{i}"]
    for spec in specs:
        env.wait_cleaned(spec.name)


def test_two_servers_run_jobs_of_the_same_name_side_by_side(env, tmp_path) -> None:
    """Engine names (containers, networks) are global to the engine, job names only to one
    state folder: two servers sharing an engine (two CI pipelines, each with its own
    temporary state) may both run `test-job`, with two hosts each, at the same time."""
    other_sink = RecordingSink()
    other = env.new_backend(work_dir=tmp_path / "other-state" / "jobs")
    spec = env.spec(hyperparameters={"sleep_seconds": "1", "final_lines": "done"},
                    instance_count=2)
    try:
        env.backend.launch(spec, env.sink)
        other.launch(spec, other_sink)
        outcomes = [env.sink.outcome(spec.name, 300), other_sink.outcome(spec.name, 300)]
        assert [o.kind for o in outcomes] == ["completed"] * 2, outcomes
        assert max(o.training_start for o in outcomes) < min(o.training_end for o in outcomes)
        for sink in (env.sink, other_sink):
            assert sink.texts(job=spec.name).count("done") == 2  # one per host, its own
        env.wait_cleaned(spec.name, other)
    finally:
        other.close()
    env.wait_cleaned(spec.name)
