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
  ("stage-out") on that node sends the writable folders back (PUT) and deletes the node folder;
  the tar is unpacked into the host folders only through `runner.confined` (regular files and
  folders; names checked, links and special files dropped). Checkpoints therefore reach the
  host folders (and S3) when the job ends, not periodically.
- **Networks**: a per-job attachable overlay where each `algo-N` is a network alias of its
  service (DNS of the overlay; the service's virtual IP stays while the service exists, so a
  name still resolves after that host exited). Jobs on the default network get an overlay of
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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import (
    ContainerSpec,
    EndpointSpec,
    Mount,
    NetworkAttachmentConfig,
    Placement,
    Resources,
    RestartPolicy,
    ServiceMode,
    TaskTemplate,
)

from orchestrator.runner import engine as protocol
from orchestrator.runner.docker_client import new_docker_client
from orchestrator.runner.docker_engine import _shutdown, remove_quietly
from orchestrator.runner.engine import ContainerRequest, ContainerState, InfraError
from orchestrator.runner.logstream import iter_frames, parse_docker_timestamp, split_timestamp
from orchestrator.runner.resources import GIB, HostCapacity
from orchestrator.runner.swarm_transfer import STAGE_IN, STAGE_OUT, TransferServer

log = logging.getLogger(__name__)

LABEL = "smlocal.swarm"  # every service and network this engine makes carries it
_MOUNTS_LABEL = f"{LABEL}.mounts"
_ROLE_LABEL = f"{LABEL}.role"  # "job" | "helper"
_POLL = 0.3
# A constraint no node meets (stop): the task it replaces shuts down and stays in the history.
_STOPPED_CONSTRAINT = "node.labels.smlocal-stopped==true"
_START_TIMEOUT = 1800  # a first pull of a framework image on a slow node
_TERMINAL = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}
_LOST = {"orphaned"}
_MAX_NAME = 50  # service names are DNS labels (63); helpers add "-out" and such

def new_swarm_client() -> docker.DockerClient:
    return new_docker_client()  # the manager's engine API


