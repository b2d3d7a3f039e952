"""The /opt/ml layout of one instance (host), kept on the server's host (spec §5); engines
mount (or copy) these folders into the containers.

Per job: `<work_dir>/<job>/` holds `stop_reason` / `outcome.json` (restart bookkeeping) and
`hosts/algo-N/` with the sub-folders that are bind-mounted into algo-N:
`input/` (config/ + data/<channel>/), `model/`, `output/` (data/, failure) and `checkpoints/`.
Sub-folders, not /opt/ml itself, so whatever the image has under /opt/ml (e.g. /opt/ml/code)
stays visible [DOC "your-algorithms-training-algo-running-container"].
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator.runner import confined
from orchestrator.runner.base import Channel, JobSpec

OPT_ML = "/opt/ml"
GROUP_NAME = "homogeneousCluster"  # what SageMaker writes for single-group jobs
FAILURE_LIMIT = 1024  # FailureReason max length [API]


def host_names(count: int) -> list[str]:
    return [f"algo-{i}" for i in range(1, count + 1)]


def job_dir(work_dir: Path, job_name: str) -> Path:
    return work_dir / job_name


@dataclass(frozen=True)
class HostDirs:
    root: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def config(self) -> Path:
        return self.root / "input" / "config"

    @property
    def data(self) -> Path:
        return self.root / "input" / "data"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def output_data(self) -> Path:
        return self.root / "output" / "data"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def failure_file(self) -> Path:
        return self.root / "output" / "failure"

    def channel(self, name: str) -> Path:
        return self.data / name


def hosts_root(work_dir: Path, job_name: str) -> Path:
    return job_dir(work_dir, job_name) / "hosts"


def host_dirs(work_dir: Path, job_name: str, host: str) -> HostDirs:
    return HostDirs(hosts_root(work_dir, job_name) / host)


def create_host_dirs(dirs: HostDirs, channels: tuple[Channel, ...]) -> None:
    """Fresh, empty folders. Writable ones are world-writable: images may run as non-root."""
    if dirs.root.exists():
        shutil.rmtree(dirs.root)
    for path in (dirs.config, dirs.data):
        path.mkdir(parents=True)
    for channel in channels:
        dirs.channel(channel.name).mkdir()
    for path in (dirs.model, dirs.output, dirs.output_data, dirs.checkpoints):
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o777)


def resource_config(spec: JobSpec, host: str) -> dict:
    hosts = host_names(spec.instance_count)
    return {
        "current_host": host,
        "current_instance_type": spec.instance_type,
        "current_group_name": GROUP_NAME,
        "hosts": hosts,
        "instance_groups": [
            {
                "instance_group_name": GROUP_NAME,
                "instance_type": spec.instance_type,
                "hosts": hosts,
            }
        ],
        "network_interface_name": "eth0",
    }


def input_data_config(spec: JobSpec) -> dict:
    config: dict[str, dict[str, str]] = {}
    for channel in spec.channels:
        entry: dict[str, str] = {}
        if channel.content_type:
            entry["ContentType"] = channel.content_type
        entry["TrainingInputMode"] = channel.input_mode
        entry["S3DistributionType"] = channel.distribution
        entry["RecordWrapperType"] = channel.record_wrapper or "None"
        config[channel.name] = entry
    return config


def write_config(dirs: HostDirs, spec: JobSpec, host: str) -> None:
    files = {
        "hyperparameters.json": {k: str(v) for k, v in spec.hyperparameters.items()},
        "inputdataconfig.json": input_data_config(spec),
        "resourceconfig.json": resource_config(spec, host),
    }
    for name, content in files.items():
        (dirs.config / name).write_text(json.dumps(content), encoding="utf-8")


def mounts(dirs: HostDirs, spec: JobSpec) -> list[tuple[str, str, bool]]:
    """(host path, container path, read-only) bind mounts for one instance."""
    result = [
        (str(dirs.input), f"{OPT_ML}/input", False),
        (str(dirs.model), f"{OPT_ML}/model", False),
        (str(dirs.output), f"{OPT_ML}/output", False),
        (str(dirs.checkpoints), spec.checkpoint_local_path.rstrip("/") or "/", False),
    ]
    for channel in spec.channels:
        if channel.input_mode == "FastFile":  # FastFile data is read-only [DOC]
            path = f"{OPT_ML}/input/data/{channel.name}"
            result.append((str(dirs.channel(channel.name)), path, True))
    return result


def read_failure(dirs: HostDirs) -> str | None:
    """First 1024 characters of /opt/ml/output/failure, or None when absent or empty.

    Only a regular file is read: the container owns this folder, and a link there (to a host
    file) or a FIFO (which would block the reader) must not reach the FailureReason."""
    handle = confined.open_file(dirs.output, dirs.failure_file.name)
    if handle is None:
        return None
    try:
        with handle:
            raw = handle.read(FAILURE_LIMIT * 4)
    except OSError:
        return None
    text = raw.decode("utf-8", "replace")[:FAILURE_LIMIT]
    return text if text.strip() else None


def has_files(path: Path) -> bool:
    """True when the tree holds at least one regular file (empty folders and links do not
    count; a link in place of the folder itself is not followed)."""
    return confined.has_files(path)
