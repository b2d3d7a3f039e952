"""`smlocal` as a user runs it: a subprocess against a real server, exit codes and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from orchestrator.client.demo import demo_request

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def smlocal(url: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.client.cli", "--endpoint", url, *args],
                          capture_output=True, text=True, timeout=timeout)


def small_request(name: str, data_uri: str) -> dict:
    req = demo_request(name, data_uri, jobs=3, parallel=2)
    for r in req["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"]:
        if r["Name"] == "max_iter":
            r.update(MinValue="5", MaxValue="30")
    return req


def test_tune_wait_then_inspect_with_describe_jobs_logs_list(server, tmp_path):
    app, sm, s3, data = server
    body = tmp_path / "job.json"
    body.write_text(json.dumps(small_request("cli-tune", data)))
    run = smlocal(app.url, "tune", str(body), "--wait")
    assert run.returncode == 0, run.stdout + run.stderr
    best = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="cli-tune")[
        "BestTrainingJob"]["TrainingJobName"]
    assert f"best training job: {best}" in run.stdout
    assert f"model: s3://smlocal-demo/gbm/output/{best}/output/model.tar.gz" in run.stdout

    described = json.loads(smlocal(app.url, "describe", "cli-tune").stdout)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    jobs = smlocal(app.url, "jobs", "cli-tune", "--sort", "objective")
    assert jobs.returncode == 0 and best in jobs.stdout.splitlines()[2]  # best first
    assert "cli-tune" in smlocal(app.url, "list").stdout

    # Logs come through the CloudWatch Logs API: the command is never told where the server
    # keeps its state (a temporary folder here, not $SMLOCAL_HOME).
    logs = smlocal(app.url, "logs", best)
    assert logs.returncode == 0 and "[final] validation:logloss=" in logs.stdout
    follow = smlocal(app.url, "logs", best, "--follow")
    assert follow.returncode == 0 and follow.stdout == logs.stdout  # ended job: prints, exits

    again = smlocal(app.url, "stop", "cli-tune")
    assert again.returncode == 2 and "ValidationException" in again.stderr


def test_logs_follow_a_running_two_host_job(server, smlocal_image, tmp_path):
    """`smlocal logs --follow` started while a job runs prints each host's lines in order as
    they come (one CloudWatch Logs stream per host) and exits once the job has ended, having
    lost nothing; then `smlocal logs` prints the same lines."""
    app, sm, *_ = server
    name = "cli-follow"
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": smlocal_image("probe"),
                                "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        OutputDataConfig={"S3OutputPath": "s3://smlocal-demo/follow/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
        HyperParameters={"metrics": "loss=0.5,0.4,0.3,0.2", "metric_interval": "1",
                         "final_lines": "last-line"})
    stderr = tmp_path / "stderr"
    with open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.client.cli", "--endpoint", app.url, "logs",
             name, "--follow"], stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        first = proc.stdout.readline()  # printed as it arrives, while the job still runs
        assert first.startswith("PROBE_START") or first.startswith("[algo-2] PROBE_START")
        assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == (
            "InProgress")
        rest = proc.stdout.read()  # the same buffered reader: to the end of the output
        proc.wait(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr.read_text()
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Completed"
    lines = (first + rest).splitlines()
    for host, prefix in (("algo-1", ""), ("algo-2", "[algo-2] ")):
        mine = [line.removeprefix(prefix) for line in lines
                if line.startswith("[algo-2] ") == bool(prefix)]
        assert mine[0].startswith("PROBE_START ") and mine[0].endswith(f"host={host}"), lines
        assert [m for m in mine if m.startswith("loss=")] == [
            "loss=0.5;", "loss=0.4;", "loss=0.3;", "loss=0.2;"], lines
        assert mine[mine.index("loss=0.2;") + 1] == "last-line", lines  # written at the end
    again = smlocal(app.url, "logs", name)
    assert again.returncode == 0 and sorted(again.stdout.splitlines()) == sorted(lines)

    unknown = smlocal(app.url, "logs", "no-such-job")
    assert unknown.returncode == 2 and "ValidationException" in unknown.stderr


def test_bad_input_files_say_what_and_where(server, tmp_path):
    app, *_ = server
    broken = tmp_path / "broken.json"
    broken.write_text('{"HyperParameterTuningJobName": "x",\n  "oops" }')
    run = smlocal(app.url, "tune", str(broken))
    assert run.returncode == 2 and f"{broken}:2:" in run.stderr and "invalid JSON" in run.stderr

    bad = small_request("bad_name_with_underscores", server[3])
    bad["HyperParameterTuningJobConfig"]["Strategy"] = "Genetic"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    run = smlocal(app.url, "tune", str(tmp_path / "bad.json"))
    assert run.returncode == 2
    assert "ValidationException: 2 validation errors detected" in run.stderr
    assert "hyperParameterTuningJobConfig.strategy" in run.stderr

    missing = smlocal(app.url, "describe", "no-such-job")
    assert missing.returncode == 2 and "ResourceNotFound" in missing.stderr


def test_unreachable_endpoint_exit_code(free_port):
    run = smlocal(f"http://127.0.0.1:{free_port()}", "list", timeout=60)
    assert run.returncode == 4 and "smlocal serve" in run.stderr


def test_ctrl_c_on_an_embedded_server_stops_the_job_and_leaves_no_container(
        tmp_path, docker_client, smlocal_image, free_port):
    import signal

    from tests.integration.e2e import wait_for

    image = smlocal_image("probe")
    request = demo_request("cli-interrupt", "s3://unused/data", jobs=4, parallel=2)
    definition = request["TrainingJobDefinition"]
    del definition["InputDataConfig"]
    definition["AlgorithmSpecification"].update(
        TrainingImage=image, MetricDefinitions=[{"Name": "validation:logloss",
                                                 "Regex": r"loss=([0-9.]+)"}])
    definition["StaticHyperParameters"] = {"sleep_seconds": "300", "metrics": "loss=0.5"}
    (tmp_path / "job.json").write_text(json.dumps(request))
    label = {"label": "smlocal.tuning-job=cli-interrupt"}
    # A suite started as a background job of a non-interactive shell (`bash .ci/run &`)
    # inherits SIGINT ignored, its children too, and Python then installs no KeyboardInterrupt
    # handler: this test's Ctrl-C would be ignored, as a shell ignores it for such jobs (it
    # failed so twice). The command gets Python's usual handler whatever started the suite.
    start = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "runpy.run_module('orchestrator.client.cli', run_name='__main__', alter_sys=True)")
    proc = subprocess.Popen(
        [sys.executable, "-c", start, "--endpoint",
         f"http://127.0.0.1:{free_port()}", "tune", str(tmp_path / "job.json")],
        env={**os.environ, "SMLOCAL_HOME": str(tmp_path / "state"),
             "SMLOCAL_STOP_GRACE_SECONDS": "2", "PYTHONFAULTHANDLER": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: len(docker_client.containers.list(ignore_removed=True, filters=label)) == 2, timeout=120)
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            # SIGABRT makes faulthandler print every thread's stack: where it is stuck
            proc.send_signal(signal.SIGABRT)
            out, _ = proc.communicate(timeout=30)
            pytest.fail(f"not ended 120 s after Ctrl-C; its output, then its threads:\n{out}")
    finally:
        proc.kill()
        for c in docker_client.containers.list(ignore_removed=True, all=True, filters=label):
            if proc.returncode != 3:  # a failed run must not leave them for the next one
                c.remove(force=True)
    assert proc.returncode == 3, out
    assert "stopping cli-interrupt" in out and "ended Stopped" in out
    assert docker_client.containers.list(ignore_removed=True, all=True, filters=label) == []
