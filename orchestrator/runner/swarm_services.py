"""Swarm services of the swarm engine (`runner.swarm_engine`): images for every node, overlay
networks, the service spec (resources, placement), the one-shot helper services that move a
host's folders to and from its node (`runner.swarm_transfer`), and the names and labels.

`Services` is a mixin of `SwarmEngine`: it uses the engine's `api`, `_lock`, `_push_lock`,
`registry`, `helper_image`, `node_dir`, `reserve_fraction`, `_pushed`, `_transfer`,
`host_address()`, `nodes()`, `host_capacity()`, and `_task()`/`_service_log()`/`_node_down()`
of `runner.swarm_tasks`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import tarfile
import time
from pathlib import Path

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
from orchestrator.runner.docker_engine import remove_quietly
from orchestrator.runner.engine import ContainerRequest, InfraError
from orchestrator.runner.resources import GIB
from orchestrator.runner.swarm_transfer import (
    STAGE_IN,
    STAGE_OUT,
    TransferServer,
    pack_node_folder,
    unpack,
)

log = logging.getLogger(__name__)

LABEL = "smlocal.swarm"  # every service and network this engine makes carries it
MOUNTS_LABEL = f"{LABEL}.mounts"
ROLE_LABEL = f"{LABEL}.role"  # "job" | "helper"
POLL = 0.3
# A constraint no node meets (stop): the task it replaces shuts down and stays in the history.
STOPPED_CONSTRAINT = "node.labels.smlocal-stopped==true"
TERMINAL = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}
LOST = {"orphaned"}
_MAX_NAME = 50  # service names are DNS labels (63); helpers add "-out" and such


class Services:
    """Images, service specs and the staging helpers (a mixin of `SwarmEngine`)."""

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
        # one push at a time: jobs launched together would otherwise push the same image
        # concurrently, and the registry fails some of those pushes ("digest invalid",
        # "blob unknown to registry"); the others wait and reuse the first one's digest
        with self._push_lock:  # also guards `_pushed`
            return self._pushed.get(local["Id"]) or self._push(image, local["Id"])

    def _push(self, image: str, image_id: str) -> str:
        if not self.registry:
            raise InfraError(f"image {image} is local to the manager and no registry is set "
                             "(--registry HOST:PORT / SMLOCAL_SWARM_REGISTRY)", retryable=False)
        repo, tag = _split_tag(image)
        target = f"{self.registry}/{repo}"
        try:
            self.api.tag(image_id, target, tag)
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
        self._pushed[image_id] = pinned
        return pinned

    # ---- networks -------------------------------------------------------------------------

    def create_network(
        self, name: str, labels: dict[str, str], internal: bool, hosts: list[str]
    ) -> dict[str, str]:
        """An attachable overlay; names resolve through its DNS (service aliases), so no
        fixed addresses: every host maps to ""."""
        self.remove_network(name)
        self._forget_network(name)
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

    # ---- the training service -------------------------------------------------------------

    def _job_networks(self, sid: str, req: ContainerRequest) -> list[NetworkAttachmentConfig]:
        if req.network in (protocol.DEFAULT_NETWORK, protocol.NO_NETWORK):
            self.remove_network(sid)
            self._overlay(sid, {**req.labels, ROLE_LABEL: "own"},
                          req.network == protocol.NO_NETWORK)
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
               and gpus(n["Description"]["Resources"]) >= req.limits.gpus for n in nodes):
            return
        biggest = self.host_capacity()
        raise InfraError(
            f"no node of the swarm has the resources for {req.hostname}: it reserves "
            f"{cpus / 1e9:g} CPUs, {memory / GIB:.1f} GiB of memory and {req.limits.gpus} "
            f"GPUs; the largest of {len(nodes)} ready node(s) has {biggest.cpus} CPUs, "
            f"{biggest.memory_bytes / GIB:.1f} GiB and {biggest.gpus} GPUs", retryable=False)

    def _create_service(self, name: str, spec: ContainerSpec, resources: Resources | None,
                        constraints: list[str] | None, networks: list, labels: dict,
                        reserved: dict | None = None) -> None:
        """Create the service, or give a `reserved` one (`runner.swarm_names`: no replica,
        its VIP already handed to its peers) this spec and one replica; the VIP stays."""
        template = TaskTemplate(
            spec, resources=resources, restart_policy=RestartPolicy(condition="none"),
            placement=Placement(constraints=constraints) if constraints else None,
            networks=networks)
        mode, endpoint = ServiceMode("replicated", replicas=1), EndpointSpec(mode="vip")
        try:
            if reserved is None:
                self.api.create_service(template, name=name, labels=labels, mode=mode,
                                        endpoint_spec=endpoint)
            else:
                self.api.update_service(name, reserved["Version"]["Index"],
                                        task_template=template, name=name, labels=labels,
                                        mode=mode, endpoint_spec=endpoint)
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while creating service {name}: {exc}") from exc

    def _remove_service(self, name: str) -> None:
        remove_quietly(lambda: self.api.remove_service(name), f"service {name}")

    # ---- staging helpers ------------------------------------------------------------------

    def _helper(self, name: str, args: list[str], resources: Resources | None,
                constraints: list[str] | None, network: str) -> dict:
        """Run a helper task to its end; returns the task. InfraError when it failed."""
        image = self.resolve_image(self.helper_image)
        spec = ContainerSpec(image, command=["python3", "-c"], args=args,
                             mounts=[Mount("/node", self.node_dir, type="bind")])
        self._remove_service(name)
        self._create_service(name, spec, resources, constraints,
                             [NetworkAttachmentConfig(network)],
                             {LABEL: "1", ROLE_LABEL: "helper"})
        pinned = next((c.split("==", 1)[1] for c in constraints or []
                       if c.startswith("node.id==")), None)
        task = None
        try:
            while True:
                task = self._task(name)
                state = (task or {}).get("Status", {}).get("State")
                if state in TERMINAL:
                    if state != "complete":
                        raise InfraError(f"staging on node {task.get('NodeID', '?')[:12]} "
                                         f"failed ({state}): {task['Status'].get('Err')}; "
                                         f"{self._service_log(name)}")
                    return task
                if pinned and self._node_down({"NodeID": pinned}):
                    # its task would pend until the node comes back, maybe never
                    raise InfraError(f"node {pinned[:12]} is down: {name} cannot run there")
                time.sleep(POLL)
        finally:
            self._remove_service(name)

    def _stage_in(self, sid: str, req: ContainerRequest, resources: Resources,
                  node_root: str) -> str:
        transfer = self._transfer_server()
        token = transfer.offer(req.mounts)
        network = f"{sid}-x"
        self._overlay(network, {ROLE_LABEL: "helper"}, False)
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
        info = mounts_label(service)
        if info is None or task is None or not task.get("NodeID"):
            return
        mounts = [tuple(m) for m in info["mounts"]]
        writable = [f"m{i}" for i, (_s, _d, ro) in enumerate(mounts) if not ro]
        if self._stage_out_here(sid, info, mounts, writable, service, task):
            with self._lock:
                self._staged_out.add(sid)
            return
        transfer = self._transfer_server()
        token = transfer.expect(mounts)
        network = f"{sid}-x"
        self.remove_network(network)
        self._overlay(network, {ROLE_LABEL: "helper"}, False)
        try:
            self._helper(f"{sid}-out", [STAGE_OUT, transfer.url(token),
                                        "/node" + info["node_root"][len(self.node_dir):],
                                        *writable],
                         None, [f"node.id=={task['NodeID']}"], network)
            with self._lock:  # the node folder is gone: `remove` need not clean it
                self._staged_out.add(sid)
        finally:
            transfer.forget(token)
            self.remove_network(network)

    def _stage_out_here(self, sid: str, info: dict, mounts: list, writable: list[str],
                        service: dict | None, task: dict) -> bool:
        """Stage-out without a helper when the task ran on the manager's own node and its
        node folder is on this machine's disk: the same files, read here through `confined`
        and unpacked as the helper's PUT would be, then the folder deleted. Saves a helper
        service and an overlay network per job (measured: benchmarks/swarm.py). Only as root:
        `confined` skips what it cannot read, and a training container (root) leaves files a
        non-root server could neither read nor delete; the helper (root on the node) can.
        False when the helper has to do it."""
        if not self.local_stage_out or os.geteuid() != 0 \
                or self._node_engine(task["NodeID"]) != "":
            return False
        root = Path(info["node_root"])
        # the manager may be another machine (DOCKER_HOST): then no such folder is here; its
        # name ends in a random part, so one that exists is this job's
        if not root.is_dir() or root.is_symlink():
            return False
        try:
            unpack(pack_node_folder(root, writable), mounts)
        except (tarfile.TarError, OSError) as exc:
            raise InfraError(f"the files of {sid} could not be copied back from "
                             f"{root}: {exc}") from exc
        try:
            shutil.rmtree(root)
        except OSError as exc:
            log.warning("could not delete %s (%s); a helper deletes it", root, exc)
            if service is not None:
                self._clean_node(sid, service, task)
        return True

    def _clean_node(self, sid: str, service: dict, task: dict) -> None:
        info = mounts_label(service)
        if info is None:
            return
        network = f"{sid}-x"
        self.remove_network(network)
        self._overlay(network, {ROLE_LABEL: "helper"}, False)
        try:
            self._helper(f"{sid}-clean", [STAGE_OUT, "-", "/node" + info["node_root"][
                len(self.node_dir):]], None, [f"node.id=={task['NodeID']}"], network)
        finally:
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


# ---- names and labels -------------------------------------------------------------------------


def service_name(name: str) -> str:
    """`name` plus a random part: every create is a new id, as with Docker's container ids,
    so a retried host is never mistaken for the attempt before it (leftovers are found by
    their labels)."""
    suffix = secrets.token_hex(3)
    if len(name) > _MAX_NAME - 7:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[:_MAX_NAME - 18]}-{digest}"
    return f"{name}-{suffix}"


def job_labels(req: ContainerRequest, node_root: str) -> dict[str, str]:
    """The training service's labels: the request's, plus what a restarted server needs to
    send its files back (`MOUNTS_LABEL`)."""
    return {**req.labels, LABEL: "1", ROLE_LABEL: "job",
            MOUNTS_LABEL: json.dumps({"node_root": node_root, "mounts": req.mounts})}


def mounts_label(service: dict | None) -> dict | None:
    if not service:
        return None
    raw = (service.get("Spec", {}).get("Labels") or {}).get(MOUNTS_LABEL)
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


def gpus(resources: dict) -> int:
    total = 0
    for item in resources.get("GenericResources") or []:
        discrete = item.get("DiscreteResourceSpec") or {}
        if discrete.get("Kind", "").lower() in ("gpu", "nvidia-gpu"):
            total += int(discrete.get("Value") or 0)
    return total
