"""Fixtures for integration tests that need the whole smlocal server."""

from __future__ import annotations

import pytest

from orchestrator.app import SmlocalApp
from orchestrator.client.demo import upload_example_data
from orchestrator.config import Settings
from tests.integration.e2e import clients


@pytest.fixture(scope="module")
def server(tmp_path_factory, docker_client, gbm_image, epoch_image):
    """A real server on a free port (Docker backend), example data uploaded to its S3.

    Yields (app, sagemaker client, s3 client, data URI)."""
    state = tmp_path_factory.mktemp("state")
    app = SmlocalApp(settings=Settings(state_dir=state, stop_grace_seconds=2.0),
                     port=0).start()
    sm, s3 = clients(app.url)
    data_uri = upload_example_data(s3)
    yield app, sm, s3, data_uri
    app.stop()


from tests.integration.swarm_lab import deselect_swarm_items, swarm_lab  # noqa: E402, F401


def pytest_collection_modifyitems(config, items) -> None:
    deselect_swarm_items(config, items)  # conformance checks the swarm engine does not honour
