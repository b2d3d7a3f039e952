"""The SageMaker training-container contract, checked from inside the containers (spec §5).

The contract probe (containers/probe, and its fake-engine twin runner/fake_probe) prints what it
finds (`report=1`): config files, channel contents, environment, hostname, mounts, name
resolution, S3 reachability. Tests taking `env` run on every engine; those taking `docker_env`
check what only a real container shows (mounts, name resolution, networks, the log driver).
"""

# Fixtures are imported from runner_fixtures; pytest passes them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import json

from orchestrator.metrics.parser import MetricParser
from orchestrator.runner.base import Channel
from tests.integration.runner_fixtures import (  # noqa: F401
    REGION,
    docker_env,
    env,
    probe_image,
    real_env,
    s3_server,
)


def test_single_instance_job_sees_the_full_contract(docker_env) -> None:
    env = docker_env
    b = env.bucket
    env.s3.put(b, "data/train/a.csv", b"1,2,3\n")
    env.s3.put(b, "data/train/nested/deeper/b.csv", b"x" * 1000)
    env.s3.put(b, "data/eval/e.bin", b"e" * 10)
    hps = {
        "report": "1",
        "lr": "0.01",
        "model_files": "model.bin,sub/w.txt",
        "output_files": "extra.json",
        "connect_to": f"{env.harness.s3_host}:{env.s3.port}",
    }
    spec = env.spec(
        hyperparameters=hps,
        environment={"MY_SETTING": "42"},
        channels=(
            Channel("train", f"s3://{b}/data/train/", content_type="text/csv"),
            Channel("eval", f"s3://{b}/data/eval", input_mode="FastFile"),
        ),
        instance_type="ml.c5.xlarge",
    )
    outcome = env.run(spec)
    assert outcome.kind == "completed", outcome
    assert outcome.exit_code == 0 and outcome.model_uploaded
    assert outcome.training_start <= outcome.training_end
    assert env.sink.status_list(spec.name) == ["Starting", "Downloading", "Training", "Uploading"]
    report = env.sink.report()

    assert report["config_files"] == [
        "hyperparameters.json",
        "inputdataconfig.json",
        "resourceconfig.json",
    ]
    assert report["hyperparameters"] == hps
    assert report["inputdataconfig"] == {
        "train": {
            "ContentType": "text/csv",
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        },
        "eval": {
            "TrainingInputMode": "FastFile",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        },
    }
    assert report["resourceconfig"] == {
        "current_host": "algo-1",
        "current_instance_type": "ml.c5.xlarge",
        "current_group_name": "homogeneousCluster",
        "hosts": ["algo-1"],
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": "ml.c5.xlarge",
                "hosts": ["algo-1"],
            }
        ],
        "network_interface_name": "eth0",
    }
    assert report["channels"] == {
        "train": {"a.csv": 6, "nested/deeper/b.csv": 1000},
        "eval": {"e.bin": 10},
    }
    assert report["channel_writable"] == {"train": True, "eval": False}  # FastFile read-only
    assert report["hostname"] == "algo-1"
    assert report["resolved"]["algo-1"][0].isdigit()
    assert report["argv"][1:] == []  # `train` ran with no arguments

    environ = report["environ"]
    assert environ["TRAINING_JOB_NAME"] == spec.name
    assert environ["TRAINING_JOB_ARN"] == spec.arn
    assert environ["MY_SETTING"] == "42"
    assert environ["AWS_REGION"] == environ["AWS_DEFAULT_REGION"] == REGION
    assert environ["S3_ENDPOINT_URL"] == environ["AWS_ENDPOINT_URL_S3"] == env.container_s3_url
    assert report["s3_status"] == 200 and report["connect"] == "ok"

    # Sub-folders are mounted, /opt/ml itself is not: the image's /opt/ml/code stays visible.
    mount_points = {line.split()[1] for line in report["mounts"]}
    assert {
        "/opt/ml/input",
        "/opt/ml/model",
        "/opt/ml/output",
        "/opt/ml/checkpoints",
        "/opt/ml/input/data/eval",
    } <= mount_points
    assert "/opt/ml" not in mount_points and report["code_marker"] is True

    assert env.s3.tar_members(b, env.model_key(spec)) == {
        "model.bin": b"model.bin from algo-1\n",
        "sub/w.txt": b"sub/w.txt from algo-1\n",
    }
    assert env.s3.tar_members(b, env.model_key(spec, "output.tar.gz")) == {
        "extra.json": b"extra.json from algo-1\n"
    }
    # Cleaned up: no container, no host folders. The log went to the sink only: the backend
    # writes no log file of its own (the controller keeps the job's one log).
    env.wait_cleaned(spec.name)
    assert any(t.startswith("PROBE_REPORT ") for t in env.sink.texts(job=spec.name))
    assert [p.name for p in (env.work_dir / spec.name).iterdir()] == ["outcome.json"]  # no log


