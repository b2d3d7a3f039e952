"""The container request for one host of a training job: the SageMaker run contract in one place,
engine-neutral (every engine receives the same `ContainerRequest`).

`docker run IMAGE train` (or ContainerEntrypoint + ContainerArguments), hostname `algo-N`,
environment (TRAINING_JOB_NAME/ARN, the request's Environment, region, and our S3 endpoint
unless network isolation), labels that let a restarted server find the container, the /opt/ml
sub-folder mounts, and the network: the job's own network with fixed addresses for
multi-instance jobs, none for isolated jobs, the engine's default network otherwise.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.runner import layout
from orchestrator.runner.base import JobSpec
from orchestrator.runner.engine import DEFAULT_NETWORK, NO_NETWORK, ContainerRequest
from orchestrator.runner.staging import DUMMY_CREDENTIALS


def container_request(spec: JobSpec, host: str, dirs: layout.HostDirs, limits, *,
                      label_prefix: str, name: str, work_dir: Path,
                      s3_endpoint_url: str | None,
                      network: str | None, ips: dict[str, str] | None,
                      credentials: dict[str, str] = DUMMY_CREDENTIALS) -> ContainerRequest:
    """`name`: the container's engine name (unique on the engine, `RunContext.object_name`);
    `network`/`ips`: the job's network and every host's address on it (multi-instance);
    `credentials`: for our S3 (the server's key for jobs when it authenticates requests)."""
    env = {"AWS_REGION": spec.region, "AWS_DEFAULT_REGION": spec.region}
    if not spec.network_isolation and s3_endpoint_url:
        env.update(
            S3_ENDPOINT_URL=s3_endpoint_url,  # sagemaker-training, SDK local mode
            AWS_ENDPOINT_URL_S3=s3_endpoint_url,  # boto3 >= 1.28 / AWS CLI v2
            AWS_ACCESS_KEY_ID=credentials["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=credentials["aws_secret_access_key"],
        )
    env.update(spec.environment)
    env.update(TRAINING_JOB_NAME=spec.name, TRAINING_JOB_ARN=spec.arn)
    labels = {
        **spec.labels,
        f"{label_prefix}.job": spec.name,
        f"{label_prefix}.host": host,
        f"{label_prefix}.state": str(work_dir),
    }
    if spec.entrypoint:  # ContainerEntrypoint replaces `train`; arguments follow it
        entrypoint, command = list(spec.entrypoint), list(spec.arguments or []) or None
    else:
        entrypoint, command = None, list(spec.arguments or ["train"])
    ip, extra_hosts = None, None
    if network:
        aliases: tuple[str, ...] = (host,)
        ip, extra_hosts = (ips or {})[host], dict(ips or {})
    elif spec.network_isolation:
        # No network at all; the own name must still resolve (the training toolkit waits
        # for every host name before it runs the user script).
        network, aliases, extra_hosts = NO_NETWORK, (), {host: "127.0.0.1"}
    else:
        network, aliases = DEFAULT_NETWORK, ()
    return ContainerRequest(
        name=name,
        image=spec.image,
        hostname=host,
        command=command,
        entrypoint=entrypoint,
        environment=env,
        labels=labels,
        mounts=layout.mounts(dirs, spec),
        limits=limits,
        network=network,
        aliases=aliases,
        ip=ip,
        extra_hosts=extra_hosts,
    )
