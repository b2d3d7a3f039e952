"""`ProcessBackend`: the backend runs in a job runner process; commands go there, its events
come back as JobSink calls in order; a runner that dies is replaced and re-adopts the jobs (or
they fail as internal errors), never a hang; close() and a killed server leave no process.

The backend in the child is `process_script.ScriptBackend` (real processes, real pipes)."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.runner.base import JobOutcome, JobSpec, LogLine
from orchestrator.runner.process_backend import ChildFailed, ProcessBackend
from tests.unit.runner import process_script

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 60.0  # the machine is shared and busy: generous, never slept


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple] = []  # (kind, job, payload) in arrival order
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def _add(self, *event) -> None:
        with self._cond:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def secondary_status(self, job_name: str, status: str, message: str) -> None:
        self._add("status", job_name, status)

    def logs(self, job_name: str, lines: list[LogLine]) -> None:
        for line in lines:
            self._add("line", job_name, line)

    def finished(self, job_name: str, outcome: JobOutcome) -> None:
        self._add("finished", job_name, outcome)

    def wait(self, predicate, what: str):
        deadline = time.monotonic() + TIMEOUT
        with self._cond:
            while not (value := predicate()):
                left = deadline - time.monotonic()
                assert left > 0, f"timed out waiting for {what}; events: {self.events[-5:]}"
                self._cond.wait(left)
            return value

    def outcome(self, job: str) -> JobOutcome:
        return self.wait(lambda: next((e[2] for e in self.events
                                       if e[0] == "finished" and e[1] == job), None),
                         f"{job} to finish")

    def of(self, job: str, kind: str) -> list:
        return [e[2] for e in self.events if e[1] == job and e[0] == kind]


def spec(name: str, **hp: str) -> JobSpec:
    return JobSpec(name=name, arn=f"arn:aws:sagemaker:us-east-1:1:training-job/{name}",
                   image="img", hyperparameters=hp, environment={}, channels=(),
                   output_s3_path="s3://b/out/")


def gone(pid: int) -> bool:
    """The process has exited (and was reaped, or is a zombie of a dead parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def wait_until(predicate, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def backend() -> Iterator[ProcessBackend]:
    b = ProcessBackend(process_script.build, restart_window=60.0)
    yield b
    b.close()


def test_events_arrive_in_order_on_one_thread_per_backend(backend) -> None:
    sink = Sink()
    for name in ("a", "b"):
        backend.launch(spec(name, lines="300"), sink)
    for name in ("a", "b"):
        assert sink.outcome(name) == JobOutcome("completed", exit_code=0)
        assert sink.of(name, "status") == ["Starting", "Training", "Uploading"]
        assert [line.text for line in sink.of(name, "line")] == [f"line {i}" for i in range(300)]
        kinds = [e[0] for e in sink.events if e[1] == name]
        assert kinds.index("finished") == len(kinds) - 1  # nothing after the outcome
    assert len(sink.threads) == 1  # one dispatcher: the sink sees the child's order
    assert backend.running_jobs() == []


def test_stop_is_forwarded_with_its_reason(backend) -> None:
    sink = Sink()
    backend.launch(spec("s", wait="stop"), sink)
    sink.wait(lambda: sink.of("s", "status"), "Training")
    backend.stop("s", "max_runtime")
    assert sink.outcome("s").kind == "max_runtime"
    backend.stop("s")  # finished: ignored
    backend.stop("unknown")


def test_has_image_asks_the_child_and_a_duplicate_launch_is_refused(backend) -> None:
    assert backend.has_image("img") is True
    assert backend.has_image("missing") is False
    sink = Sink()
    backend.launch(spec("d", wait="stop"), sink)
    with pytest.raises(ValueError, match="already running"):
        backend.launch(spec("d"), sink)
    backend.stop("d")
    assert sink.outcome("d").kind == "stopped"


def test_a_killed_child_is_replaced_and_re_adopts_the_jobs_in_flight(backend) -> None:
    sink = Sink()
    backend.launch(spec("k", wait="stop"), sink)
    backend.launch(spec("done", lines="3"), sink)
    sink.outcome("done")
    sink.wait(lambda: sink.of("k", "status"), "Training")
    backend.recover([spec("r", wait="stop")], sink, {"r": 123.5})
    note = sink.wait(lambda: sink.of("r", "line"), "the first recovery")[0]
    assert note.text == "recovered offset=123.5"
    first = backend.pid
    os.kill(first, signal.SIGKILL)
    backend.stop("k")  # asked while no child runs: sent again to the next one
    assert sink.outcome("k").kind == "stopped"
    assert backend.pid != first and gone(first)
    lines = [line.text for line in sink.of("k", "line")]
    assert lines == ["recovered offset=None"]
    # The offset of the last line delivered goes with the job to the next child.
    last = [line.text for line in sink.of("r", "line")][-1]
    assert last == f"recovered offset={note.timestamp}"
    # A job that finished before the death is not adopted again.
    assert [line.text for line in sink.of("done", "line")] == ["line 0", "line 1", "line 2"]
    backend.stop("r")
    assert sink.outcome("r").kind == "stopped"
    assert [e for e in sink.events if e[0] == "finished" and e[1] == "k"] == [
        ("finished", "k", JobOutcome("stopped"))]  # exactly once


def test_a_child_that_keeps_dying_fails_the_jobs_and_a_later_launch_starts_one_again() -> None:
    backend = ProcessBackend(process_script.build, max_restarts=1)
    try:
        sink = Sink()
        backend.launch(spec("c", wait="stop", crash_on_recover="1"), sink)
        sink.wait(lambda: sink.of("c", "status"), "Training")
        first = backend.pid
        os.kill(first, signal.SIGKILL)  # death 1: replaced; its recover() exits (death 2)
        outcome = sink.outcome("c")
        assert outcome.kind == "internal_error"
        assert "exited 2 times" in outcome.failure_reason
        assert "last exit code 5" in outcome.failure_reason
        assert backend.running_jobs() == []
        backend.launch(spec("after", lines="2"), sink)
        assert sink.outcome("after").kind == "completed"
        assert backend.pid not in (None, first)
    finally:
        backend.close()


def test_a_backend_that_cannot_be_built_is_an_error_at_once() -> None:
    with pytest.raises(ChildFailed, match="could not start: RuntimeError: no engine here"):
        ProcessBackend(functools.partial(process_script.build, fail="no engine here"))


def test_close_leaves_no_process_and_reports_nothing_more() -> None:
    backend = ProcessBackend(process_script.build)
    sink = Sink()
    backend.launch(spec("left", wait="stop"), sink)
    sink.wait(lambda: sink.of("left", "status"), "Training")
    pid = backend.pid
    backend.close()
    assert gone(pid)
    assert sink.of("left", "finished") == []  # closed, not ended: a restart re-adopts it
    with pytest.raises(RuntimeError, match="closed"):
        backend.launch(spec("late"), sink)
    backend.close()  # twice is fine


def test_ctrl_c_in_the_terminal_does_not_take_the_runner_down(backend) -> None:
    sink = Sink()
    backend.launch(spec("i", wait="stop"), sink)
    sink.wait(lambda: sink.of("i", "status"), "Training")
    pid = backend.pid
    os.kill(pid, signal.SIGINT)  # what Ctrl-C sends to the whole process group
    backend.stop("i")
    assert sink.outcome("i").kind == "stopped"
    assert backend.pid == pid and not gone(pid)


def test_a_server_killed_with_minus_9_leaves_no_runner_behind(tmp_path) -> None:
    # No `if __name__ == "__main__"` guard: the runner does not import the server's script.
    script = textwrap.dedent("""
        import sys, time
        from orchestrator.runner.process_backend import ProcessBackend
        from tests.unit.runner import process_script
        backend = ProcessBackend(process_script.build)
        print(backend.pid, flush=True)
        time.sleep(600)
    """)
    path = tmp_path / "server.py"
    path.write_text(script)
    server = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        child = int(server.stdout.readline())
        assert not gone(child)
        server.kill()
        server.wait(timeout=TIMEOUT)
        wait_until(lambda: gone(child), "the runner to exit after its server")
    finally:
        server.kill()
        server.wait(timeout=TIMEOUT)


def test_a_batch_merges_a_job_s_consecutive_log_events_and_keeps_each_job_s_order() -> None:
    from orchestrator.runner.process_child import _Batch

    def line(text: str) -> LogLine:
        return LogLine(1.0, "stdout", "algo-1", text)

    batch = _Batch()
    for event in [("logs", "a", [line("a1")]), ("logs", "b", [line("b1")]),
                  ("logs", "a", [line("a2"), line("a3")]), ("status", "a", "Uploading", ""),
                  ("logs", "a", [line("a4")]), ("logs", "b", [line("b2")]),
                  ("reply", 7, True, None), ("finished", "b", JobOutcome("completed"))]:
        batch.add(event)
    texts = [(e[0], e[1], [ln.text for ln in e[2]] if e[0] == "logs" else e[2])
             for e in batch.events]
    assert texts == [("logs", "a", ["a1", "a2", "a3"]), ("logs", "b", ["b1", "b2"]),
                     ("status", "a", "Uploading"), ("logs", "a", ["a4"]), ("reply", 7, True),
                     ("finished", "b", JobOutcome("completed"))]
