"""`smlocal check IMAGE [training flags]`: run an image through the SageMaker training contract
and say, item by item, what passes, what fails and how to fix it (issue 12).

Two training jobs run side by side through the public API: the *main* job with the given flags
to its end, and a *SIGTERM* job (same flags) that is stopped (StopTrainingJob: SIGTERM, then
SIGKILL after the server's grace) as soon as its first log line appears. Everything is judged
from what a client sees: the Describe payload, the log (CloudWatch Logs), the artifacts in S3
and, when the image is in the local Docker engine, its size and architecture.

Limits, said in the items themselves: a container's own reading of a channel is not observable
from outside, so `channels` fails only on a read error in the log; `/opt/ml/output/failure` is
not uploaded, so "exit 0 after an exception" is recognised by the traceback in the log.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.client.endpoint import client
from orchestrator.client.logs import LogTail
from orchestrator.client.regex_check import analyse
from orchestrator.client.train import (
    JobResult,
    TrainingSpec,
    build_request,
    channel_uri,
    download_artifacts,
    run_job,
    split_uri,
    upload_channels,
)
from orchestrator.status import training_is_terminal

PASS, FAIL, WARN, SKIP = "pass", "fail", "warn", "skip"
_STR_TYPE_ERROR = re.compile(r"TypeError: .*\bstr\b|ValueError: could not convert string")
_TRACEBACK = "Traceback (most recent call last)"


@dataclass
class Item:
    key: str
    status: str
    title: str
    detail: str = ""
    fix: str = ""


@dataclass
class SigtermRun:
    """What happened to the job stopped mid-run."""

    sent: bool = False
    seconds_to_end: float | None = None
    status: str = ""
    checkpoint_objects: int = 0


def _image_items(image: str, instance_type: str) -> list[Item]:
    """Size and architecture from the local Docker engine (a warning when it is not there)."""
    try:
        import docker

        engine = docker.from_env(timeout=10)
        attrs = engine.images.get(image).attrs
    except Exception as exc:  # noqa: BLE001 - no engine, no image: both only a warning
        return [Item("image", WARN, "image size and architecture", f"not inspected: {exc}",
                     "build or pull the image on this machine to have it inspected")]
    arch, size = attrs.get("Architecture", "?"), attrs.get("Size", 0) / 1e9
    graviton = re.match(r"ml\.[a-z]+\d+g", instance_type) is not None
    wanted = "arm64" if graviton else "amd64"
    status = PASS if arch == wanted else FAIL
    return [Item("image", status, "image size and architecture",
                 f"{size:.2f} GB, {attrs.get('Os', '?')}/{arch} ({instance_type} runs {wanted})",
                 "" if status == PASS else f"build for linux/{wanted}: docker buildx build "
                 f"--platform linux/{wanted} ...")]


def _sigterm_run(endpoint: str, spec: TrainingSpec, stop_timeout: float,
                 deadline: float) -> SigtermRun:
    """Start `spec`, stop it once its first log line is there, time how long it takes to end."""
    sm, logs = client("sagemaker", endpoint), client("logs", endpoint)
    sm.create_training_job(**build_request(spec))
    name, run = spec.job_name(), SigtermRun()
    tail = LogTail(logs, name)
    while time.time() < deadline:
        status = sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
        if training_is_terminal(status):
            run.status = status
            return run  # ended before its first line could be answered with SIGTERM
        if tail.read():
            break
        time.sleep(0.2)
    from botocore.exceptions import ClientError

    try:
        sm.stop_training_job(TrainingJobName=name)
    except ClientError:  # it ended between the Describe and the Stop
        run.status = sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
        if training_is_terminal(run.status):
            return run
        raise
    run.sent, stopped_at = True, time.time()
    while time.time() < stopped_at + stop_timeout:
        run.status = sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
        if training_is_terminal(run.status):
            run.seconds_to_end = time.time() - stopped_at
            break
        time.sleep(0.2)
    if spec.checkpoint and run.seconds_to_end is not None:
        bucket, prefix = split_uri(spec.checkpoint)
        run.checkpoint_objects = client("s3", endpoint).list_objects_v2(
            Bucket=bucket, Prefix=prefix).get("KeyCount", 0)
    return run


def _first_line_seconds(result: JobResult) -> float | None:
    started = [t["StartTime"] for t in result.described.get("SecondaryStatusTransitions", [])
               if t.get("Status") == "Training"]
    if not result.log or not started:
        return None
    return max(0.0, result.log[0][0] / 1000 - started[0].timestamp())


def _model_files(endpoint: str, result: JobResult) -> list[str] | None:
    """Regular files in model.tar.gz (None when the job produced no model artifact)."""
    with tempfile.TemporaryDirectory() as tmp:
        found = download_artifacts(client("s3", endpoint), result.described, Path(tmp))
        if "model" not in found:
            return None
        return sorted(str(p.relative_to(found["model"])) for p in found["model"].rglob("*")
                      if p.is_file())


def _contract_items(endpoint: str, spec: TrainingSpec, result: JobResult) -> list[Item]:
    text, log_lines = result.log_text, [e[2] for e in result.log]
    how = (f"ContainerEntrypoint {spec.entrypoint}" if spec.entrypoint
           else "`docker run IMAGE train`")
    items: list[Item] = []
    reason = result.failure_reason or ""
    if not result.log and result.status == "Failed":
        items.append(Item("starts", FAIL, f"starts with {how}", reason,
                          "make the ENTRYPOINT run training when given the argument `train`, "
                          "or put an executable named `train` on PATH"))
    else:
        items.append(Item("starts", PASS, f"starts with {how}", f"{len(result.log)} log lines"))
    items.append(Item("completes", PASS if result.status == "Completed" else FAIL,
                      "the training job completes", f"{result.status} {reason}".strip(),
                      "" if result.status == "Completed" else
                      f"see the log: smlocal logs {result.name}"))
    bad = _STR_TYPE_ERROR.search(text)
    if not spec.hyperparameters:
        items.append(Item("hyperparameters", SKIP, "reads hyperparameters.json (strings)",
                          "no --hp given", "pass one with --hp NAME=VALUE to check it"))
    else:
        items.append(Item("hyperparameters", FAIL if bad else PASS,
                          "reads hyperparameters.json (values are strings)",
                          bad.group(0) if bad else f"{len(spec.hyperparameters)} given as "
                          "strings, no type error",
                          "SageMaker writes every value as a JSON string: convert it, e.g. "
                          "int(hp['epochs']), float(hp['lr'])" if bad else ""))
    for channel in spec.channels or {}:
        miss = re.search(rf".*(No such file|not found|FileNotFoundError).*input/data/{channel}\b.*",
                         text)
        items.append(Item(f"channel:{channel}", FAIL if miss else PASS,
                          f"reads channel {channel}",
                          miss.group(0)[:160] if miss else "no read error in the log",
                          f"read /opt/ml/input/data/{channel}/ (SM_CHANNEL_{channel.upper()})"
                          if miss else ""))
    files = _model_files(endpoint, result)
    items.append(Item("model", PASS if files else FAIL, "writes a non-empty /opt/ml/model",
                      f"{len(files)} file(s): {', '.join(files[:3])}" if files else
                      "model.tar.gz is empty or missing",
                      "" if files else "save the model under /opt/ml/model (SM_MODEL_DIR); "
                      "only that folder becomes model.tar.gz"))
    if not spec.metric_definitions:
        items.append(Item("metrics", WARN, "MetricDefinitions match the log",
                          "no --metric given", "tuning needs a metric: --metric NAME=REGEX"))
    for report in analyse(spec.metric_definitions, log_lines):
        near = "; nearly matched: " + " | ".join(t.strip()[:60] for _, t in
                                                  report.near_misses[:2])
        detail = (f"{report.count} match(es), first {report.matches[0].value:g}"
                  if report.matches else "no line matched" + (near if report.near_misses
                                                               else ""))
        fix = report.mistakes[0] if report.mistakes else (
            "" if report.matches else "print the metric in a line the regex matches; try "
            "`smlocal regex-check --training-job " + result.name + "`")
        items.append(Item(f"metric:{report.name}", PASS if report.ok else FAIL,
                          f"metric {report.name} /{report.regex}/ matches", detail, fix))
    if result.status == "Completed" and _TRACEBACK in text:
        items.append(Item("exit", FAIL, "non-zero exit code on failure",
                          "the job Completed but the log shows a traceback",
                          "after an exception write /opt/ml/output/failure and exit non-zero "
                          "(sys.exit(1)), else SageMaker reports success"))
    elif result.status == "Failed" and re.fullmatch(r"AlgorithmError: Exit Code: \d+", reason):
        items.append(Item("exit", WARN, "failure reason in /opt/ml/output/failure", reason,
                          "write a one-line reason to /opt/ml/output/failure before exiting; "
                          "it becomes FailureReason"))
    else:
        items.append(Item("exit", PASS, "exit code and failure file", reason or "exit code 0"))
    first = _first_line_seconds(result)
    items.append(Item("first-log", PASS if first is None or first < 60 else WARN,
                      "time to first log line", "no log line" if first is None else
                      f"{first:.1f} s after the container started",
                      "" if first is None or first < 60 else "print something early "
                      "(unbuffered: PYTHONUNBUFFERED=1) so slow starts can be told from hangs"))
    return items


def _sigterm_items(spec: TrainingSpec, run: SigtermRun, stop_timeout: float) -> list[Item]:
    title = f"handles SIGTERM within {stop_timeout:g} s"
    if not run.sent:
        return [Item("sigterm", WARN, title, f"the job ended ({run.status}) before its first "
                     "log line could be answered with SIGTERM",
                     "give hyperparameters that make training run longer to check this")]
    if run.seconds_to_end is None:
        items = [Item("sigterm", FAIL, title, f"still running {stop_timeout:g} s after SIGTERM",
                      "handle SIGTERM: signal.signal(signal.SIGTERM, handler) that saves and "
                      "exits; SageMaker sends SIGKILL after the grace period")]
    else:
        items = [Item("sigterm", PASS, title, f"ended {run.status} {run.seconds_to_end:.1f} s "
                      "after SIGTERM")]
    if spec.checkpoint:
        ok = run.checkpoint_objects > 0
        items.append(Item("checkpoint", PASS if ok else FAIL, "saves a checkpoint on SIGTERM",
                          f"{run.checkpoint_objects} object(s) under {spec.checkpoint}",
                          "" if ok else "write to /opt/ml/checkpoints (synced to "
                          "CheckpointConfig.S3Uri) before exiting on SIGTERM"))
    return items


def run_check(endpoint: str, spec: TrainingSpec, stop_timeout: float = 10.0,
              sigterm: bool = True, timeout: float = 1800) -> list[Item]:
    """The checklist for `spec`'s image (two jobs side by side, see the module docstring)."""
    s3 = client("s3", endpoint)
    upload_channels(s3, spec)
    uploaded = {c: channel_uri(spec, c, src) for c, src in spec.channels.items()}
    spec = dataclasses.replace(spec, channels=uploaded)
    spec.job_name()  # fixed before the two jobs start side by side
    items = _image_items(spec.image, spec.instance_type)
    deadline = time.time() + timeout
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        main = pool.submit(run_job, endpoint, spec)
        if sigterm:
            stopped = dataclasses.replace(
                spec, name=f"{spec.job_name()[:52]}-sigterm",
                checkpoint=f"{spec.checkpoint.rstrip('/')}/smlocal-check-sigterm/"
                if spec.checkpoint else None)
            items += _sigterm_items(stopped, _sigterm_run(endpoint, stopped, stop_timeout,
                                                          deadline), stop_timeout)
        items = _contract_items(endpoint, spec, main.result()) + items
    return items


SYMBOL = {PASS: "PASS", FAIL: "FAIL", WARN: "WARN", SKIP: "SKIP"}


def render(items: list[Item]) -> str:
    lines = []
    for item in items:
        lines.append(f"{SYMBOL[item.status]:4}  {item.title}" +
                     (f": {item.detail}" if item.detail else ""))
        if item.fix and item.status != PASS:
            lines.append(f"      fix: {item.fix}")
    return "\n".join(lines)


def as_json(items: list[Item]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(i) for i in items]
