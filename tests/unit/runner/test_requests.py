"""The per-host container request: the run contract decided without Docker."""

from __future__ import annotations

from orchestrator.runner.base import JobSpec
from orchestrator.runner.layout import host_dirs
from orchestrator.runner.lifecycle import RunContext
from orchestrator.runner.requests import container_request


def spec(**kw) -> JobSpec:
    base = dict(name="job", arn="arn:aws:sagemaker:us-east-1:1:training-job/job", image="img",
                hyperparameters={}, environment={"MY": "1", "TRAINING_JOB_NAME": "spoofed"},
                channels=(), output_s3_path="s3://b/o", labels={"smlocal.tuning-job": "tj"})
    base.update(kw)
    return JobSpec(**base)


def request(tmp_path, s, host="algo-1", **kw):
    kw.setdefault("network", None)
    kw.setdefault("ips", None)
    return container_request(s, host, host_dirs(tmp_path, s.name, host), None,
                             label_prefix="smlocal", name=f"smlocal-x-{s.name}-{host}",
                             work_dir=tmp_path,
                             s3_endpoint_url="http://172.17.0.1:4577", **kw)


def test_default_run_is_train_on_the_bridge_with_our_s3(tmp_path):
    r = request(tmp_path, spec())
    assert (r.entrypoint, r.command, r.network, r.hostname) == (None, ["train"], "bridge",
                                                                "algo-1")
    assert r.environment["S3_ENDPOINT_URL"] == "http://172.17.0.1:4577"
    assert r.environment["MY"] == "1"
    assert r.environment["TRAINING_JOB_NAME"] == "job"  # the platform's value wins
    assert r.labels == {"smlocal.tuning-job": "tj", "smlocal.job": "job",
                        "smlocal.host": "algo-1", "smlocal.state": str(tmp_path)}
    assert {target for _, target, _ in r.mounts} == {
        "/opt/ml/input", "/opt/ml/model", "/opt/ml/output", "/opt/ml/checkpoints"}  # never /opt/ml


def test_entrypoint_and_arguments_replace_train(tmp_path):
    r = request(tmp_path, spec(entrypoint=("python3", "x.py"), arguments=("--a", "1")))
    assert (r.entrypoint, r.command) == (["python3", "x.py"], ["--a", "1"])
    r = request(tmp_path, spec(arguments=("serve",)))
    assert (r.entrypoint, r.command) == (None, ["serve"])


def test_isolation_has_no_network_and_no_s3_but_resolves_its_own_name(tmp_path):
    r = request(tmp_path, spec(network_isolation=True))
    assert r.network == "none" and r.extra_hosts == {"algo-1": "127.0.0.1"}
    assert "S3_ENDPOINT_URL" not in r.environment


def test_multi_instance_hosts_get_fixed_addresses_of_every_peer(tmp_path):
    ips = {"algo-1": "10.9.0.2", "algo-2": "10.9.0.3"}
    r = request(tmp_path, spec(instance_count=2), host="algo-2", network="smlocal-job", ips=ips)
    assert (r.network, r.ip, r.aliases, r.extra_hosts) == ("smlocal-job", "10.9.0.3",
                                                           ("algo-2",), ips)


def _context(work_dir) -> RunContext:
    return RunContext(engine=None, stager=None, work_dir=work_dir, container_s3_endpoint_url=None,
                      stop_grace_seconds=1.0, cpu_oversubscribe=True, label_prefix="smlocal",
                      host_override=None, on_done=lambda *_: None)


def test_engine_names_are_per_state_folder_and_stable(tmp_path):
    """Two servers on one engine keep apart; a restarted server finds its own names again."""
    a, b = _context(tmp_path / "a" / "jobs"), _context(tmp_path / "b" / "jobs")
    assert a.object_name("job") != b.object_name("job")
    assert a.object_name("job") == _context(tmp_path / "a" / "jobs").object_name("job")
    assert a.object_name("job").startswith("smlocal-") and a.object_name("job").endswith("-job")
