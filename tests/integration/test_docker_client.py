"""The Docker client both engines use keeps one connection pool for its socket.

docker-py keys pools by request URL and closes the least recently used beyond 25; a thread
holding one of those gets "Pool is closed" (seen failing jobs of benchmarks/swarm.py)."""

from __future__ import annotations

import pytest
from docker.errors import NotFound

from orchestrator.runner.docker_engine import new_docker_client

pytestmark = pytest.mark.docker


def test_one_pool_survives_many_urls() -> None:
    client = new_docker_client()
    try:
        adapter = client.api.get_adapter("http+docker://localhost")
        with pytest.raises(NotFound):
            client.api.inspect_container("smlocal-no-such-container-0")
        first = adapter.get_connection("http+docker://localhost/any")
        for i in range(1, 60):  # more URLs than docker-py's 25 pools
            with pytest.raises(NotFound):
                client.api.inspect_container(f"smlocal-no-such-container-{i}")
        assert len(adapter.pools) == 1
        assert adapter.get_connection("http+docker://localhost/other") is first
        assert first.pool is not None  # never closed
    finally:
        client.close()
