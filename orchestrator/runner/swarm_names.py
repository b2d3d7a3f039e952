"""Host names of a multi-instance job on the swarm engine (`runner.swarm_engine`): every
`algo-N` resolves on every host for the whole job, as on SageMaker.

Why not the overlay's DNS alone: swarm's DNS drops a service's name when its last task ends,
and names reach other nodes by gossip. A host that exits quickly (the peer resolved it,
did its part, left) is then unknown to a host on another node that looks a moment later:
seen on the two-node lab, where algo-1 on node 2 did not resolve algo-2 within 180 s after
algo-2 had run for 2 s on node 1. The SageMaker training toolkit waits for every host name
before it runs the user's script, so that job would hang and fail.

What we do: a service's virtual IP (VIP) is allocated when the service is created, even with
no replica, and kept across updates. At a job's first `start`, every host's service that does
not exist yet is created with no replica ("reserved"), so all VIPs are known; each host's
service is then created (or, when reserved, updated to its real spec and one replica) with
its peers' VIPs in its /etc/hosts (ContainerSpec.Hosts). The name keeps resolving after the
peer ended, like the Docker engine's fixed addresses (`DockerEngine.create_network`). A
reserved service carries the job's labels and counts as a created container, so a restarted
server finds and removes it like any other leftover.

`Names` is a mixin of `SwarmEngine`: it uses the engine's `api`, `_lock`, `_pending`,
`resolve_image()` and `_service()`.
"""

from __future__ import annotations

import time

import requests
from docker.errors import DockerException
from docker.types import (
    ContainerSpec,
    EndpointSpec,
    NetworkAttachmentConfig,
    RestartPolicy,
    ServiceMode,
    TaskTemplate,
)

from orchestrator.runner import engine as protocol
from orchestrator.runner.engine import ContainerRequest, InfraError
from orchestrator.runner.swarm_services import LABEL, POLL, ROLE_LABEL

_VIP_TIMEOUT = 30.0  # the allocator assigns a VIP within a second here


class Names:
    """Every host's VIP in every host's /etc/hosts (a mixin of `SwarmEngine`)."""

    _job_hosts: dict[str, dict[str, str]]  # per-job network → {host name: service id}

    def _register_host(self, sid: str, req: ContainerRequest) -> None:
        if _per_job(req):
            with self._lock:
                self._job_hosts.setdefault(req.network, {})[req.hostname] = sid

    def _forget_network(self, name: str) -> None:
        with self._lock:
            self._job_hosts.pop(name, None)

    def _forget_service(self, sid: str) -> None:
        with self._lock:
            for hosts in self._job_hosts.values():
                for host in [h for h, s in hosts.items() if s == sid]:
                    del hosts[host]

    def _peer_addresses(self, req: ContainerRequest) -> dict[str, str] | None:
        """{peer host: its VIP on the job's network}, reserving the services of hosts not
        started yet; None for a job of one host or without a per-job network."""
        if not _per_job(req):
            return None
        with self._lock:
            hosts = dict(self._job_hosts.get(req.network, {}))
            pending = dict(self._pending)
        peers = {h: sid for h, sid in hosts.items() if h != req.hostname}
        if not peers:
            return None
        for sid in hosts.values():
            other = pending.get(sid, req)
            if self._service(sid) is None:
                self._reserve(sid, other)
        network_id = self._network_id(req.network)
        return {host: self._vip(sid, network_id) for host, sid in peers.items()}

    def _reserve(self, sid: str, req: ContainerRequest) -> None:
        template = TaskTemplate(
            ContainerSpec(self.resolve_image(req.image), hostname=req.hostname),
            restart_policy=RestartPolicy(condition="none"),
            networks=[NetworkAttachmentConfig(req.network, aliases=list(req.aliases))])
        try:
            self.api.create_service(
                template, name=sid, labels={**req.labels, LABEL: "1", ROLE_LABEL: "job"},
                mode=ServiceMode("replicated", replicas=0), endpoint_spec=EndpointSpec("vip"))
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while creating service {sid}: {exc}") from exc

    def _network_id(self, name: str) -> str:
        try:
            return self.api.inspect_network(name)["Id"]
        except (DockerException, requests.RequestException, KeyError) as exc:
            raise InfraError(f"Docker error while inspecting network {name}: {exc}") from exc

    def _vip(self, sid: str, network_id: str) -> str:
        deadline = time.time() + _VIP_TIMEOUT
        while True:
            service = self._service(sid)
            if service is None:
                raise InfraError(f"service {sid} was removed while its job started")
            for vip in (service.get("Endpoint") or {}).get("VirtualIPs") or []:
                if vip.get("NetworkID") == network_id and vip.get("Addr"):
                    return vip["Addr"].split("/", 1)[0]
            if time.time() > deadline:
                raise InfraError(f"the swarm gave service {sid} no virtual IP within "
                                 f"{_VIP_TIMEOUT:g} s")
            time.sleep(POLL)


def _per_job(req: ContainerRequest) -> bool:
    return req.network not in (protocol.DEFAULT_NETWORK, protocol.NO_NETWORK)