def test_container_entrypoint_and_arguments_are_honoured(env) -> None:
    spec = env.spec(
        hyperparameters={"report": "1"},
        entrypoint=("python3", "/opt/probe/probe.py"),
        arguments=("--epochs", "3"),
    )
    assert env.run(spec).kind == "completed"
    assert env.sink.report()["argv"][1:] == ["--epochs", "3"]


def test_arguments_without_entrypoint_replace_train(env) -> None:
    spec = env.spec(hyperparameters={"report": "1"}, arguments=("train", "--fast"))
    assert env.run(spec).kind == "completed"
    assert env.sink.report()["argv"][1:] == ["--fast"]


def test_two_instances_resolve_each_other_and_shard_by_key(real_env) -> None:
    """On the swarm lab the two hosts also run on two nodes: the overlay joins them."""
    env = real_env
    b = env.bucket
    for i in range(4):
        env.s3.put(b, f"shards/part-{i}.csv", b"p")
    env.s3.put(b, "full/all.csv", b"a")
    spec = env.spec(
        # A host's name resolves while its container runs: stay up while the peer looks. On
        # the lab a host's node may first pull the image (17 s seen), so wait for the peer as
        # the SageMaker training toolkit does (it waits for every host to resolve).
        hyperparameters={"report": "1", "model_files": "m.txt", "sleep_seconds": "1",
                         "resolve_timeout": "180"},
        instance_count=2,
        channels=(
            Channel("train", f"s3://{b}/shards/", distribution="ShardedByS3Key"),
            Channel("full", f"s3://{b}/full/"),
        ),
    )
    if env.harness.name == "swarm":
        with env.harness.watch_nodes(env.prefix, spec.name) as watch:
            outcome = env.run(spec, timeout=300)  # two stage-ins, two services, one overlay
        hosts = {f"{spec.name}/algo-1", f"{spec.name}/algo-2"}
        assert set(watch.nodes) == hosts, watch.nodes
        assert len(set(watch.nodes.values())) == 2, watch.nodes  # on two different nodes
    else:
        outcome = env.run(spec)
    assert outcome.kind == "completed", outcome
    r1, r2 = env.sink.report("algo-1"), env.sink.report("algo-2")
    assert (r1["hostname"], r2["hostname"]) == ("algo-1", "algo-2")
    assert r1["resourceconfig"]["current_host"] == "algo-1"
    assert r2["resourceconfig"]["current_host"] == "algo-2"
    assert r1["resourceconfig"]["hosts"] == ["algo-1", "algo-2"]
    for report in (r1, r2):
        assert all(not ip.startswith("error") for ip in report["resolved"].values()), report
    if env.harness.name != "swarm":
        # On swarm a peer gets the service's virtual IP and the host its task's own address,
        # both on the job's overlay (the VIP keeps a name resolvable after its host exited).
        assert r1["resolved"]["algo-2"] == r2["resolved"]["algo-2"]
    assert sorted(r1["channels"]["train"]) == ["part-0.csv", "part-2.csv"]
    assert sorted(r2["channels"]["train"]) == ["part-1.csv", "part-3.csv"]
    assert r1["channels"]["full"] == r2["channels"]["full"] == {"all.csv": 1}
    assert r2["s3_status"] == 200  # the per-job network still reaches our S3
    # One model.tar.gz for the job; algo-1's file wins over algo-2's with the same name.
    assert env.s3.tar_members(b, env.model_key(spec)) == {"m.txt": b"m.txt from algo-1\n"}
    env.wait_cleaned(spec.name)


def test_a_host_name_still_resolves_after_that_host_exited(real_env) -> None:
    env = real_env
    # On SageMaker every algo-N resolves for the whole job; Docker's DNS forgets stopped
    # containers and swarm's forgets services whose task ended, so the names are also in
    # /etc/hosts. algo-1 exits first here; each host resolves its peer once, at once.
    spec = env.spec(
        hyperparameters={"report": "1", "delay_on": "algo-2:2", "resolve_timeout": "0"},
        instance_count=2,
    )
    assert env.run(spec, timeout=300).kind == "completed"
    r1, r2 = env.sink.report("algo-1"), env.sink.report("algo-2")
    for report in (r1, r2):
        assert all(not ip.startswith("error") for ip in report["resolved"].values()), report
    if env.harness.name != "swarm":  # on swarm a peer gets the service's virtual IP
        assert r2["resolved"]["algo-1"] == r1["resolved"]["algo-1"]
    env.wait_cleaned(spec.name)


