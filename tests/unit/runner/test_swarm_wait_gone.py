"""`Tasks._wait_gone` (runner/swarm_tasks.py): after a service is removed, wait for its task
to shut down, but not for a task whose node is down (swarm keeps such a task as it was, so
the wait would only hold the job's retry). A fake API and a fake clock: no Docker, no sleep."""

from __future__ import annotations

import pytest

from orchestrator.runner import swarm_tasks
from orchestrator.runner.swarm_tasks import Tasks


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class _Api:
    """Tasks' states in turn (the last repeats); the node's state."""

    def __init__(self, states: list[str], node: str) -> None:
        self.states, self.node, self.inspected = states, node, 0

    def inspect_task(self, task_id: str) -> dict:
        state = self.states[min(self.inspected, len(self.states) - 1)]
        self.inspected += 1
        return {"ID": task_id, "NodeID": "n2", "Status": {"State": state}}

    def inspect_node(self, node_id: str) -> dict:
        return {"ID": node_id, "Status": {"State": self.node}}


class _Engine(Tasks):
    def __init__(self, api: _Api) -> None:
        self.api, self.stop_grace_seconds = api, 2


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    c = _Clock()
    monkeypatch.setattr(swarm_tasks, "time", c)
    return c


def test_a_task_on_a_node_that_is_down_is_not_waited_for(clock):
    api = _Api(["running"], node="down")
    last = _Engine(api)._wait_gone("sid", {"ID": "t1", "NodeID": "n2"})
    assert last is not None and last["Status"]["State"] == "running"
    assert api.inspected == 1 and clock.now == 1000.0


def test_a_task_on_a_live_node_is_waited_for_until_it_shuts_down(clock):
    api = _Api(["running", "running", "shutdown"], node="ready")
    last = _Engine(api)._wait_gone("sid", {"ID": "t1", "NodeID": "n2"})
    assert last is not None and last["Status"]["State"] == "shutdown"
    assert api.inspected == 3 and clock.now == pytest.approx(1000.0 + 2 * swarm_tasks.POLL)


def test_a_task_that_never_shuts_down_is_waited_for_until_the_deadline(clock):
    api = _Api(["running"], node="ready")
    _Engine(api)._wait_gone("sid", {"ID": "t1", "NodeID": "n2"})
    assert 1000.0 + 2 + 30 <= clock.now < 1000.0 + 2 + 30 + 1
