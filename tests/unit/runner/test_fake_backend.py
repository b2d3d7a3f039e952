"""The scripted `FakeBackend` (controller and API tests) keeps the `Backend` contract that the
engine backends keep: one `finished` per launch, a stop's reason becomes the outcome kind,
stops of unknown or finished jobs are ignored, `recover` re-attaches what survived and
launches the rest again. (The lifecycle itself is checked on every engine by the runner
conformance suite, the fake engine included.)"""

from __future__ import annotations

from orchestrator.clock import FakeClock
from orchestrator.runner.base import JobSpec
from orchestrator.runner.fake import FakeBackend, FakeScript
from tests.integration.runner_fixtures import RecordingSink


def spec(name: str) -> JobSpec:
    return JobSpec(name=name, arn=f"arn:aws:sagemaker:us-east-1:1:training-job/{name}",
                   image="img", hyperparameters={}, environment={}, channels=(),
                   output_s3_path="s3://b/o")


def run_out(backend: FakeBackend) -> None:
    for _ in range(20):
        backend.step()


def test_outcomes_stops_and_recovery_follow_the_backend_contract() -> None:
    scripts = {"ok": FakeScript(["loss=1"]), "bad": FakeScript([], "failed", 2, "boom"),
               "long": FakeScript(["x"] * 50)}
    backend = FakeBackend(lambda s: scripts.get(s.name, FakeScript(["up"])), FakeClock(0.0))
    sink = RecordingSink()
    for name in scripts:
        backend.launch(spec(name), sink)
    backend.step()
    backend.stop("long", "max_runtime")
    backend.stop("nobody")  # unknown: ignored
    run_out(backend)
    backend.stop("ok")  # finished: ignored
    assert sorted(sink.finished_calls) == ["bad", "long", "ok"]  # once each
    kinds = {n: (o.kind, o.exit_code, o.failure_reason) for n, o in sink.outcomes.items()}
    assert kinds == {"ok": ("completed", 0, None), "bad": ("failed", 2, "boom"),
                     "long": ("max_runtime", None, None)}
    assert [ln.text for ln in sink.job_lines("ok")] == ["loss=1"]

    survivor, fresh = RecordingSink(), RecordingSink()
    backend.launch(spec("alive"), sink)
    backend.recover([spec("alive")], survivor, {})  # its "container" survived the restart
    restarted = FakeBackend(lambda s: FakeScript(["again"]), backend.clock)
    restarted.recover([spec("gone")], fresh, {})  # nothing left: launched again
    run_out(backend)
    run_out(restarted)
    assert survivor.finished_calls == ["alive"] and "alive" not in sink.outcomes
    assert fresh.outcomes["gone"].kind == "completed" and fresh.texts() == ["again"]
