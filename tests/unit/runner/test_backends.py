"""The backend is chosen by name from settings; the app learns only neutral facts from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import Settings
from orchestrator.runner import backends
from orchestrator.runner.engine_backend import EngineBackend
from orchestrator.runner.fake import FakeBackend, FakeScript


def test_docker_is_the_default_and_the_environment_chooses(monkeypatch):
    monkeypatch.delenv("SMLOCAL_BACKEND", raising=False)
    assert Settings().backend == "docker"
    monkeypatch.setenv("SMLOCAL_BACKEND", "fake")
    assert Settings().backend == "fake"
    assert Settings(backend="docker").backend == "docker"


def test_registry_names_and_unknown_names():
    assert backends.names() == ["docker", "fake", "swarm"]
    with pytest.raises(ValueError,
                       match="unknown backend 'kubernetes'; choose one of: docker, fake, swarm"):
        backends.backend_factory("kubernetes")


def test_fake_backend_wiring_listens_nowhere_new_and_shares_its_engine(tmp_path):
    settings = Settings(state_dir=tmp_path, backend="fake", stop_grace_seconds=3.0)
    factory = backends.backend_factory(settings.backend)
    assert factory.listen_addresses() == ["127.0.0.1"]  # the server's own loopback
    backend = factory.create(settings, 4711)
    assert isinstance(backend, EngineBackend)
    ctx = backend._ctx
    assert ctx.container_s3_endpoint_url == "http://127.0.0.1:4711"
    assert ctx.work_dir == (tmp_path / "jobs").resolve()
    assert ctx.stop_grace_seconds == 3.0
    backend.close()  # the shared engine survives: a restarted app re-adopts its containers
    again = backends.backend_factory("fake").create(settings, 4711)
    assert again.engine is backend.engine
    again.close()


def test_a_ready_backend_is_used_as_it_is(tmp_path):
    fake = FakeBackend(lambda spec: FakeScript())
    factory = backends.ReadyBackend(fake)
    assert factory.listen_addresses() == []
    assert factory.create(Settings(state_dir=tmp_path), 1) is fake


def test_serving_wraps_the_engine_s_backend_in_the_job_runner_process(tmp_path, monkeypatch):
    from orchestrator.runner.process_backend import ProcessBackend

    monkeypatch.delenv("SMLOCAL_JOB_PROCESS", raising=False)
    monkeypatch.delenv("SMLOCAL_JOB_PROCESS_NICE", raising=False)
    settings = Settings(state_dir=tmp_path, backend="fake")
    assert settings.job_process and settings.job_process_nice == 5
    factory = backends.serving_factory(settings)
    assert isinstance(factory, backends.ProcessBackendFactory)
    assert factory.listen_addresses() == ["127.0.0.1"]
    backend = factory.create(settings, 4711)
    try:
        assert isinstance(backend, ProcessBackend)
        assert backend.has_image("smlocal/probe:latest")  # asked of the runner's engine
        assert Path(f"/proc/{backend.pid}/stat").exists()
    finally:
        backend.close()
    monkeypatch.setenv("SMLOCAL_JOB_PROCESS", "0")
    in_process = backends.serving_factory(Settings(state_dir=tmp_path, backend="fake"))
    assert isinstance(in_process, backends.EngineBackendFactory)
    with pytest.raises(ValueError, match="unknown backend"):
        backends.serving_factory(Settings(state_dir=tmp_path, backend="nope"))
