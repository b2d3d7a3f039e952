"""`smlocal train IMAGE`: one training job from flags, no JSON (issue 12).

`TrainingSpec` is what the flags say; `build_request` turns it into the CreateTrainingJob body
one would send to AWS; `run_job` uploads local channel folders to the endpoint's S3, creates the
job, follows it through the public API (DescribeTrainingJob, CloudWatch Logs), and can fetch and
unpack its artifacts. `smlocal check` and the pytest plugin run jobs through the same function.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.client.archive import unpack
from orchestrator.client.endpoint import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, client
from orchestrator.client.logs import Event, LogTail, follow, render

BUCKET = "smlocal-train"
ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-smlocal"
EXIT_FOR_STATUS = {"Completed": EXIT_OK, "Failed": EXIT_FAILED, "Stopped": EXIT_STOPPED}


@dataclass
class TrainingSpec:
    """A training job as the `smlocal train` flags describe it."""

    image: str
    hyperparameters: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)  # name -> local path or s3:// URI
    metric_definitions: list[dict[str, str]] = field(default_factory=list)
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    max_runtime: int = 86400
    output: str | None = None  # S3OutputPath; default s3://smlocal-train/<job>/output
    checkpoint: str | None = None  # CheckpointConfig.S3Uri
    entrypoint: list[str] | None = None  # ContainerEntrypoint
    name: str | None = None

    def job_name(self) -> str:
        if not self.name:
            base = re.sub(r"[^a-zA-Z0-9]+", "-", self.image.rsplit("/", 1)[-1].split(":")[0])
            self.name = (f"{base.strip('-')[:30] or 'job'}-{time.strftime('%Y%m%d-%H%M%S')}-"
                         f"{uuid.uuid4().hex[:4]}")
        return self.name


def parse_pairs(items: list[str] | None, flag: str, sep: str = "=") -> dict[str, str]:
    """`["a=1", "b=x=y"]` -> {"a": "1", "b": "x=y"}; ValueError naming the flag otherwise."""
    out: dict[str, str] = {}
    for item in items or []:
        key, found, value = item.partition(sep)
        if not found or not key:
            raise ValueError(f"{flag} {item!r}: expected NAME{sep}VALUE")
        out[key] = value
    return out


def channel_uri(spec: TrainingSpec, channel: str, source: str) -> str:
    """Where a channel's data is (an s3:// URI as given) or goes (a local path's upload)."""
    if source.startswith("s3://"):
        return source
    return f"s3://{BUCKET}/{spec.job_name()}/input/{channel}/"


def build_request(spec: TrainingSpec) -> dict[str, Any]:
    """The CreateTrainingJob body for `spec` (local channels at their upload URIs)."""
    name = spec.job_name()
    algorithm: dict[str, Any] = {"TrainingImage": spec.image, "TrainingInputMode": "File"}
    if spec.metric_definitions:
        algorithm["MetricDefinitions"] = spec.metric_definitions
    if spec.entrypoint:
        algorithm["ContainerEntrypoint"] = spec.entrypoint
    body: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": algorithm,
        "RoleArn": ROLE,
        "HyperParameters": spec.hyperparameters,
        "InputDataConfig": [
            {"ChannelName": channel, "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": channel_uri(spec, channel, source),
                "S3DataDistributionType": "FullyReplicated"}}}
            for channel, source in spec.channels.items()],
        "OutputDataConfig": {"S3OutputPath": spec.output or f"s3://{BUCKET}/{name}/output"},
        "ResourceConfig": {"InstanceType": spec.instance_type,
                           "InstanceCount": spec.instance_count, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime},
    }
    if not body["InputDataConfig"]:
        del body["InputDataConfig"]
    if spec.checkpoint:
        body["CheckpointConfig"] = {"S3Uri": spec.checkpoint}
    return body


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def upload_channels(s3: Any, spec: TrainingSpec) -> None:
    """Upload every local channel (a file or a folder's files) to its URI in our S3.
    ValueError when a local path does not exist."""
    for channel, source in spec.channels.items():
        if source.startswith("s3://"):
            continue
        path = Path(source).expanduser()
        if not path.exists():
            raise ValueError(f"--channel {channel}={source}: no such file or folder")
        upload_path(s3, path, channel_uri(spec, channel, source))


def upload_path(s3: Any, path: Path, uri: str) -> None:
    """A file, or every file below a folder (relative names kept), under prefix `uri`."""
    bucket, prefix = split_uri(uri)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        rel = f.name if f == path else f.relative_to(path).as_posix()
        s3.upload_file(str(f), bucket, prefix + rel)


def final_metrics(described: dict[str, Any]) -> dict[str, float]:
    return {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList") or []}


def download_artifacts(s3: Any, described: dict[str, Any], dest: Path) -> dict[str, Path]:
    """Fetch model.tar.gz (and output.tar.gz when present) and unpack them safely into
    dest/model and dest/output. Returns {"model": folder, ...} for what was there."""
    from botocore.exceptions import ClientError

    found: dict[str, Path] = {}
    model_uri = (described.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if not model_uri:
        return found
    uris = {"model": model_uri, "output": model_uri.rsplit("/", 1)[0] + "/output.tar.gz"}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, uri in uris.items():
            local = Path(tmp) / f"{kind}.tar.gz"
            bucket, key = split_uri(uri)
            try:
                s3.download_file(bucket, key, str(local))
            except ClientError:  # output.tar.gz is absent when the job wrote no output data
                continue
            unpack(local, dest / kind)
            found[kind] = dest / kind
    return found


@dataclass
class JobResult:
    """What a finished (or abandoned) training job left: status, metrics, log, artifacts."""

    name: str
    status: str
    failure_reason: str | None
    final_metrics: dict[str, float]
    log: list[Event]
    described: dict[str, Any]
    artifacts: dict[str, Path] = field(default_factory=dict)

    @property
    def log_text(self) -> str:
        return "\n".join(render(e) for e in self.log)


def run_job(endpoint: str, spec: TrainingSpec, emit: Callable[[Event], None] | None = None,
            download: Path | None = None, wait: bool = True) -> JobResult:
    """Upload local channels, create the job and (with `wait`) follow it to its end, passing
    each log event to `emit`; with `download`, unpack its artifacts there. Raises botocore's
    errors (the caller words them) and ValueError for bad local paths."""
    sm, s3 = client("sagemaker", endpoint), client("s3", endpoint)
    upload_channels(s3, spec)
    if not spec.output:  # our default output bucket; a bucket the user names must exist
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=BUCKET)
    sm.create_training_job(**build_request(spec))
    name = spec.job_name()
    events: list[Event] = []
    if wait:
        def collect(event: Event) -> None:
            events.append(event)
            if emit:
                emit(event)

        tail = LogTail(client("logs", endpoint), name)
        follow(tail, lambda: sm.describe_training_job(TrainingJobName=name)[
            "TrainingJobStatus"], collect)
    described = sm.describe_training_job(TrainingJobName=name)
    result = JobResult(name, described["TrainingJobStatus"], described.get("FailureReason"),
                       final_metrics(described), events, described)
    if download is not None and result.status == "Completed":
        result.artifacts = download_artifacts(s3, described, download)
    return result


def load_metric_definitions(path: str | None, pairs: dict[str, str]) -> list[dict[str, str]]:
    """--metric-definitions FILE (a JSON list of {"Name", "Regex"}, as in the API) plus
    --metric name=regex pairs."""
    defs: list[dict[str, str]] = []
    if path:
        try:
            loaded = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
        if isinstance(loaded, dict):  # an AlgorithmSpecification or a whole request body
            loaded = (loaded.get("AlgorithmSpecification", loaded)).get("MetricDefinitions")
        if not isinstance(loaded, list) or not all(
                isinstance(d, dict) and {"Name", "Regex"} <= set(d) for d in loaded):
            raise ValueError(f"{path}: expected a JSON list of {{\"Name\": ..., \"Regex\": ...}}")
        defs += loaded
    defs += [{"Name": name, "Regex": regex} for name, regex in pairs.items()]
    return defs


def spec_from_args(args: Any) -> TrainingSpec:
    """The TrainingSpec the training flags of `train` / `check` describe (ValueError if bad)."""
    return TrainingSpec(
        image=args.image, hyperparameters=parse_pairs(args.hp, "--hp"),
        channels=parse_pairs(args.channel, "--channel"),
        metric_definitions=load_metric_definitions(args.metric_definitions,
                                                   parse_pairs(args.metric, "--metric")),
        instance_type=args.instance_type, instance_count=args.instance_count,
        max_runtime=args.max_runtime, output=args.output, checkpoint=args.checkpoint,
        entrypoint=args.entrypoint.split() if args.entrypoint else None, name=args.name)


def add_training_flags(p: Any) -> None:
    """The flags `smlocal train` and `smlocal check` share."""
    p.add_argument("image", help="training image, e.g. smlocal/gbm:latest")
    p.add_argument("--hp", action="append", metavar="NAME=VALUE", help="a hyperparameter "
                   "(repeatable; passed as a string, as SageMaker does)")
    p.add_argument("--channel", action="append", metavar="NAME=PATH|S3URI",
                   help="an input channel: a local file/folder (uploaded first) or s3:// URI")
    p.add_argument("--metric", action="append", metavar="NAME=REGEX",
                   help="a MetricDefinitions entry (repeatable)")
    p.add_argument("--metric-definitions", metavar="FILE",
                   help="JSON list of {Name, Regex} (or a request body holding one)")
    p.add_argument("--instance-type", default="ml.m5.large")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--max-runtime", type=int, default=86400, metavar="SECONDS")
    p.add_argument("--output", metavar="S3URI", help="S3OutputPath (default "
                   f"s3://{BUCKET}/<job>/output)")
    p.add_argument("--checkpoint", metavar="S3URI", help="CheckpointConfig.S3Uri")
    p.add_argument("--entrypoint", help="ContainerEntrypoint, split on spaces")
    p.add_argument("--name", help="training job name (default <image>-<time>-<random>)")


def print_summary(result: JobResult) -> None:
    print(f"training job {result.name}: {result.status}"
          + (f" ({result.failure_reason})" if result.failure_reason else ""))
    for metric, value in sorted(result.final_metrics.items()):
        print(f"  {metric} = {value:g}")
    for kind, folder in result.artifacts.items():
        print(f"  {kind}: {folder}")


def cmd_train(args: Any) -> int:
    """`smlocal train`: see the module docstring. Exit 0 only when the job Completed (or was
    created, without --wait)."""
    from orchestrator.client.endpoint import EXIT_BAD_INPUT, default_endpoint, error, guarded
    from orchestrator.client.local_server import ServerOrEmbedded

    try:
        spec = spec_from_args(args)
    except ValueError as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    if args.print_request:
        print(json.dumps(build_request(spec), indent=2))
        return EXIT_OK
    download = Path(args.download) if args.download else None
    with ServerOrEmbedded(default_endpoint(args.endpoint)) as server:
        wait = args.wait or download is not None or server.embedded

        def job() -> JobResult:
            return run_job(server.url, spec, emit=lambda e: print(render(e), flush=True),
                           download=download, wait=wait)

        try:
            code, result = guarded(server.url, job)
        except ValueError as exc:
            return error(str(exc), EXIT_BAD_INPUT)
        if result is None:
            return code
        if not wait:
            print(f"created training job {result.name} (smlocal logs {result.name} --follow)")
            return EXIT_OK
        print_summary(result)
        return EXIT_FOR_STATUS.get(result.status, EXIT_FAILED)
