"""The two-node swarm lab for the swarm tests: `scripts/swarm-lab.sh up` once per session (the
first test that needs it), `down` at the end, whatever happened."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "swarm-lab.sh"


@dataclass(frozen=True)
class SwarmLab:
    registry: str  # HOST:PORT every node pulls from
    address: str  # the manager's address on the lab network (the server listens there)
    node2: str  # Docker URL of node 2's engine (tests look at its containers)


@pytest.fixture(scope="session")
def swarm_lab() -> Iterator[SwarmLab]:
    try:
        out = subprocess.run(["bash", str(SCRIPT), "up"], check=True, capture_output=True,
                             text=True, timeout=900).stdout
    except subprocess.CalledProcessError as exc:
        subprocess.run(["bash", str(SCRIPT), "down"], check=False, timeout=300)
        raise RuntimeError(f"swarm-lab.sh up failed:\n{exc.stdout}\n{exc.stderr}") from exc
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    try:
        yield SwarmLab(values["SMLOCAL_SWARM_REGISTRY"], values["SMLOCAL_SWARM_ADDRESS"],
                       values["SMLOCAL_LAB_NODE2"])
    finally:
        subprocess.run(["bash", str(SCRIPT), "down"], check=False, timeout=300)


# The conformance checks (`env` tests) the swarm engine does not honour, with the reason; they
# are deselected (by tests/integration/conftest.py), so none is skipped. Every other `[swarm]`
# item runs on the two-node lab.
SWARM_NOT_HONOURED: dict[str, str] = {}


def deselect_swarm_items(config, items: list) -> None:
    if os.environ.get("SMLOCAL_SWARM_ALL"):  # development: run every swarm item
        return
    keep, drop = [], []
    for item in items:
        name = getattr(item, "originalname", item.name)
        if "[swarm" in item.nodeid and name in SWARM_NOT_HONOURED:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
