"""The local Docker engine: `ContainerEngine` (runner.engine) over the Docker Engine API.

Everything Docker-specific lives here: the docker-py low-level client (connected on first use),
bind mounts, per-job bridge networks with fixed addresses, the default bridge's gateway as the
address containers reach our S3 at, GPU device requests, the json-file log driver. Every Docker
failure becomes `InfraError` (retryable under RetryStrategy, spec §3.1 R7). Log streaming reads
the multiplexed logs endpoint itself because docker-py's streaming helpers drop the stream type
(stdout vs stderr), which metric parsing and logs keep.
"""

from __future__ import annotations

import contextlib
import glob
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import DeviceRequest, IPAMConfig, IPAMPool, LogConfig

from orchestrator.runner.docker_client import new_docker_client
from orchestrator.runner.engine import (
    DEFAULT_NETWORK,
    REMOVED_FROM_OUTSIDE,
    Cancel,
    ContainerRequest,
    ContainerState,
    InfraError,
    LogHandler,
)
from orchestrator.runner.logstream import iter_frames, parse_docker_timestamp, split_timestamp
from orchestrator.runner.resources import HostCapacity

log = logging.getLogger(__name__)

_WAIT_POLL_SECONDS = 5.0  # bounded waits, so close() can abandon a waiter