class SwarmEngine:
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
        factory: Callable[[], docker.DockerClient] = new_swarm_client,
    ) -> None:
        self.registry = registry or os.environ.get("SMLOCAL_SWARM_REGISTRY")
        self._address = address or os.environ.get("SMLOCAL_SWARM_ADDRESS")
        self.stop_grace_seconds = stop_grace_seconds
        self.reserve_fraction = reserve_fraction
        self.helper_image = helper_image
        self.node_dir = node_dir.rstrip("/")
        self.node_engines = dict(node_engines or _env_node_engines())
        self._factory = factory
        self._client: docker.DockerClient | None = None
        self._lock = threading.RLock()
        self._pushed: dict[str, str] = {}  # local image id → REGISTRY/NAME@DIGEST
        self._pending: dict[str, ContainerRequest] = {}  # created, not started
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
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._transfer is not None:
                self._transfer.close()
                self._transfer = None

    # ---- host -----------------------------------------------------------------------------

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
                max(_gpus(r) for r in res),
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

    # ---- images ---------------------------------------------------------------------------

    def require_image(self, image: str) -> None:
        self.resolve_image(image)

    def resolve_image(self, image: str) -> str:
        """The name every node pulls: pushed to the registry (once per image id) and pinned
        by digest; registry-qualified names as given."""
        if _has_registry(image):
            return image
        try:
            local = self.api.inspect_image(image)
        except ImageNotFound as exc:
            raise InfraError(f"image {image} not found locally; build it or docker pull it "
                             "(the swarm backend pushes local images to its registry)") from exc
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while inspecting image {image}: {exc}") from exc
        with self._lock:
            known = self._pushed.get(local["Id"])
        if known:
            return known
        if not self.registry:
            raise InfraError(f"image {image} is local to the manager and no registry is set "
                             "(--registry HOST:PORT / SMLOCAL_SWARM_REGISTRY)", retryable=False)
        repo, tag = _split_tag(image)
        target = f"{self.registry}/{repo}"
        try:
            self.api.tag(local["Id"], target, tag)
            digest = None
            for event in self.api.push(target, tag, stream=True, decode=True):
                if "error" in event:
                    raise InfraError(f"pushing {image} to {self.registry} failed: "
                                     f"{event['error']}")
                digest = (event.get("aux") or {}).get("Digest") or digest
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"pushing {image} to {self.registry} failed: {exc}") from exc
        if not digest:
            raise InfraError(f"pushing {image} to {self.registry} returned no digest")
        pinned = f"{target}@{digest}"
        with self._lock:
            self._pushed[local["Id"]] = pinned
        return pinned

    # ---- networks -------------------------------------------------------------------------

    def create_network(
        self, name: str, labels: dict[str, str], internal: bool, hosts: list[str]
    ) -> dict[str, str]:
        """An attachable overlay; names resolve through its DNS (service aliases), so no
        fixed addresses: every host maps to ""."""
        self.remove_network(name)
        self._overlay(name, labels, internal)
        return dict.fromkeys(hosts, "")

    def _overlay(self, name: str, labels: dict[str, str], internal: bool) -> None:
        try:
            self.api.create_network(name, driver="overlay", attachable=True, internal=internal,
                                    labels={**labels, LABEL: "1"}, scope="swarm")
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while creating network {name}: {exc}") from exc

    def remove_network(self, name: str) -> None:
        for _ in range(20):  # a network is busy until the node let go of removed tasks
            try:
                self.api.remove_network(name)
                return
            except NotFound:
                return
            except APIError as exc:
                if exc.status_code not in (403, 409, 500):
                    log.warning("could not remove network %s: %s", name, exc)
                    return
            except (DockerException, requests.RequestException) as exc:
                log.warning("could not remove network %s: %s", name, exc)
                return
            time.sleep(0.5)
        log.warning("network %s still in use; left behind", name)

    # ---- containers -----------------------------------------------------------------------

    def create(self, req: ContainerRequest) -> str:
        sid = _service_name(req.name)
        with self._lock:
            self._pending[sid] = req
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
        # 1. stage-in, placed by the scheduler with the job's reservations
        node = self._stage_in(container_id, req, resources, node_root)
        # 2. the training service, pinned to that node
        mounts = [Mount(dst, f"{node_root}/m{i}", type="bind", read_only=ro)
                  for i, (_src, dst, ro) in enumerate(req.mounts)]
        hosts = None
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
        labels = {**req.labels, LABEL: "1", _ROLE_LABEL: "job",
                  _MOUNTS_LABEL: json.dumps({"node_root": node_root, "mounts": req.mounts})}
        # Limits only: swarm 20.10's constraint enforcer still counts the reservations of
        # completed job tasks, so a pinned service with reservations is rejected at random
        # ("assigned node no longer meets constraints"). The scheduler's decision is made by
        # the stage-in helper, which reserves what the instance type needs.
        limits_only = Resources(cpu_limit=resources["Limits"].get("NanoCPUs"),
                                mem_limit=resources["Limits"].get("MemoryBytes"))
        self._create_service(container_id, spec, limits_only, [f"node.id=={node}"], networks,
                             labels)
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
            if state == "running" or state in _TERMINAL or self._service(sid) is None:
                return
            time.sleep(_POLL)
        log.warning("%s did not start within %d s; waiting for it as if it had", sid,
                    _START_TIMEOUT)

    def _job_networks(self, sid: str, req: ContainerRequest) -> list[NetworkAttachmentConfig]:
        if req.network in (protocol.DEFAULT_NETWORK, protocol.NO_NETWORK):
            self.remove_network(sid)
            self._overlay(sid, {**req.labels, _ROLE_LABEL: "own"}, req.network == protocol.NO_NETWORK)
            return [NetworkAttachmentConfig(sid, aliases=[req.hostname])]
        return [NetworkAttachmentConfig(req.network, aliases=list(req.aliases))]

    def _resources(self, req: ContainerRequest) -> Resources:
        limits = req.limits
        fraction = self.reserve_fraction
        return Resources(cpu_limit=limits.nano_cpus, mem_limit=limits.memory_bytes,
                         cpu_reservation=int(limits.nano_cpus * fraction),
                         mem_reservation=int(limits.memory_bytes * fraction),
                         generic_resources={"gpu": limits.gpus} if limits.gpus else None)

    def _check_fits(self, req: ContainerRequest) -> None:
        """No node could ever run it: a clear, final error (the task would pend forever)."""
        cpus = req.limits.nano_cpus * self.reserve_fraction
        memory = req.limits.memory_bytes * self.reserve_fraction
        nodes = self.nodes()
        if any(n["Description"]["Resources"]["NanoCPUs"] >= cpus
               and n["Description"]["Resources"]["MemoryBytes"] >= memory
               and _gpus(n["Description"]["Resources"]) >= req.limits.gpus for n in nodes):
            return
        biggest = self.host_capacity()
        raise InfraError(
            f"no node of the swarm has the resources for {req.hostname}: it reserves "
            f"{cpus / 1e9:g} CPUs, {memory / GIB:.1f} GiB of memory and {req.limits.gpus} "
            f"GPUs; the largest of {len(nodes)} ready node(s) has {biggest.cpus} CPUs, "
            f"{biggest.memory_bytes / GIB:.1f} GiB and {biggest.gpus} GPUs", retryable=False)

    def _create_service(self, name: str, spec: ContainerSpec, resources: Resources | None,
                        constraints: list[str] | None, networks: list, labels: dict) -> None:
        template = TaskTemplate(
            spec, resources=resources, restart_policy=RestartPolicy(condition="none"),
            placement=Placement(constraints=constraints) if constraints else None,
            networks=networks)
        try:
            self.api.create_service(
                template, name=name, labels=labels, mode=ServiceMode("replicated", replicas=1),
                endpoint_spec=EndpointSpec(mode="vip"))
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while creating service {name}: {exc}") from exc

    def _helper(self, name: str, args: list[str], resources: Resources | None,
                constraints: list[str] | None, network: str) -> dict:
        """Run a helper task to its end; returns the task. InfraError when it failed."""
        image = self.resolve_image(self.helper_image)
        spec = ContainerSpec(image, command=["python3", "-c"], args=args,
                             mounts=[Mount("/node", self.node_dir, type="bind")])
        self._remove_service(name)
        self._create_service(name, spec, resources, constraints,
                             [NetworkAttachmentConfig(network)],
                             {LABEL: "1", _ROLE_LABEL: "helper"})
        pinned = next((c.split("==", 1)[1] for c in constraints or []
                       if c.startswith("node.id==")), None)
        task = None
        try:
            while True:
                task = self._task(name)
                state = (task or {}).get("Status", {}).get("State")
                if state in _TERMINAL:
                    if state != "complete":
                        raise InfraError(f"staging on node {task.get('NodeID', '?')[:12]} "
                                         f"failed ({state}): {task['Status'].get('Err')}; "
                                         f"{self._service_log(name)}")
                    return task
                if pinned and self._node_down({"NodeID": pinned}):
                    # its task would pend until the node comes back, maybe never
                    raise InfraError(f"node {pinned[:12]} is down: {name} cannot run there")
                time.sleep(_POLL)
        finally:
            self._remove_service(name)

    def _stage_in(self, sid: str, req: ContainerRequest, resources: Resources,
                  node_root: str) -> str:
        transfer = self._transfer_server()
        token = transfer.offer(req.mounts)
        network = f"{sid}-x"
        self._overlay(network, {_ROLE_LABEL: "helper"}, False)
        try:
            task = self._helper(f"{sid}-in", [STAGE_IN, transfer.url(token),
                                              "/node" + node_root[len(self.node_dir):]],
                                resources, None, network)
        finally:
            transfer.forget(token)
            self.remove_network(network)
        return task["NodeID"]

    def _stage_out(self, sid: str, service: dict | None, task: dict | None) -> None:
        """Send the writable folders back and delete the node folder."""
        info = _mounts_label(service)
        if info is None or task is None or not task.get("NodeID"):
            return
        mounts = [tuple(m) for m in info["mounts"]]
        writable = [f"m{i}" for i, (_s, _d, ro) in enumerate(mounts) if not ro]
        transfer = self._transfer_server()
        token = transfer.expect(mounts)
        network = f"{sid}-x"
        self.remove_network(network)
        self._overlay(network, {_ROLE_LABEL: "helper"}, False)
        try:
            self._helper(f"{sid}-out", [STAGE_OUT, transfer.url(token),
                                        "/node" + info["node_root"][len(self.node_dir):],
                                        *writable],
                         None, [f"node.id=={task['NodeID']}"], network)
        finally:
            transfer.forget(token)
            self.remove_network(network)

    def _transfer_server(self) -> TransferServer:
        with self._lock:
            if self._transfer is None:
                address = self.host_address()
                if not address:
                    raise InfraError("the swarm manager's address is unknown; set "
                                     "SMLOCAL_SWARM_ADDRESS")
                self._transfer = TransferServer(address)
            return self._transfer

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
        task = self._task(container_id)
        cid = ((task or {}).get("Status", {}).get("ContainerStatus") or {}).get("ContainerID")
        url = self._node_engine(task.get("NodeID", "")) if task else None
        if cid and url is not None:
            try:
                if url == "":
                    self.api.kill(cid)
                else:
                    with docker.APIClient(base_url=url, timeout=10) as node:
                        node.kill(cid)
                return
            except NotFound:
                return
            except (DockerException, requests.RequestException) as exc:
                log.warning("could not kill %s on its node (%s); stopping it instead",
                            container_id, exc)
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
        placement["Constraints"] = [*(placement.get("Constraints") or []), _STOPPED_CONSTRAINT]
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
        service = self._service(container_id)
        task = self._task(container_id) if service is not None else None
        if service is not None:
            self._remove_service(container_id)
            state = (task or {}).get("Status", {}).get("State")
            if task is not None and state not in ("new", "pending", "assigned"):
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

    def _clean_node(self, sid: str, service: dict, task: dict) -> None:
        info = _mounts_label(service)
        if info is None:
            return
        network = f"{sid}-x"
        self.remove_network(network)
        self._overlay(network, {_ROLE_LABEL: "helper"}, False)
        try:
            self._helper(f"{sid}-clean", [STAGE_OUT, "-", "/node" + info["node_root"][
                len(self.node_dir):]], None, [f"node.id=={task['NodeID']}"], network)
        finally:
            self.remove_network(network)

    def _remove_service(self, name: str) -> None:
        remove_quietly(lambda: self.api.remove_service(name), f"service {name}")

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
        tasks = [t for t in tasks if _STOPPED_CONSTRAINT not in (
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

    def list_containers(self, label: str) -> list[ContainerState]:
        try:
            services = self.api.services(filters={"label": label})
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while listing services: {exc}") from exc
        states = [self._state(s["Spec"]["Name"], s) for s in services
                  if s["Spec"].get("Labels", {}).get(_ROLE_LABEL) == "job"]
        key, _, value = label.partition("=")
        with self._lock:
            pending = list(self._pending.items())
        for sid, req in pending:
            if key in req.labels and (not value or req.labels[key] == value):
                states.append(ContainerState(sid, req.labels, "created", 0, False, None))
        return states

    def _state(self, sid: str, service: dict | None, task: dict | None = None) -> ContainerState:
        labels = {k: v for k, v in ((service or {}).get("Spec", {}).get("Labels") or {}).items()
                  if not k.startswith(LABEL)}
        task = task or self._task(sid)
        status = (task or {}).get("Status", {})
        state = status.get("State", "new")
        code = int((status.get("ContainerStatus") or {}).get("ExitCode") or 0)
        if state == "running":
            kind = "running"
        elif state in _TERMINAL:
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

    def _oom(self, task: dict | None) -> bool:
        """OOMKilled of the task's container, from its node's engine when we know one."""
        if not task:
            return False
        cid = (task.get("Status", {}).get("ContainerStatus") or {}).get("ContainerID")
        url = self._node_engine(task.get("NodeID", ""))
        if not cid or url is None:
            return False
        try:
            if url == "":
                info = self.api.inspect_container(cid)
            else:
                with docker.APIClient(base_url=url, timeout=10) as node:
                    info = node.inspect_container(cid)
            return bool(info["State"].get("OOMKilled"))
        except (DockerException, requests.RequestException, KeyError):
            return False

    def _node_engine(self, node_id: str) -> str | None:
        """"" for the manager's own node, a Docker URL from `node_engines`, else None."""
        try:
            if node_id == self.api.info()["Swarm"]["NodeID"]:
                return ""
            addr = self.api.inspect_node(node_id)["Status"].get("Addr", "")
        except (DockerException, requests.RequestException, KeyError):
            return None
        return self.node_engines.get(addr)

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
                if state in _LOST or self._node_down(task):
                    raise InfraError(f"node {task.get('NodeID', '?')[:12]} of {container_id} "
                                     f"was lost while the job ran ({state})")
                if state == "rejected":
                    raise InfraError(f"the swarm could not run {container_id} on node "
                                     f"{task.get('NodeID', '?')[:12]}: "
                                     f"{task['Status'].get('Err')}")
                if state in _TERMINAL:
                    result = self._state(container_id, service, task)
                    self._stage_out(container_id, service, task)
                    return result
            time.sleep(_POLL)
        return None

    def _after_stop(self, sid: str, stopped_at: float, service: dict | None,
                    last: dict | None) -> ContainerState:
        """stop() moved the task away (or the service was removed from outside): wait until
        the task shut down or is gone (the agent ran the grace period), then send the files
        back."""
        task = self._wait_gone(sid, last)
        status = (task or {}).get("Status", {})
        code = (status.get("ContainerStatus") or {}).get("ExitCode")
        if code is None or status.get("State") not in _TERMINAL:
            # swarm no longer says: SIGTERM, or SIGKILL after the grace period
            code = 137 if time.time() - stopped_at >= self.stop_grace_seconds else 143
        if last is not None:
            self._stage_out(sid, service, task or last)
        state = self._state(sid, service, task or last)
        return ContainerState(sid, state.labels, "exited", int(code), state.oom_killed,
                              state.started_at)

    def _wait_gone(self, sid: str, task: dict | None) -> dict | None:
        """Wait until a stopped service's task is gone or shut down; the last seen."""
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
            if last.get("Status", {}).get("State") in _TERMINAL - {"remove"}:
                return last
            time.sleep(_POLL)
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

            def watcher() -> None:
                while not done.is_set():
                    try:
                        task = self._task(container_id)
                        state = (task or {}).get("Status", {}).get("State")
                        if task is None and self._service(container_id) is None:
                            break
                        if state in _TERMINAL:
                            time.sleep(1.0)  # let the last lines arrive
                            break
                        if task is not None and self._node_down(task):
                            break  # its stream would never end; `wait` reports the loss
                    except InfraError:
                        pass
                    done.wait(_POLL)
                for cut in holder:
                    cut()

            thread = threading.Thread(target=watcher, daemon=True,
                                      name=f"smlocal-swarm-logs-{container_id}")

            def register_cut(cut: protocol.Cancel) -> None:
                holder.append(cut)
                register(cancel_all(cut))
                thread.start()

            try:
                self._read_logs(container_id, emit, since, True, register_cut)
            finally:
                done.set()
            if cancelled.is_set():
                return
        with contextlib.suppress(InfraError):
            self._read_logs(container_id, emit, seen["last"] or since, False,
                            lambda cut: register(cancel_all(cut)))

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


# ---- helpers --------------------------------------------------------------------------------


def _service_name(name: str) -> str:
    """`name` plus a random part: every create is a new id, as with Docker's container ids,
    so a retried host is never mistaken for the attempt before it (leftovers are found by
    their labels)."""
    suffix = secrets.token_hex(3)
    if len(name) > _MAX_NAME - 7:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[:_MAX_NAME - 18]}-{digest}"
    return f"{name}-{suffix}"


def _mounts_label(service: dict | None) -> dict | None:
    if not service:
        return None
    raw = (service.get("Spec", {}).get("Labels") or {}).get(_MOUNTS_LABEL)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _has_registry(image: str) -> bool:
    first, sep, _rest = image.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def _split_tag(image: str) -> tuple[str, str]:
    if "@" in image:
        return image.split("@", 1)[0], "latest"
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return image, "latest"
    return name, tag


def _gpus(resources: dict) -> int:
    total = 0
    for item in resources.get("GenericResources") or []:
        discrete = item.get("DiscreteResourceSpec") or {}
        if discrete.get("Kind", "").lower() in ("gpu", "nvidia-gpu"):
            total += int(discrete.get("Value") or 0)
    return total


def _env_node_engines() -> dict[str, str]:
    """SMLOCAL_SWARM_NODE_ENGINES="ADDR=URL,ADDR=URL": node address → its Docker URL."""
    raw = os.environ.get("SMLOCAL_SWARM_NODE_ENGINES", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {addr.strip(): url.strip() for addr, url in pairs}