def test_metrics_stream_from_stdout_and_stderr_with_timestamps(docker_env) -> None:
    env = docker_env
    spec = env.spec(
        hyperparameters={
            "metrics": "loss=0.5,0.4,0.3;acc=0.1,0.2",
            "metric_interval": "0.05",
            "metric_stream": "both",
            "long_line_kb": "100",
            "garbage_bytes": "3000",
        }
    )
    assert env.run(spec).kind == "completed"
    parser = MetricParser(
        [{"Name": "loss", "Regex": r"loss=(.*?);"}, {"Name": "acc", "Regex": r"acc=([0-9.]+)"}]
    )
    samples = parser.parse_all(env.sink.lines)
    for stream in ("stdout", "stderr"):
        lines = [ln for ln in env.sink.lines if ln.stream == stream]
        got = [s.value for s in parser.parse_all(lines) if s.name == "loss"]
        assert got == [0.5, 0.4, 0.3], stream
    loss = [s for s in samples if s.name == "loss"]
    assert all(a.timestamp <= b.timestamp for a, b in zip(loss[::2], loss[2::2], strict=False))
    assert loss[-1].timestamp - loss[0].timestamp >= 0.09  # streamed with the container's time
    # A 100 KiB line arrives whole (Docker splits it into 16 KiB messages); garbage is harmless.
    long = [t for t in env.sink.texts() if t.endswith("PROBE_LONG_END")]
    assert len(long) == 1 and len(long[0]) == 100 * 1024 + len(" PROBE_LONG_END")
    assert "PROBE_AFTER_GARBAGE" in env.sink.texts()
    assert env.sink.texts()[-1] == "PROBE_END exit_code=0"


def test_uncompressed_model_output(env) -> None:
    spec = env.spec(hyperparameters={"model_files": "a/b.bin"}, output_compression="NONE")
    assert env.run(spec).kind == "completed"
    assert env.s3.keys(env.bucket, f"out/{spec.name}/") == [
        f"out/{spec.name}/output/model/a/b.bin",
        f"out/{spec.name}/output/output.tar.gz",
    ]


def test_network_isolation_has_no_network_and_no_s3_settings(docker_env) -> None:
    env = docker_env
    spec = env.spec(
        hyperparameters={
            "report": "1",
            "connect_to": f"{env.harness.s3_host}:{env.s3.port}",
            "model_files": "m",
        },
        network_isolation=True,
    )
    outcome = env.run(spec)
    assert outcome.kind == "completed" and outcome.model_uploaded  # uploaded by the platform
    report = env.sink.report()
    assert report["connect"].startswith("error")
    assert "S3_ENDPOINT_URL" not in report["environ"]
    assert "AWS_ACCESS_KEY_ID" not in report["environ"]
    assert report["environ"]["AWS_REGION"] == REGION
    assert report["hostname"] == "algo-1"
    assert report["resolved"] == {"algo-1": "127.0.0.1"}  # the toolkit waits for this name


def test_isolated_two_instance_job_still_reaches_its_peers(docker_env) -> None:
    env = docker_env
    spec = env.spec(
        hyperparameters={
            "report": "1",
            "connect_to": f"{env.harness.s3_host}:{env.s3.port}",
            "sleep_seconds": "1",
        },
        network_isolation=True,
        instance_count=2,
    )
    assert env.run(spec).kind == "completed"
    report = env.sink.report("algo-1")
    assert not report["resolved"]["algo-2"].startswith("error")
    assert report["connect"].startswith("error")


def test_checkpoints_restored_before_start_and_synced_after(env) -> None:
    b = env.bucket
    env.s3.put(b, "ckpt/old.txt", b"old")
    env.s3.put(b, "ckpt/keep/k.txt", b"k")
    spec = env.spec(
        hyperparameters={
            "report": "1",
            "checkpoint_files": "new.txt",
            "delete_checkpoint_files": "old.txt",
            "checkpoint_dir": "/opt/ml/checkpoints",
        },
        checkpoint_s3_uri=f"s3://{b}/ckpt",
    )
    assert env.run(spec).kind == "completed"
    assert env.sink.report()["checkpoints_at_start"] == {"old.txt": 3, "keep/k.txt": 1}
    assert env.s3.keys(b, "ckpt/") == ["ckpt/keep/k.txt", "ckpt/new.txt"]
    assert env.sink.status_list(spec.name)[:2] == ["Starting", "Downloading"]


def test_custom_checkpoint_local_path(env) -> None:
    spec = env.spec(
        hyperparameters={"checkpoint_files": "c.pt", "checkpoint_dir": "/ckpt"},
        checkpoint_s3_uri=f"s3://{env.bucket}/ck2/",
        checkpoint_local_path="/ckpt",
    )
    assert env.run(spec).kind == "completed"
    assert env.s3.keys(env.bucket, "ck2/") == ["ck2/c.pt"]


def test_job_log_lines_reach_the_sink_in_order(env) -> None:
    spec = env.spec(hyperparameters={"final_lines": "hello,world"})
    assert env.run(spec).kind == "completed"
    lines = env.sink.job_lines(spec.name)
    assert [ln.text for ln in lines[-3:]] == ["hello", "world", "PROBE_END exit_code=0"]
    assert {(ln.stream, ln.host) for ln in lines[-3:]} == {("stdout", "algo-1")}
    assert json.dumps([ln.text for ln in lines])  # plain text lines
