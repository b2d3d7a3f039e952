"""Training jobs: request → stored document → backend launch; backend events → stored state.

`TrainingService` is the `JobSink` of the backend. It owns every status transition of a
training job (spec §3.1): InProgress/Starting → Downloading → Training → Uploading →
Completed | Failed | Stopped (Stopped or MaxRuntimeExceeded), with `SecondaryStatusTransitions`,
times, `FinalMetricDataList` and `FailureReason` filled from what really happened.

The stored job keeps the user's `TrainingImage` (Describe echoes it); the `JobSpec` the backend
runs carries the local image `orchestrator.images` resolves it to (an AWS built-in algorithm's
stand-in, the same-named local image of the user's own ECR URI, or the image map's choice). A
job whose image cannot be resolved fails at once with a `ClientError: …` saying what to build
or map. Jobs of a built-in algorithm are parsed with the algorithm's metric definitions, as
SageMaker does without `MetricDefinitions`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

from orchestrator.clock import Clock
from orchestrator.config import Settings
from orchestrator.controller import job_index
from orchestrator.controller.constants import DEFAULT_TRAINING_RUNTIME, FAILURE_REASON_MAX
from orchestrator.errors import ResourceNotFound, ValidationError
from orchestrator.images import ImageResolver, builtin_algorithm, stand_in_images
from orchestrator.metrics.parser import MetricParser
from orchestrator.runner.base import Backend, Channel, JobOutcome, JobSpec, LogLine
from orchestrator.status import SecondaryStatus, TrainingJobStatus, training_is_terminal
from orchestrator.storage.db import Doc, Store
from orchestrator.storage.joblogs import append_events, events_path

log = logging.getLogger(__name__)

# Status messages as the real service words them (spec §3.1, [OBS] SDK log lines).
_MESSAGES = {
    SecondaryStatus.Starting: "Launching requested ML instances",
    SecondaryStatus.Downloading: "Downloading input data",
    SecondaryStatus.Training: "Training image download completed. Training in progress.",
    SecondaryStatus.Uploading: "Uploading generated training model",
    SecondaryStatus.Completed: "Training job completed",
    SecondaryStatus.Failed: "Training job failed",
    SecondaryStatus.Stopping: "Stopping the training job",
    SecondaryStatus.Stopped: "The job was stopped",
    SecondaryStatus.MaxRuntimeExceeded: "Job stopped because max run time exceeded",
}


def model_artifact_uri(output_path: str, job_name: str) -> str:
    """`<S3OutputPath without trailing '/'>/<job>/output/model.tar.gz` (spec §2.8, §9.6)."""
    return f"{output_path.rstrip('/')}/{job_name}/output/model.tar.gz"


def channel_from_request(ch: dict[str, Any], default_mode: str) -> Channel:
    s3 = ch["DataSource"]["S3DataSource"]
    return Channel(
        name=ch["ChannelName"],
        s3_uri=s3["S3Uri"],
        input_mode=ch.get("InputMode") or default_mode,
        distribution=s3.get("S3DataDistributionType", "FullyReplicated"),
        content_type=ch.get("ContentType"),
        record_wrapper=ch.get("RecordWrapperType"),
        compression=ch.get("CompressionType"),
        s3_data_type=s3.get("S3DataType", "S3Prefix"),
    )


def job_metric_definitions(doc: Doc) -> list[dict[str, str]]:
    """The job's MetricDefinitions, then, for a built-in algorithm's image, the algorithm's own
    (the service knows them; the request gives none)."""
    algo = doc.get("AlgorithmSpecification") or {}
    defs = list(algo.get("MetricDefinitions") or [])
    algorithm = builtin_algorithm(algo.get("TrainingImage"), doc.get("HyperParameters"))
    if algorithm is not None:
        given = {d.get("Name") for d in defs}
        defs += [d for d in algorithm.metric_definitions() if d["Name"] not in given]
    return defs


def spec_from_doc(doc: Doc, settings: Settings, image: str | None = None) -> JobSpec:
    """The backend's view of a stored job; `image`: the local image to run (default: the
    TrainingImage as given)."""
    algo = doc["AlgorithmSpecification"]
    res = doc.get("ResourceConfig") or {}
    ckpt = doc.get("CheckpointConfig") or {}
    labels = {"smlocal.tuning-job": doc["_TuningJobName"]} if doc.get("_TuningJobName") else {}
    return JobSpec(
        name=doc["TrainingJobName"],
        arn=doc["TrainingJobArn"],
        image=image or algo["TrainingImage"],
        hyperparameters=dict(doc.get("HyperParameters") or {}),
        environment=dict(doc.get("Environment") or {}),
        channels=tuple(
            channel_from_request(c, algo.get("TrainingInputMode", "File"))
            for c in doc.get("InputDataConfig") or []
        ),
        output_s3_path=doc["OutputDataConfig"]["S3OutputPath"],
        instance_type=res.get("InstanceType", "ml.m5.large"),
        instance_count=max(1, int(res.get("InstanceCount", 1))),
        volume_size_gb=int(res.get("VolumeSizeInGB", 30)),
        max_runtime_seconds=int(doc["StoppingCondition"].get("MaxRuntimeInSeconds",
                                                               DEFAULT_TRAINING_RUNTIME)),
        metric_definitions=tuple(job_metric_definitions(doc)),
        entrypoint=tuple(algo["ContainerEntrypoint"]) if algo.get("ContainerEntrypoint") else None,
        arguments=tuple(algo["ContainerArguments"]) if algo.get("ContainerArguments") else None,
        output_compression=doc["OutputDataConfig"].get("CompressionType", "GZIP"),
        checkpoint_s3_uri=ckpt.get("S3Uri"),
        checkpoint_local_path=ckpt.get("LocalPath") or "/opt/ml/checkpoints",
        network_isolation=bool(doc.get("EnableNetworkIsolation")),
        max_retry_attempts=int((doc.get("RetryStrategy") or {}).get("MaximumRetryAttempts", 0)),
        region=settings.region,
        labels=labels,
        cpu_stand_in=(image or "") in stand_in_images(),
    )


def _transition(doc: Doc, status: str, now: float, message: str | None = None) -> None:
    """Append a secondary status transition; close the previous one (spec §3.1 R6)."""
    transitions = doc.setdefault("SecondaryStatusTransitions", [])
    if transitions and transitions[-1]["Status"] == status:
        return
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
    entry = {"Status": status, "StartTime": now}
    msg = message or _MESSAGES.get(SecondaryStatus(status))
    if msg:
        entry["StatusMessage"] = msg
    transitions.append(entry)
    doc["SecondaryStatus"] = status
    doc["LastModifiedTime"] = now


class TrainingService:
    """Create/describe/stop training jobs and receive backend events (`JobSink`)."""

    def __init__(self, store: Store, backend: Backend, settings: Settings, clock: Clock,
                 images: ImageResolver | None = None) -> None:
        self.store = store
        # The store derives each training job's index columns (what its tuning job's Describe
        # and List read) in the same transaction as the job's document.
        store.use_training_index(job_index.TRAINING_INDEX)
        self.images = images or ImageResolver.from_path(settings.image_map, backend.has_image)
        self.backend = backend
        self.settings = settings
        self.clock = clock
        self.logs_dir = settings.state_dir / "logs"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._parsers: dict[str, MetricParser] = {}
        self._log_bytes: dict[str, int] = {}  # stored log size per running job (the cap)
        self._lock = threading.Lock()
        self.listeners: list[Callable[[str], None]] = []

    # -- requests --------------------------------------------------------------------------
    def create(self, request: dict[str, Any], *, internal: dict[str, Any] | None = None,
               tags: list[dict[str, str]] | None = None) -> Doc:
        """Store the job (InProgress/Starting), then hand it to the backend."""
        now = self.clock.now()
        name = request["TrainingJobName"]
        doc: Doc = {k: v for k, v in request.items() if k != "Tags"}
        doc.setdefault("HyperParameters", {})
        # The service echoes KmsKeyId "" when none was given; the SDK's Estimator.attach()
        # (and so HyperparameterTuner.best_estimator()) reads OutputDataConfig["KmsKeyId"]
        # unconditionally (sagemaker/estimator.py _prepare_init_params_from_job_description).
        doc["OutputDataConfig"] = {"KmsKeyId": "", **doc["OutputDataConfig"]}
        stopping = dict(doc.get("StoppingCondition") or {})
        stopping.setdefault("MaxRuntimeInSeconds", DEFAULT_TRAINING_RUNTIME)
        doc.update(
            TrainingJobArn=self.settings.arn("training-job", name),
            TrainingJobStatus=TrainingJobStatus.InProgress.value,
            StoppingCondition=stopping,
            CreationTime=now,
            LastModifiedTime=now,
            ModelArtifacts={"S3ModelArtifacts": model_artifact_uri(
                doc["OutputDataConfig"]["S3OutputPath"], name)},
        )
        doc.update(internal or {})
        resolution = self.images.resolve(doc["AlgorithmSpecification"]["TrainingImage"],
                                         doc.get("HyperParameters"))
        if resolution.image is not None:
            doc["_LocalImage"] = resolution.image  # what runs; recover() keeps running it
        _transition(doc, SecondaryStatus.Starting.value, now)
        self.store.insert_training_job(doc, tuning_job=doc.get("_TuningJobName"))
        all_tags = list(tags or []) + list(request.get("Tags") or [])
        if all_tags:
            self.store.add_tags(doc["TrainingJobArn"], all_tags)
        if resolution.image is None:
            # Spec §3.1: the image cannot be had, a client error (NonRetryableError).
            log.info("training job %s: %s", name, resolution.failure)
            self.finished(name, JobOutcome("internal_error", failure_reason=resolution.failure))
            return self.describe(name)
        if resolution.note:
            self.logs(name, [LogLine(now, "smlocal", "algo-1", resolution.note)])
        self.backend.launch(spec_from_doc(doc, self.settings, resolution.image), self)
        return doc

    def describe(self, name: str) -> Doc:
        doc = self.store.get_training_job(name)
        if doc is None:
            # The real service answers ValidationException here, not ResourceNotFound (§9.1).
            raise ValidationError("Requested resource not found.")
        return doc

    def stop(self, name: str, cause: str = "user") -> None:
        doc = self.store.get_training_job(name)
        if doc is None:
            raise ResourceNotFound(f"Requested resource not found: training job {name}.")
        status = doc["TrainingJobStatus"]
        if status != TrainingJobStatus.InProgress:
            raise ValidationError(
                f"The request was rejected because the training job is in status {status}."
            )

        def mutate(d: Doc) -> None:
            if d["TrainingJobStatus"] != TrainingJobStatus.InProgress:
                return
            d["TrainingJobStatus"] = TrainingJobStatus.Stopping.value
            d["_StopCause"] = cause
            _transition(d, SecondaryStatus.Stopping.value, self.clock.now())

        self.store.update_training_job(name, mutate)
        self.backend.stop(name, "stopped")

    def recover(self) -> list[str]:
        """After a restart: hand every unfinished job back to the backend to re-adopt. Called
        with none too: the backend then still removes what finished jobs left behind (a crash
        after an outcome was stored, a node lost mid-job)."""
        docs = self.store.list_training_jobs(
            statuses=[TrainingJobStatus.InProgress.value, TrainingJobStatus.Stopping.value]
        )
        # The local image chosen at create time (documents from before it was kept: resolved
        # now; the backend reports an image that cannot run).
        specs = [spec_from_doc(d, self.settings, d.get("_LocalImage") or self.images.resolve(
            d["AlgorithmSpecification"]["TrainingImage"], d.get("HyperParameters")).image)
            for d in docs]
        offsets = {d["TrainingJobName"]: self.store.log_offset(d["TrainingJobName"]) for d in docs}
        self.backend.recover(specs, self, offsets)
        for d in docs:
            if d["TrainingJobStatus"] == TrainingJobStatus.Stopping:
                self.backend.stop(d["TrainingJobName"], "stopped")
        return [d["TrainingJobName"] for d in docs]

    # -- JobSink ---------------------------------------------------------------------------
    def secondary_status(self, job_name: str, status: str, message: str) -> None:
        now = self.clock.now()

        def mutate(d: Doc) -> None:
            if training_is_terminal(d["TrainingJobStatus"]):
                return
            if d["TrainingJobStatus"] == TrainingJobStatus.Stopping and status != "Uploading":
                return  # keep showing Stopping; uploads during a stop are still reported
            _transition(d, status, now, message or None)
            if status == SecondaryStatus.Training and "TrainingStartTime" not in d:
                d["TrainingStartTime"] = now

        self.store.update_training_job(job_name, mutate)

    def logs(self, job_name: str, lines: list[LogLine]) -> None:
        if not lines:
            return
        parser = self._parser(job_name)
        self._store_log(job_name, lines)
        # Metrics come from algo-1 only: duplicates across nodes would distort early stopping
        # and Hyperband (spec §3.2 M5).
        samples = [s for line in lines if line.host == "algo-1" and line.stream != "smlocal"
                   for s in parser.parse(line)]
        if samples:
            self.store.add_metrics(job_name, [(s.name, s.value, s.timestamp) for s in samples])

            def mutate(d: Doc) -> None:
                final = {m["MetricName"]: m for m in d.get("FinalMetricDataList", [])}
                for s in samples:  # last value of each metric wins (spec §3.1 R8)
                    final[s.name] = {"MetricName": s.name, "Value": s.value,
                                     "Timestamp": s.timestamp}
                d["FinalMetricDataList"] = list(final.values())

            self.store.update_training_job(job_name, mutate)
        self.store.set_log_offset(job_name, max(line.timestamp for line in lines))
        if samples:
            self._notify(job_name)

    def finished(self, job_name: str, outcome: JobOutcome) -> None:
        now = self.clock.now()
        self.store.update_training_job(job_name, lambda d: self._finish(d, outcome, now))
        with self._lock:
            self._parsers.pop(job_name.lower(), None)
            self._log_bytes.pop(job_name.lower(), None)
        self._notify(job_name)

    # -- internals -------------------------------------------------------------------------
    def _finish(self, d: Doc, outcome: JobOutcome, now: float) -> None:
        if training_is_terminal(d["TrainingJobStatus"]):
            return
        kind = outcome.kind
        if kind == "completed":
            status, secondary = TrainingJobStatus.Completed, SecondaryStatus.Completed
        elif kind == "stopped":
            status, secondary = TrainingJobStatus.Stopped, SecondaryStatus.Stopped
        elif kind == "max_runtime":
            status, secondary = TrainingJobStatus.Stopped, SecondaryStatus.MaxRuntimeExceeded
        else:
            status, secondary = TrainingJobStatus.Failed, SecondaryStatus.Failed
            d["FailureReason"] = _failure_reason(outcome)
            d["_FailureKind"] = _failure_kind(outcome, d["FailureReason"])
        d["TrainingJobStatus"] = status.value
        _transition(d, secondary.value, now)
        d["SecondaryStatusTransitions"][-1]["EndTime"] = now
        start = outcome.training_start or d.get("TrainingStartTime")
        if start is not None:
            end = outcome.training_end or now
            d["TrainingStartTime"] = start
            d["TrainingEndTime"] = end
            seconds = max(1, math.ceil(end - start))  # ≥ 1 (spec §3.1 R5)
            d["TrainingTimeInSeconds"] = seconds
            d["BillableTimeInSeconds"] = seconds

    def _store_log(self, job_name: str, lines: list[LogLine]) -> None:
        """Append to the job's log until it holds `settings.max_log_bytes` (a container that
        prints without end must not fill the disk), then one note and nothing more; the lines
        are still parsed for metrics. Notes from smlocal itself (retries, resource caps) are
        shown, never parsed."""
        key, cap = job_name.lower(), self.settings.max_log_bytes
        path = events_path(self.logs_dir, job_name)
        with self._lock:
            stored = self._log_bytes.get(key)
        if stored is None:  # first lines since launch or restart: the file may hold some
            stored = path.stat().st_size if path.exists() else 0
        if stored >= cap:
            return
        append_events(self.logs_dir, job_name, (
            (round(line.timestamp * 1000), line.host,
             f"[smlocal] {line.text}" if line.stream == "smlocal" else line.text)
            for line in lines))
        stored = path.stat().st_size
        if stored >= cap:  # overshoots by at most this batch (a few lines)
            append_events(self.logs_dir, job_name, [(
                round(lines[-1].timestamp * 1000), "algo-1",
                f"[smlocal] log truncated: this job printed more than {cap} bytes of log; "
                f"later lines are not stored (metrics are still parsed). "
                f"The limit is SMLOCAL_MAX_LOG_BYTES.")])
        with self._lock:
            self._log_bytes[key] = stored

    def _parser(self, job_name: str) -> MetricParser:
        key = job_name.lower()
        with self._lock:
            parser = self._parsers.get(key)
            if parser is None:
                doc = self.store.get_training_job(job_name) or {}
                parser = self._parsers[key] = MetricParser(job_metric_definitions(doc))
            return parser

    def _notify(self, job_name: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(job_name)
            except Exception:  # a listener bug must not break the backend's thread
                log.exception("training-job listener failed")


def _failure_reason(outcome: JobOutcome) -> str:
    """`AlgorithmError: <failure file>` or `AlgorithmError: Exit Code: n` (spec §3.1 R2)."""
    if outcome.kind == "internal_error":
        reason = outcome.failure_reason or "the job could not be run"
        # The backend words input problems (missing data, image) as the service does.
        text = reason if reason.startswith("ClientError:") else f"InternalServerError: {reason}"
    elif outcome.failure_reason:
        text = f"AlgorithmError: {outcome.failure_reason}"
    elif outcome.oom_killed:
        text = (f"AlgorithmError: the container ran out of memory and was killed (OOMKilled, "
                f"exit code {outcome.exit_code}); choose a larger InstanceType or use less memory")
    else:
        text = f"AlgorithmError: Exit Code: {outcome.exit_code}"
    return text[:FAILURE_REASON_MAX]


def _failure_kind(outcome: JobOutcome, reason: str) -> str:
    """"internal" counts as RetryableError; algorithm and client errors as NonRetryableError
    (spec §4.4 counters)."""
    if outcome.kind == "internal_error" and not reason.startswith("ClientError:"):
        return "internal"
    return "algorithm"
