"""Stage-out on the two-node lab: a task on the manager's own node is copied back and its node
folder deleted by the server itself, a task on the other node by the stage-out helper; both
bring back the same files, and neither follows a link the container left in its output."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from orchestrator.runner import confined
from orchestrator.runner.engine import DEFAULT_NETWORK, ContainerRequest
from orchestrator.runner.resources import GIB, ContainerLimits
from orchestrator.runner.swarm_services import mounts_label
from tests.integration.runner_fixtures import SwarmHarness, probe_image  # noqa: F401
from tests.integration.swarm_lab import swarm_lab  # noqa: F401

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.swarm]

SCRIPT = ("mkdir -p /opt/ml/model/sub && printf a > /opt/ml/model/a.txt && "
          "printf b > /opt/ml/model/sub/b.txt && ln -s /etc/hostname /opt/ml/model/link && "
          "rm /opt/ml/model/old.txt")


def files(root: Path) -> dict[str, bytes]:
    return {n.rel: (root / n.rel).read_bytes() for n in confined.iter_tree(root)
            if n.kind == "file"}


def test_stage_out_on_the_managers_node_needs_no_helper(
        tmp_path, monkeypatch, docker_client, probe_image, swarm_lab) -> None:  # noqa: F811
    assert os.geteuid() == 0  # the lab runs as root: the shortcut's condition
    harness = SwarmHarness(docker_client, probe_image, swarm_lab)
    engine = harness.engine
    prefix = f"smlocal-t{uuid.uuid4().hex[:6]}"
    helpers: list[str] = []
    helper = engine._helper

    def spy(name, *args, **kwargs):
        helpers.append(name)
        return helper(name, *args, **kwargs)

    monkeypatch.setattr(engine, "_helper", spy)
    manager = docker_client.info()["Swarm"]["NodeID"]
    nodes: dict[str, str] = {}  # node id -> service
    try:
        # spread placement alternates the nodes; a few jobs land on both
        for i in range(6):
            out = tmp_path / f"model{i}"
            out.mkdir()
            (out / "old.txt").write_bytes(b"sent in, deleted by the job")
            sid = engine.create(ContainerRequest(
                name=f"{prefix}-job{i}-algo-1", image=probe_image, hostname="algo-1",
                command=[SCRIPT], entrypoint=["sh", "-c"], environment={},
                labels={f"{prefix}.job": f"job{i}"}, mounts=[(str(out), "/opt/ml/model", False)],
                limits=ContainerLimits(10**9, GIB, 0), network=DEFAULT_NETWORK))
            engine.start(sid)
            node = engine._task(sid)["NodeID"]
            node_root = Path(mounts_label(engine._service(sid))["node_root"])
            before = len(helpers)
            state = engine.wait(sid, lambda: False)
            assert state is not None and state.exit_code == 0
            # the same files either way; the link is not followed, old.txt is gone
            assert files(out) == {"a.txt": b"a", "sub/b.txt": b"b"}, node
            assert not (out / "link").exists()
            used_helper = any(h.startswith(f"{sid}-out") for h in helpers[before:])
            assert used_helper == (node != manager), (node, manager, helpers[before:])
            assert not node_root.exists()  # the lab's nodes share this machine's files
            engine.remove(sid)
            nodes.setdefault(node, sid)
            if len(nodes) == 2:
                break
        assert manager in nodes, f"no job ran on the manager's node: {nodes}"
    finally:
        harness.clean(prefix)
        engine.close()
