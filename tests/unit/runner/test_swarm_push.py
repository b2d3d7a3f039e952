"""`Services.resolve_image` (runner/swarm_services.py): jobs launched together need the same
local image on every node; it is pushed to the registry once, not once per job. (With a push
per job, a CI run's first job failed: four jobs pushed the same image at once and the
registry answered "digest invalid" / "blob unknown to registry".) A fake API whose push holds
until a second push starts (or 1 s passes), so pushes that can overlap do, and counts them."""

from __future__ import annotations

import threading

from orchestrator.runner.swarm_services import Services


class _Api:
    def __init__(self) -> None:
        self.pushes = self.running = self.most = 0
        self.guard = threading.Lock()
        self.overlap = threading.Event()  # set when a push starts while another runs

    def inspect_image(self, image: str) -> dict:
        return {"Id": "sha256:abc"}

    def tag(self, image_id: str, target: str, tag: str) -> None:
        pass

    def push(self, target: str, tag: str, stream: bool, decode: bool):
        with self.guard:
            self.pushes += 1
            self.running += 1
            self.most = max(self.most, self.running)
            if self.running > 1:
                self.overlap.set()
        self.overlap.wait(timeout=1.0)  # serialised pushes never overlap: this times out
        with self.guard:
            self.running -= 1
        yield {"status": "pushed"}
        yield {"aux": {"Digest": "sha256:d1"}}


class _Engine(Services):
    def __init__(self, api: _Api) -> None:
        self.api, self.registry = api, "10.0.0.1:5000"
        self._lock, self._push_lock = threading.RLock(), threading.Lock()
        self._pushed: dict[str, str] = {}


def test_jobs_launched_together_push_their_image_once():
    api = _Api()
    engine = _Engine(api)
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(engine.resolve_image("my/img:1")))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert got == ["10.0.0.1:5000/my/img@sha256:d1"] * 4
    assert api.pushes == 1 and api.most == 1


def test_a_registry_qualified_image_is_not_pushed():
    api = _Api()
    assert _Engine(api).resolve_image("10.0.0.1:5000/x/y:2") == "10.0.0.1:5000/x/y:2"
    assert api.pushes == 0
