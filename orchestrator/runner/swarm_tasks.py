"""Watching a swarm service's task for the swarm engine (`runner.swarm_engine`): its newest
task and the protocol state read from it, its node's health, and its log (`docker service
logs`, the same multiplexed, timestamped stream as a container's), followed while the task runs.

While it follows a running task's log, the watcher also mirrors the task's checkpoint folders
to the host every `checkpoint_pull_seconds` (`runner.swarm_nodes`), so the lifecycle's periodic
checkpoint sync sees what the container wrote on its node.

`Tasks` is a mixin of `SwarmEngine`: it uses the engine's `api`, `_lock`, `stop_grace_seconds`,
`checkpoint_pull_seconds` and `_oom()`/`_pull_checkpoints()` of `runner.swarm_nodes`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import requests
from docker.errors import DockerException, NotFound

from orchestrator.runner import engine as protocol
from orchestrator.runner.docker_engine import _shutdown
from orchestrator.runner.engine import ContainerState, InfraError
from orchestrator.runner.logstream import iter_frames, parse_docker_timestamp, split_timestamp
from orchestrator.runner.swarm_services import LABEL, POLL, STOPPED_CONSTRAINT, TERMINAL


class Tasks:
    """Tasks, states and logs of services (a mixin of `SwarmEngine`)."""

    def _service(self, name: str) -> dict | None:
        try:
            return self.api.inspect_service(name)
        except NotFound:
            return None
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while inspecting service {name}: {exc}") from exc

    def _task(self, service: str) -> dict | None:
        """The service's newest task (None when it has none or is gone)."""
        try:
            tasks = self.api.tasks(filters={"service": service})
        except NotFound:
            return None
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while listing tasks of {service}: {exc}") from exc
        if not tasks:
            return None
        tasks = [t for t in tasks if STOPPED_CONSTRAINT not in (
            (t.get("Spec", {}).get("Placement") or {}).get("Constraints") or [])]
        if not tasks:
            return None
        tasks.sort(key=lambda t: t.get("CreatedAt", ""))
        live = [t for t in tasks if t.get("Status", {}).get("State") != "rejected"]
        if live:
            return live[-1]
        # A task rejected right after placement (the constraint enforcer still counted a
        # helper's reservation) is replaced by the job orchestrator: only repeated or lasting
        # rejections are final.
        first = parse_docker_timestamp(tasks[0].get("CreatedAt") or tasks[0]["Status"]["Timestamp"])
        if len(tasks) >= 3 or time.time() - first > 20:
            return tasks[-1]
        return None

    def _state(self, sid: str, service: dict | None, task: dict | None = None) -> ContainerState:
        labels = {k: v for k, v in ((service or {}).get("Spec", {}).get("Labels") or {}).items()
                  if not k.startswith(LABEL)}
        task = task or self._task(sid)
        status = (task or {}).get("Status", {})
        state = status.get("State", "new")
        code = int((status.get("ContainerStatus") or {}).get("ExitCode") or 0)
        if state == "running":
            kind = "running"
        elif state in TERMINAL:
            kind = "exited"
        else:
            kind = "created"
        started = None
        if kind != "created" and status.get("Timestamp"):
            started = parse_docker_timestamp(status["Timestamp"])
            if kind == "exited":
                started = parse_docker_timestamp(task.get("CreatedAt") or status["Timestamp"])
        return ContainerState(sid, labels, kind, code, self._oom(task) if code else False,
                              started)

    def _wait_gone(self, sid: str, task: dict | None) -> dict | None:
        """Wait until a stopped service's task is gone or shut down; the last seen. Not while
        its node is down: only that node's agent would shut the task down, so swarm keeps it
        as it was (a lost node's task would otherwise hold a retry for the whole wait), and
        nothing can run on that node after it anyway (`_helper`)."""
        if task is None:
            return None
        deadline = time.time() + self.stop_grace_seconds + 30
        last = task
        while time.time() < deadline:
            try:
                last = self.api.inspect_task(task["ID"])
            except NotFound:
                return last
            except (DockerException, requests.RequestException):
                return last
            if last.get("Status", {}).get("State") in TERMINAL - {"remove"}:
                return last
            if self._node_down(last):
                return last
            time.sleep(POLL)
        return last

    def _node_down(self, task: dict) -> bool:
        node = task.get("NodeID")
        if not node:
            return False
        try:
            return self.api.inspect_node(node)["Status"]["State"] == "down"
        except (DockerException, requests.RequestException, KeyError):
            return False

    def _service_log(self, name: str) -> str:
        lines: list[str] = []
        with contextlib.suppress(Exception):
            self.follow_logs(name, lambda _s, _t, b: lines.append(b.decode(errors="replace")),
                             follow=False)
        return "".join(lines)[-500:].strip()

    # ---- logs -----------------------------------------------------------------------------

    def follow_logs(
        self,
        container_id: str,
        on_chunk: protocol.LogHandler,
        *,
        since: float | None = None,
        follow: bool = True,
        register: Callable[[protocol.Cancel], None] = lambda cancel: None,
    ) -> None:
        """`docker service logs`: followed while the task runs, then read once more from the
        last timestamp seen (the follow stream of a service does not end with its task)."""
        seen = {"last": since or 0.0, "lines": set()}

        def emit(stream: str, timestamp: float, text: bytes) -> None:
            key = (timestamp, stream, text)
            if timestamp < seen["last"] or key in seen["lines"]:
                return
            if timestamp > seen["last"]:
                seen["last"], seen["lines"] = timestamp, set()
            seen["lines"].add(key)
            on_chunk(stream, timestamp, text)

        cancelled = threading.Event()

        def cancel_all(cut: protocol.Cancel) -> protocol.Cancel:
            def cancel() -> None:
                cancelled.set()
                cut()
            return cancel

        if follow:
            done = threading.Event()
            holder: list[protocol.Cancel] = []
            thread = threading.Thread(target=self._watch_task,
                                      args=(container_id, done, holder), daemon=True,
                                      name=f"smlocal-swarm-logs-{container_id}")

            def register_cut(cut: protocol.Cancel) -> None:
                holder.append(cut)
                register(cancel_all(cut))
                thread.start()

            try:
                self._read_logs(container_id, emit, since, True, register_cut)
            finally:
                done.set()
                if thread.is_alive():  # a checkpoint pull in progress ends before the files
                    thread.join()      # are sent back (`wait`)
            if cancelled.is_set():
                return
        with contextlib.suppress(InfraError):
            self._read_logs(container_id, emit, seen["last"] or since, False,
                            lambda cut: register(cancel_all(cut)))

    def _watch_task(self, sid: str, done: threading.Event,
                    cuts: list[protocol.Cancel]) -> None:
        """Cut the log stream (`cuts`) once the task ended, the service is gone or its node is
        down; meanwhile mirror its checkpoints to the host every `checkpoint_pull_seconds`."""
        pulled = time.monotonic()
        while not done.is_set():
            try:
                task = self._task(sid)
                state = (task or {}).get("Status", {}).get("State")
                if task is None and self._service(sid) is None:
                    break
                if state in TERMINAL:
                    time.sleep(1.0)  # let the last lines arrive
                    break
                if task is not None and self._node_down(task):
                    break  # its stream would never end; `wait` reports the loss
                if (state == "running" and self.checkpoint_pull_seconds > 0
                        and time.monotonic() - pulled >= self.checkpoint_pull_seconds):
                    self._pull_checkpoints(sid, task, done)
                    pulled = time.monotonic()
            except InfraError:
                pass
            done.wait(POLL)
        for cut in cuts:
            cut()

    def _read_logs(self, sid: str, emit, since: float | None, follow: bool,
                   register: Callable[[protocol.Cancel], None]) -> None:
        params = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": int(follow),
                  "tail": "all"}
        if since:
            params["since"] = f"{since:.9f}"
        api = self.api
        try:
            response = api._get(api._url("/services/{0}/logs", sid), params=params, stream=True)
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"cannot read the log of {sid}: {exc}") from exc
        try:
            try:
                api._raise_for_status(response)
            except (DockerException, requests.RequestException) as exc:
                raise InfraError(f"cannot read the log of {sid}: {exc}") from exc
            raw_socket = api._get_raw_response_socket(response)
            register(lambda: _shutdown(raw_socket))
            if follow:
                api._disable_socket_timeout(raw_socket)
            with contextlib.suppress(OSError, requests.RequestException, ValueError):
                for stream, payload in iter_frames(response.raw.read):
                    timestamp, text = split_timestamp(payload, time.time())
                    emit(stream, timestamp, text)
        finally:
            response.close()
