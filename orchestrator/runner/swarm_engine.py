"""Docker Swarm: `ContainerEngine` (runner.engine) over a swarm manager's Engine API (issue 10).

One "container" of the protocol is one swarm service (`replicated`, one replica, restart
condition `none`) running one task; its id is the service name. Not `replicated-job`: Docker
before 24 leaves a removed job's running task (and its container) behind (moby/moby#44312,
reproduced on this machine's 20.10), so a stopped job would keep running. A replicated service
with restart `none` runs its task once, like a job, and scales to zero cleanly. What happens where:

- **Placement**: the swarm scheduler (spread). Each service is limited to the instance type's
  CPUs and memory. Reservations (`reserve_fraction` of the limits, on the stage-in helper that
  makes the placement decision) are OFF by default: Docker 20.10's constraint enforcer still
  counts the reservations of *completed* one-shot tasks and rejects new tasks on that
  node at random ("assigned node no longer meets constraints"). An instance type no node
  could ever hold fails at once, without retries, naming the largest node.
- **Images** come from a registry every node can pull from (`registry`): a local image is
  tagged `REGISTRY/NAME`, pushed once (per image id) and run by digest; a name that already
  names a registry is used as given. A node that cannot pull makes the task `rejected`: an
  InfraError quoting the node's error.
- **Files** (the protocol's "engine without a shared filesystem"): a one-shot helper service
  ("stage-in") with the job's reservations is placed by the scheduler, fetches a tar of the
  host folders from this engine's transfer endpoint (HTTP on `address`, one random token per
  transfer) and unpacks it into a node-local folder (`node_dir/smlocal-swarm/<id>` on the node).
  The training service is then pinned to that node and bind-mounts the sub-folders at the same
  container paths, so the user's image runs unmodified. When the task has ended a second helper
  ("stage-out") on that node sends the writable folders back (PUT) and deletes the node folder
  (on the manager's own node, a server running as root reads and deletes the folder itself);
  the tar is unpacked into the host folders only through `runner.confined` (regular files and
  folders; names checked, links and special files dropped). While the task runs, its
  checkpoint folders are also copied from the node's engine every `checkpoint_pull_seconds`
  (`runner.swarm_nodes`), so the periodic checkpoint sync works as on Docker wherever that
  engine is known; elsewhere checkpoints come back when the host ended.
- **Networks**: a per-job attachable overlay where each `algo-N` is a network alias of its
  service, and every host has its peers' virtual IPs in its /etc/hosts (`runner.swarm_names`:
  swarm's DNS forgets a host whose task ended, so a peer on another node that looks later
  would not find it). Jobs on the default network get an overlay of
  their own (egress through the node's docker_gwbridge to `address`); isolated jobs an internal
  overlay of their own with their host name on 127.0.0.1.
- **Logs**: `docker service logs` (the same multiplexed, timestamped stream as a container's),
  followed until the task ended, then read once more after the last timestamp seen.
- **Stop**: the service's placement gets a constraint no node meets; the node's agent sends
  SIGTERM and SIGKILL after the service's stop grace period (`stop_grace_seconds`, the
  server's), and the task ends `shutdown` with the container's exit code, its log and its node
  folder still there (the task stays in the service's history; its replacement pends and is
  ignored), so the files go back as after any other end. `kill` goes to the node's engine when
  it is known (swarm has no kill), else it is a stop; after a stop it has nothing left to do. A service removed from
  outside while stopping ends with the exit code swarm still reports, else 143 (or 137 after the
  grace).
- **Exit states**: a task's exit code as reported by swarm; OOM kills are read from the node's
  engine where one is known (`node_engines`: address → Docker URL; the manager's own node is
  always known), otherwise they look like SIGKILL from outside. A node that goes down or a task
  swarm orphans is an InfraError (retried under RetryStrategy).
- **Labels**: the service carries the request's labels plus `smlocal.swarm.*` (mounts, node
  folder), so a restarted server re-adopts services and still copies their files out.

Modules: this one (the protocol's operations), `swarm_services` (images, service specs,
placement and resources, staging helpers), `swarm_tasks` (tasks, states, logs),
`swarm_nodes` (node engines: OOM, SIGKILL, checkpoint copies), `swarm_transfer` (files).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

import docker
import requests
from docker.errors import DockerException, NotFound
from docker.types import ContainerSpec, Mount, Resources

from orchestrator.runner import engine as protocol
from orchestrator.runner.docker_client import new_docker_client
from orchestrator.runner.engine import ContainerRequest, ContainerState, InfraError
from orchestrator.runner.resources import HostCapacity
from orchestrator.runner.swarm_names import Names
from orchestrator.runner.swarm_nodes import Nodes, env_node_engines
from orchestrator.runner.swarm_services import (
    LOST,
    POLL,
    ROLE_LABEL,
    STOPPED_CONSTRAINT,
    TERMINAL,
    Services,
    gpus,
    job_labels,
    service_name,
)
from orchestrator.runner.swarm_sweep import Sweep
from orchestrator.runner.swarm_tasks import Tasks
from orchestrator.runner.swarm_transfer import TransferServer

log = logging.getLogger(__name__)

_START_TIMEOUT = 1800  # a first pull of a framework image on a slow node


def new_swarm_client() -> docker.DockerClient:
    return new_docker_client()  # the manager's engine API


class SwarmEngine(Services, Names, Sweep, Tasks, Nodes):
    """`ContainerEngine` on a swarm, talking to a manager (DOCKER_HOST or the local engine)."""

    def __init__(
        self,
        *,
        registry: str | None = None,
        address: str | None = None,
        stop_grace_seconds: float = 120.0,
        reserve_fraction: float = 0.0,
        helper_image: str = "smlocal/python-base:latest",
        node_dir: str = "/var/tmp",
        node_engines: dict[str, str] | None = None,
        checkpoint_pull_seconds: float = 5.0,
        factory: Callable[[], docker.DockerClient] = new_swarm_client,
        local_stage_out: bool | None = None,
    ) -> None:
        self.registry = registry or os.environ.get("SMLOCAL_SWARM_REGISTRY")
        self._address = address or os.environ.get("SMLOCAL_SWARM_ADDRESS")
        self.stop_grace_seconds = stop_grace_seconds
        self.reserve_fraction = reserve_fraction
        self.helper_image = helper_image
        self.node_dir = node_dir.rstrip("/")
        self.node_engines = dict(node_engines or env_node_engines())
        self.checkpoint_pull_seconds = checkpoint_pull_seconds  # <= 0: only when a host ends
        # swarm_services.Services._stage_out_here; SMLOCAL_SWARM_LOCAL_STAGE_OUT=0 turns it off
        self.local_stage_out = (os.environ.get("SMLOCAL_SWARM_LOCAL_STAGE_OUT", "1") != "0"
                                if local_stage_out is None else local_stage_out)
        self._factory = factory
        self._client: docker.DockerClient | None = None
        self._node_clients: dict[str, docker.DockerClient] = {}  # node engine URL → client
        self._lock = threading.RLock()
        self._pushed: dict[str, str] = {}  # local image id → REGISTRY/NAME@DIGEST
        self._push_lock = threading.Lock()  # pushes one at a time; guards _pushed
        self._pending: dict[str, ContainerRequest] = {}  # created, not started
        self._job_hosts: dict[str, dict[str, str]] = {}  # runner.swarm_names
        self._staged_out: set[str] = set()  # services whose node folder went back and is gone
        self._sweeper: threading.Thread | None = None  # runner.swarm_sweep
        # service id → (when smlocal removed it, the service, its task then)
        self._stopped: dict[str, tuple[float, dict | None, dict | None]] = {}
        self._transfer: TransferServer | None = None
        self._capacity: HostCapacity | None = None

    # ---- connection -----------------------------------------------------------------------

    @property
    def api(self):
        with self._lock:
            if self._client is None:
                try:
                    self._client = self._factory()
                except (DockerException, requests.RequestException) as exc:
                    raise InfraError(f"no Docker swarm manager answers: {exc}") from exc
            return self._client.api

    def close(self) -> None:
        self._join_sweep()
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            self._close_node_clients()
            if self._transfer is not None:
                self._transfer.close()
                self._transfer = None

    # ---- host -----------------------------------------------------------------------------

    def ping(self) -> None:
        try:
            self.api.ping()
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"no Docker swarm manager answers: {exc}") from exc

    def nodes(self) -> list[dict]:
        """Ready, active nodes."""
        try:
            found = self.api.nodes()
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"no Docker swarm manager answers: {exc}") from exc
        return [n for n in found if n["Status"]["State"] == "ready"
                and n["Spec"].get("Availability", "active") == "active"]

    def host_capacity(self) -> HostCapacity:
        """The largest node: what one container may use at most."""
        if self._capacity is None:
            nodes = self.nodes()
            if not nodes:
                raise InfraError("the swarm has no ready node")
            res = [n["Description"]["Resources"] for n in nodes]
            self._capacity = HostCapacity(
                max(int(r["NanoCPUs"] // 10**9) for r in res),
                max(int(r["MemoryBytes"]) for r in res),
                max(gpus(r) for r in res),
            )
        return self._capacity

    def host_address(self) -> str | None:
        if self._address:
            return self._address
        try:
            self._address = self.api.info()["Swarm"]["NodeAddr"] or None
        except (DockerException, requests.RequestException, KeyError) as exc:
            log.warning("no Docker swarm manager answers (%s)", exc)
        return self._address

    # ---- containers -----------------------------------------------------------------------

    def create(self, req: ContainerRequest) -> str:
        sid = service_name(req.name)
        with self._lock:
            self._pending[sid] = req
        self._register_host(sid, req)
        return sid

    def start(self, container_id: str) -> None:
        with self._lock:
            req = self._pending.pop(container_id, None)
        if req is None:
            raise InfraError(f"{container_id} was not created by this server", retryable=True)
        image = self.resolve_image(req.image)
        self._check_fits(req)
        resources = self._resources(req)
        node_root = f"{self.node_dir}/smlocal-swarm/{container_id}"
        networks = self._job_networks(container_id, req)
        peers = self._peer_addresses(req)  # reserves the VIPs of hosts not started yet
        # 1. stage-in, placed by the scheduler with the job's reservations
        node = self._stage_in(container_id, req, resources, node_root)
        # 2. the training service, pinned to that node
        mounts = [Mount(dst, f"{node_root}/m{i}", type="bind", read_only=ro)
                  for i, (_src, dst, ro) in enumerate(req.mounts)]
        hosts = peers
        if req.network == protocol.NO_NETWORK and req.extra_hosts:
            hosts = {name: ip for name, ip in req.extra_hosts.items() if ip}
        spec = ContainerSpec(
            image,
            command=req.entrypoint,
            args=req.command,
            hostname=req.hostname,
            env=req.environment,
            labels=req.labels,
            mounts=mounts,
            hosts=hosts,
            stop_grace_period=int(self.stop_grace_seconds * 1e9),
        )
        labels = job_labels(req, node_root)
        # Limits only: swarm 20.10's constraint enforcer still counts the reservations of
        # completed job tasks, so a pinned service with reservations is rejected at random
        # ("assigned node no longer meets constraints"). The scheduler's decision is made by
        # the stage-in helper, which reserves what the instance type needs.
        limits_only = Resources(cpu_limit=resources["Limits"].get("NanoCPUs"),
                                mem_limit=resources["Limits"].get("MemoryBytes"))
        reserved = self._service(container_id) if peers else None
        self._create_service(container_id, spec, limits_only, [f"node.id=={node}"], networks,
                             labels, reserved)
        self._wait_started(container_id)

    def _wait_started(self, sid: str) -> None:
        """Return once the task runs (or ended, or was stopped): like `docker start`, so the
        runtime clock (MaxRuntimeInSeconds) and a stop see a started container. A node still
        pulling the image keeps the task `preparing`; SageMaker does not count image download
        as training time either."""
        deadline = time.time() + _START_TIMEOUT
        while time.time() < deadline:
            with self._lock:
                if sid in self._stopped:
                    return
            task = self._task(sid)
            state = (task or {}).get("Status", {}).get("State")
            if state == "running" or state in TERMINAL or self._service(sid) is None:
                return
            time.sleep(POLL)
        log.warning("%s did not start within %d s; waiting for it as if it had", sid,
                    _START_TIMEOUT)

    # ---- stop, remove, state --------------------------------------------------------------

    def stop(self, container_id: str) -> None:
        """Move the service to a node that does not exist: swarm shuts the task down (SIGTERM,
        SIGKILL after the stop grace period) and keeps it, with its exit code and its log, in
        the service's task history; the replacement task pends forever and is never reported
        (`_task`). Scaling to zero or removing the service would delete the task, exit code
        and log with it, within a second of the shutdown."""
        self._shut_down(container_id)

    def kill(self, container_id: str) -> None:
        """SIGKILL, sent by the node's engine when we know it (`node_engines`; always for the
        manager's own node): swarm has no kill, and a service update cannot change the stop
        signal or grace period of a container that already runs. Elsewhere it is a stop
        (SIGKILL at the end of the grace period). After a stop there is nothing left to do."""
        with self._lock:
            if container_id in self._stopped:
                return
        if not self._kill_on_node(self._task(container_id)):
            self._shut_down(container_id)

    def _shut_down(self, container_id: str) -> None:
        with self._lock:
            known = container_id in self._stopped
        if known:
            return
        service = self._service(container_id)
        if service is None:
            return
        task = self._task(container_id)
        with self._lock:
            self._stopped.setdefault(container_id, (time.time(), service, task))
        template = service["Spec"]["TaskTemplate"]
        placement = template.setdefault("Placement", {})
        placement["Constraints"] = [*(placement.get("Constraints") or []), STOPPED_CONSTRAINT]
        try:
            self.api.update_service(container_id, version=service["Version"]["Index"],
                                    task_template=template, fetch_current_spec=True)
        except NotFound:
            return
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while stopping service {container_id}: {exc}",
                             retryable=True) from exc

    def remove(self, container_id: str) -> None:
        with self._lock:
            self._pending.pop(container_id, None)
            staged_out = container_id in self._staged_out
            self._staged_out.discard(container_id)
        service = self._service(container_id)
        task = self._task(container_id) if service is not None else None
        if service is not None:
            self._remove_service(container_id)
            state = (task or {}).get("Status", {}).get("State")
            if task is not None and not staged_out and state not in ("new", "pending",
                                                                     "assigned"):
                # the node folder is still there (not sent back): delete it
                self._wait_gone(container_id, task)
                with contextlib.suppress(InfraError):
                    self._clean_node(container_id, service, task)
        for suffix in ("-in", "-out", "-clean"):
            self._remove_service(container_id + suffix)
        self.remove_network(f"{container_id}-x")
        self.remove_network(container_id)
        with self._lock:
            self._stopped.pop(container_id, None)
        self._forget_service(container_id)

    def list_containers(self, label: str) -> list[ContainerState]:
        try:
            services = self.api.services(filters={"label": label})
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while listing services: {exc}") from exc
        states = [self._state(s["Spec"]["Name"], s) for s in services
                  if s["Spec"].get("Labels", {}).get(ROLE_LABEL) == "job"]
        key, _, value = label.partition("=")
        with self._lock:
            pending = list(self._pending.items())
        listed = {state.id for state in states}
        for sid, req in pending:
            if sid in listed:  # reserved (runner.swarm_names): listed as a created service
                continue
            if key in req.labels and (not value or req.labels[key] == value):
                states.append(ContainerState(sid, req.labels, "created", 0, False, None))
        return states

    def wait(self, container_id: str, abandoned: Callable[[], bool]) -> ContainerState | None:
        """Poll the task until it ended, send the files back, return its state."""
        while not abandoned():
            service = self._service(container_id)
            with self._lock:
                stopped = self._stopped.get(container_id)
            if service is None:
                if stopped is None:
                    raise InfraError(protocol.REMOVED_FROM_OUTSIDE)
                return self._after_stop(container_id, *stopped)
            task = self._task(container_id)
            state = (task or {}).get("Status", {}).get("State")
            if stopped is not None and (task is None or task["ID"] != (stopped[2] or {}).get("ID")):
                # Stopped: the task that ran shuts down (or is gone, removed from outside).
                return self._after_stop(container_id, *stopped)
            if task is not None:
                if state in LOST or self._node_down(task):
                    raise InfraError(f"node {task.get('NodeID', '?')[:12]} of {container_id} "
                                     f"was lost while the job ran ({state})")
                if state == "rejected":
                    raise InfraError(f"the swarm could not run {container_id} on node "
                                     f"{task.get('NodeID', '?')[:12]}: "
                                     f"{task['Status'].get('Err')}")
                if state in TERMINAL:
                    result = self._state(container_id, service, task)
                    self._stage_out(container_id, service, task)
                    return result
            time.sleep(POLL)
        return None

    def _after_stop(self, sid: str, stopped_at: float, service: dict | None,
                    last: dict | None) -> ContainerState:
        """stop() moved the task away (or the service was removed from outside): wait until
        the task shut down or is gone (the agent ran the grace period), then send the files
        back."""
        task = self._wait_gone(sid, last)
        status = (task or {}).get("Status", {})
        code = (status.get("ContainerStatus") or {}).get("ExitCode")
        if code is None or status.get("State") not in TERMINAL:
            # swarm no longer says: SIGTERM, or SIGKILL after the grace period
            code = 137 if time.time() - stopped_at >= self.stop_grace_seconds else 143
        if last is not None:
            self._stage_out(sid, service, task or last)
        state = self._state(sid, service, task or last)
        return ContainerState(sid, state.labels, "exited", int(code), state.oom_killed,
                              state.started_at)
