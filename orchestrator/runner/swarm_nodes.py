"""The engines of a swarm's nodes, for what swarm's own API cannot do (`runner.swarm_engine`):
read a task container's OOM kill, send it SIGKILL, and copy its checkpoint folders while it runs.

A node's engine is known for the manager's own node (the engine the swarm engine talks to) and
for nodes listed in `node_engines` (node address → Docker URL, `SMLOCAL_SWARM_NODE_ENGINES`).

Periodic checkpoint sync: SageMaker uploads the checkpoint folder to S3 while training runs
(spec §5); the lifecycle syncs the host folders, but a swarm task writes on its node, whose files
otherwise come back only when the task ended (stage-out). So while a task runs, each writable
mount at a checkpoint folder is read from the node's engine (`GET /containers/ID/archive`, what
`docker cp` reads) and mirrored into its host folder, deletions included (`swarm_transfer.
mirror_folder`). On a node whose engine is unknown checkpoints still come back at the end.

`Nodes` is a mixin of `SwarmEngine`: it uses the engine's `api`, `_lock`, `node_engines` and
`_node_clients`.
"""

from __future__ import annotations

import logging
import os
import tarfile
import tempfile
import threading
from pathlib import Path

import requests
from docker.errors import DockerException, NotFound

from orchestrator.runner.docker_client import new_docker_client
from orchestrator.runner.swarm_services import mounts_label
from orchestrator.runner.swarm_transfer import mirror_folder

log = logging.getLogger(__name__)

_NODE_TIMEOUT = 10  # seconds: a node's engine is asked small things
_SPOOL = 64 * 1024**2  # a checkpoint archive is kept in memory up to this size, then on disk
# The host folder of a job host's checkpoints (runner.layout.HostDirs.checkpoints).
_CHECKPOINTS_FOLDER = "checkpoints"


class Nodes:
    """Talking to the engine of the node that runs a task (a mixin of `SwarmEngine`)."""

    def _node_engine(self, node_id: str) -> str | None:
        """"" for the manager's own node, a Docker URL from `node_engines`, else None."""
        try:
            if node_id == self.api.info()["Swarm"]["NodeID"]:
                return ""
            addr = self.api.inspect_node(node_id)["Status"].get("Addr", "")
        except (DockerException, requests.RequestException, KeyError):
            return None
        return self.node_engines.get(addr)

    def _node_api(self, url: str):
        """The engine API at `url` ("" is the manager's), one client per node engine."""
        if url == "":
            return self.api
        with self._lock:
            client = self._node_clients.get(url)
            if client is None:
                client = new_docker_client(url, timeout=_NODE_TIMEOUT)
                self._node_clients[url] = client
            return client.api

    def _close_node_clients(self) -> None:
        with self._lock:
            clients, self._node_clients = list(self._node_clients.values()), {}
        for client in clients:
            client.close()

    def _task_container(self, task: dict | None):
        """(engine API of the task's node, container id), or None when either is unknown."""
        if not task:
            return None
        cid = (task.get("Status", {}).get("ContainerStatus") or {}).get("ContainerID")
        url = self._node_engine(task.get("NodeID", ""))
        if not cid or url is None:
            return None
        try:
            return self._node_api(url), cid
        except (DockerException, requests.RequestException) as exc:
            log.warning("node engine %s does not answer: %s", url, exc)
            return None

    def _oom(self, task: dict | None) -> bool:
        """OOMKilled of the task's container, from its node's engine when we know one."""
        found = self._task_container(task)
        if found is None:
            return False
        api, cid = found
        try:
            return bool(api.inspect_container(cid)["State"].get("OOMKilled"))
        except (DockerException, requests.RequestException, KeyError):
            return False

    def _kill_on_node(self, task: dict | None) -> bool:
        """SIGKILL to the task's container through its node's engine; False when that engine
        is unknown or failed (the caller stops the service instead)."""
        found = self._task_container(task)
        if found is None:
            return False
        api, cid = found
        try:
            api.kill(cid)
        except NotFound:
            pass
        except (DockerException, requests.RequestException) as exc:
            log.warning("could not kill %s on its node (%s); stopping it instead", cid[:12], exc)
            return False
        return True

    def _pull_checkpoints(self, sid: str, task: dict | None,
                          cancelled: threading.Event | None = None) -> int:
        """Mirror the running task's checkpoint folders into their host folders; the number
        of files written. Nothing when the node's engine is unknown."""
        info = mounts_label(self._service(sid))
        if info is None:
            return 0
        mounts = [tuple(m) for m in info["mounts"]]
        wanted = [i for i, (src, _dst, ro) in enumerate(mounts)
                  if not ro and Path(src).name == _CHECKPOINTS_FOLDER]
        found = self._task_container(task) if wanted else None
        if found is None:
            return 0
        api, cid = found
        written = 0
        for index in wanted:
            if cancelled is not None and cancelled.is_set():
                break
            written += _pull_one(api, cid, mounts, index)
        return written


def _pull_one(api, cid: str, mounts: list, index: int) -> int:
    dst = mounts[index][1]
    try:
        stream, _stat = api.get_archive(cid, dst)
        with tempfile.SpooledTemporaryFile(_SPOOL) as spool:
            for chunk in stream:
                spool.write(chunk)
            spool.seek(0)
            return mirror_folder(spool, mounts, index)
    except NotFound:  # the container is gone (ended): its files come back with stage-out
        return 0
    except (DockerException, requests.RequestException, tarfile.TarError, OSError,
            ValueError) as exc:
        log.warning("could not copy %s of %s from its node: %s", dst, cid[:12], exc)
        return 0


def env_node_engines() -> dict[str, str]:
    """SMLOCAL_SWARM_NODE_ENGINES="ADDR=URL,ADDR=URL": node address → its Docker URL."""
    raw = os.environ.get("SMLOCAL_SWARM_NODE_ENGINES", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {addr.strip(): url.strip() for addr, url in pairs}

