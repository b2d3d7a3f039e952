"""Node folders left by a lost node, swept when a server starts (`runner.swarm_engine`).

A host's node folder (`node_dir/smlocal-swarm/<service>`) is deleted by its stage-out, or by
`remove`'s clean-up helper. Neither can run on a node that is down: a host whose node was lost
mid-job leaves its folder there (staged data, what it wrote), and the job runs again elsewhere.
So when a server re-adopts its jobs (`EngineBackend.recover` calls `sweep`), it runs one
helper on every ready node, in the background, that deletes the folders no service names any
more, whatever server of the swarm made them. A host being staged has no training service yet
but has its `-in` helper service; one whose helper was created after the services were listed
has a young folder: only folders older than `_MIN_AGE` are deleted.

`Sweep` is a mixin of `SwarmEngine`: it uses `api`, `_lock`, `nodes()`, `_overlay`, `_helper`
and `remove_network`.
"""

from __future__ import annotations

import logging
import secrets
import threading

import requests
from docker.errors import DockerException

from orchestrator.runner.engine import InfraError
from orchestrator.runner.swarm_services import ROLE_LABEL
from orchestrator.runner.swarm_transfer import SWEEP

log = logging.getLogger(__name__)

_MIN_AGE = 60.0  # seconds: more than listing the services and starting the helper take
_HELPER_SUFFIXES = ("-in", "-out", "-clean")
_JOIN_TIMEOUT = 60.0


class Sweep:
    """Deletes node folders whose service is gone (a mixin of `SwarmEngine`)."""

    _sweeper: threading.Thread | None

    def sweep(self) -> None:
        """Start the sweep in the background, once per engine (`ContainerEngine.sweep`)."""
        with self._lock:
            if self._sweeper is not None:
                return
            self._sweeper = threading.Thread(target=self._sweep_nodes, daemon=True,
                                             name="swarm-sweep")
        self._sweeper.start()

    def _join_sweep(self) -> None:
        """`close`: let a running sweep end, so no helper service of it is left behind."""
        sweeper = self._sweeper
        if sweeper is not None and sweeper.is_alive():
            sweeper.join(timeout=_JOIN_TIMEOUT)

    def _sweep_nodes(self) -> None:
        try:
            keep = sorted(self._service_folders())
            nodes = [n["ID"] for n in self.nodes()]
        except InfraError as exc:
            log.warning("node folders not swept: %s", exc)
            return
        threads = [threading.Thread(target=self._sweep_node, args=(node, keep), daemon=True)
                   for node in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _sweep_node(self, node: str, keep: list[str]) -> None:
        name = f"smlocal-sweep-{node[:12]}-{secrets.token_hex(3)}"
        network = f"{name}-x"
        try:
            self._overlay(network, {ROLE_LABEL: "helper"}, False)
            self._helper(name, [SWEEP, "/node/smlocal-swarm", str(_MIN_AGE), *keep],
                         None, [f"node.id=={node}"], network)
        except InfraError as exc:
            log.warning("node folders on node %s not swept: %s", node[:12], exc)
        finally:
            self.remove_network(network)

    def _service_folders(self) -> set[str]:
        """Every service of the swarm and the service its helper works for."""
        try:
            names = {s["Spec"]["Name"] for s in self.api.services()}
        except (DockerException, requests.RequestException, KeyError) as exc:
            raise InfraError(f"Docker error while listing services: {exc}") from exc
        for name in list(names):
            for suffix in _HELPER_SUFFIXES:
                if name.endswith(suffix):
                    names.add(name[: -len(suffix)])
        return names