class DockerEngine:
    """`ContainerEngine` on the local Docker engine. Connects on first use, so a server starts
    without an engine and each job then reports "no Docker engine answers" (retryable)."""

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        factory: Callable[[], docker.DockerClient] = new_docker_client,
    ) -> None:
        self._client = client
        self._owns_client = client is None  # a client given to us is the caller's to close
        self._factory = factory
        self._lock = threading.Lock()
        self._capacity: HostCapacity | None = None

    @property
    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                try:
                    self._client = self._factory()
                except (DockerException, requests.RequestException) as exc:
                    raise InfraError(f"no Docker engine answers: {exc}") from exc
            return self._client

    @property
    def api(self):
        return self.client.api

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._owns_client:
                self._client.close()
                self._client = None

    # ---- host -----------------------------------------------------------------------------

    def host_capacity(self) -> HostCapacity:
        """CPUs and memory of the engine's machine (cached)."""
        if self._capacity is None:
            try:
                info = self.api.info()
            except (DockerException, requests.RequestException) as exc:
                raise InfraError(f"no Docker engine answers: {exc}") from exc
            # NVIDIA devices of this machine (the engine does not report GPUs); override for
            # remote engines with SMLOCAL_HOST_GPUS.
            override = os.environ.get("SMLOCAL_HOST_GPUS")
            gpus = int(override) if override is not None else _local_gpu_count()
            cpus = int(info.get("NCPU") or os.cpu_count() or 1)
            self._capacity = HostCapacity(cpus, int(info["MemTotal"]), gpus)
        return self._capacity

    def ping(self) -> None:
        try:
            self.api.ping()
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"no Docker engine answers: {exc}") from exc

    def host_address(self) -> str | None:
        """The default bridge's gateway: containers on it reach a server listening there.
        None (logged) when no engine answers: each job then reports the engine's absence."""
        try:
            return self.bridge_gateway()
        except (InfraError, DockerException, requests.RequestException) as exc:
            log.warning("no Docker engine answers (%s); training jobs will fail until one does",
                        exc)
            return None

    def bridge_gateway(self) -> str:
        """IP of the default bridge's gateway: how containers reach a server on the host."""
        network = self.api.inspect_network(DEFAULT_NETWORK)
        for config in network.get("IPAM", {}).get("Config") or []:
            if config.get("Gateway"):
                return config["Gateway"].split("/")[0]
            if config.get("Subnet"):  # docker0 takes the subnet's first address
                return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
        return "172.17.0.1"

    # ---- images and networks --------------------------------------------------------------

    def require_image(self, image: str) -> None:
        try:
            self.api.inspect_image(image)
        except ImageNotFound as exc:
            raise _missing(image) from exc
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while inspecting image {image}: {exc}") from exc

    def create_network(
        self, name: str, labels: dict[str, str], internal: bool, hosts: list[str]
    ) -> dict[str, str]:
        """A per-job bridge network with a fixed IP per host; returns {host: ip}.

        Fixed IPs go into every container's /etc/hosts, so `algo-N` resolves for the whole
        job as on SageMaker, even after that host's container exited: Docker's DNS forgets
        stopped containers, and the training toolkit of a peer that starts later then waits
        15 minutes for the name. Docker only accepts fixed IPs on networks with a configured
        subnet, so the network is created once to let Docker pick a free subnet, then
        recreated with that subnet spelled out.
        """
        self.remove_network(name)
        # internal=True alone still lets containers reach the host's own addresses (our
        # S3 included); without an IPv4 address on the bridge the host is unreachable,
        # while peers still talk over the bridge.
        options = {"com.docker.network.bridge.inhibit_ipv4": "true"} if internal else None
        try:
            self.api.create_network(name, driver="bridge", internal=internal, labels=labels)
            config = (self.api.inspect_network(name).get("IPAM", {}).get("Config") or [{}])[0]
            self.api.remove_network(name)
            subnet = ipaddress.ip_network(config["Subnet"])
            gateway = config.get("Gateway") or str(next(subnet.hosts()))
            pool = IPAMPool(subnet=str(subnet), gateway=gateway)
            self.api.create_network(
                name,
                driver="bridge",
                internal=internal,
                labels=labels,
                options=options,
                ipam=IPAMConfig(pool_configs=[pool]),
            )
        except (DockerException, requests.RequestException, KeyError, ValueError) as exc:
            raise InfraError(f"Docker error while creating network {name}: {exc}") from exc
        free = (str(ip) for ip in subnet.hosts() if str(ip) != gateway)
        return {host: next(free) for host in hosts}

    def sweep(self) -> None:
        """Nothing outside containers and networks: host folders are the lifecycle's."""

    def remove_network(self, name: str) -> None:
        remove_quietly(lambda: self.api.remove_network(name), f"network {name}")

    # ---- containers -----------------------------------------------------------------------

    def create(self, req: ContainerRequest) -> str:
        limits = req.limits
        host_config = self.api.create_host_config(
            binds={
                src: {"bind": dst, "mode": "ro" if ro else "rw"} for src, dst, ro in req.mounts
            },
            nano_cpus=limits.nano_cpus,
            mem_limit=limits.memory_bytes,
            memswap_limit=limits.memory_bytes,  # no swap: over the limit is an OOM kill
            # PyTorch data loaders need more than Docker's 64 MiB /dev/shm; instances have lots.
            shm_size=max(64 * 1024**2, limits.memory_bytes // 2),
            network_mode=req.network,
            device_requests=[DeviceRequest(count=limits.gpus, capabilities=[["gpu"]])]
            if limits.gpus
            else None,
            log_config=LogConfig(type="json-file"),  # readable through the logs endpoint
            extra_hosts=req.extra_hosts,
        )
        networking = None
        if req.aliases:
            networking = self.api.create_networking_config(
                {
                    req.network: self.api.create_endpoint_config(
                        aliases=list(req.aliases), ipv4_address=req.ip
                    )
                }
            )
        try:
            return self.api.create_container(
                req.image,
                command=req.command,
                entrypoint=req.entrypoint,
                hostname=req.hostname,
                environment=req.environment,
                labels=req.labels,
                host_config=host_config,
                networking_config=networking,
                name=req.name,
                detach=True,
            )["Id"]
        except ImageNotFound as exc:
            raise _missing(req.image) from exc
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while creating container {req.name}: {exc}") from exc

    def start(self, container_id: str) -> None:
        try:
            self.api.start(container_id)
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while starting the container: {exc}") from exc

    def stop(self, container_id: str) -> None:
        self._signal(container_id, "SIGTERM")

    def kill(self, container_id: str) -> None:
        self._signal(container_id, "SIGKILL")

    def _signal(self, container_id: str, signal: str) -> None:
        try:
            self.api.kill(container_id, signal=signal)
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code != 409:  # 409: not running any more
                log.warning("could not send %s to %s: %s", signal, container_id[:12], exc)
        except (DockerException, requests.RequestException) as exc:
            log.warning("could not send %s to %s: %s", signal, container_id[:12], exc)

    def remove(self, container_id: str) -> None:
        remove_quietly(lambda: self.api.remove_container(container_id, force=True, v=True),
                       f"container {container_id[:12]}")

    def list_containers(self, label: str) -> list[ContainerState]:
        """Containers carrying `label` (`key` or `key=value`), with their state."""
        try:
            found = self.api.containers(all=True, filters={"label": label})
            states = []
            for container in found:
                try:
                    states.append(self.state(container["Id"]))
                except NotFound:  # removed since it was listed: not there any more
                    continue
            return states
        except (DockerException, requests.RequestException) as exc:
            raise InfraError(f"Docker error while listing containers: {exc}") from exc

    def state(self, container_id: str) -> ContainerState:
        info = self.api.inspect_container(container_id)
        state = info["State"]
        started = state.get("StartedAt") or ""
        started_at = None
        if started and not started.startswith("0001-"):
            started_at = parse_docker_timestamp(started)
        return ContainerState(
            container_id,
            info["Config"].get("Labels") or {},
            state.get("Status", ""),
            int(state.get("ExitCode") or 0),
            bool(state.get("OOMKilled")),
            started_at,
        )

    def wait(self, container_id: str, abandoned: Callable[[], bool]) -> ContainerState | None:
        """Block until the container exits; None if `abandoned()` turns true first."""
        while not abandoned():
            try:
                self.api.wait(container_id, timeout=_WAIT_POLL_SECONDS)
                return self.state(container_id)
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                continue
            except NotFound:
                raise InfraError(REMOVED_FROM_OUTSIDE) from None
            except (DockerException, requests.RequestException) as exc:
                log.warning("waiting for %s: %s", container_id[:12], exc)
                time.sleep(0.5)
        return None

    def follow_logs(
        self,
        container_id: str,
        on_chunk: LogHandler,
        *,
        since: float | None = None,
        follow: bool = True,
        register: Callable[[Cancel], None] = lambda cancel: None,
    ) -> None:
        """Stream the container's log messages (from the start, or after `since`) to
        `on_chunk(stream, timestamp, payload)` until the container exits (follow) or the
        log ends. `register` receives a callable that cuts the stream from another thread."""
        params = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": int(follow), "tail": "all"}
        if since:
            params["since"] = f"{since:.9f}"
        api = self.api
        # Private docker-py helpers: the public `logs()` generator merges stdout and stderr.
        response = api._get(
            api._url("/containers/{0}/logs", container_id), params=params, stream=True
        )
        try:
            api._raise_for_status(response)
            raw_socket = api._get_raw_response_socket(response)
            register(lambda: _shutdown(raw_socket))
            if follow:
                api._disable_socket_timeout(raw_socket)
            for stream, payload in iter_frames(response.raw.read):
                timestamp, text = split_timestamp(payload, time.time())
                on_chunk(stream, timestamp, text)
        finally:
            response.close()


def remove_quietly(remove: Callable[[], object], what: str) -> None:
    """Clean-up through the Engine API: already gone is done; any other error is logged, not
    raised (the job's outcome is decided; a leftover is removed by the next recover())."""
    try:
        remove()
    except NotFound:
        pass
    except (DockerException, requests.RequestException) as exc:
        log.warning("could not remove %s: %s", what, exc)


def _missing(image: str) -> InfraError:
    return InfraError(f"image {image} not found locally; build it or docker pull it")


def _local_gpu_count() -> int:
    return len(glob.glob("/dev/nvidia[0-9]*"))


def _shutdown(raw_socket: object) -> None:
    """Cut a log stream from another thread. The socket is shut down rather than the HTTP
    response closed: closing a streaming response from another thread drains it first, i.e.
    waits for the container to exit."""
    sock = getattr(raw_socket, "_sock", raw_socket)
    with contextlib.suppress(Exception):  # best effort while abandoning a stream
        sock.shutdown(socket.SHUT_RDWR)
