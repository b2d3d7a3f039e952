"""The tuning-job state machine: a level-triggered reconcile loop (anchors §5, §8.4 rule 8).

Each tick recomputes everything from stored state, so it is safe to run at any time and after a
crash: the number of launched jobs is the number of stored training-job documents (a document
is written before its container starts, and the backend re-launches a stored job that has no
container), so the budget holds and nothing is launched twice.

Order of decisions in one tick of an InProgress job (fixed, documented in the README):
 1. an end already decided (`_Ending`): stop what still runs, then finish;
 2. first-5-failures rule (spec §4.4 F1) → Failed;
 3. completion criteria (target value, best not improving, convergence; spec §4.3 O5) → Completed;
 4. ResourceLimits.MaxRuntimeInSeconds reached → Completed (in-flight jobs stopped);
 5. budget spent (or space exhausted) and nothing running → Completed;
 6. stop decisions for running jobs: early stopping `Auto` (median rule) or Hyperband (ASHA);
 7. launch new jobs into free slots, as the strategy suggests.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Sequence
from typing import Any

from orchestrator.clock import Clock
from orchestrator.config import Settings
from orchestrator.controller import describe
from orchestrator.controller.training import TrainingService
from orchestrator.status import (
    ObjectiveStatus,
    TrainingJobStatus,
    TuningJobStatus,
    training_is_terminal,
)
from orchestrator.storage.db import Doc, Store
from orchestrator.strategies import make_strategy
from orchestrator.strategies.base import Observation, Params, RunningJob
from orchestrator.strategies.completion import evaluate_completion
from orchestrator.strategies.early_stopping import median_rule_should_stop
from orchestrator.strategies.space import SearchSpace

log = logging.getLogger(__name__)

FIRST_FAILURES = 5
FIRST_FAILURES_REASON = (
    "No training job succeeded after 5 attempts. Please take a look at the training job "
    "failures to get more details."
)
# Members of a HyperParameterTrainingJobDefinition copied into each training job (spec §4.5 N3).
_COPIED = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
           "VpcConfig", "StoppingCondition", "EnableNetworkIsolation",
           "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
           "CheckpointConfig", "RetryStrategy", "Environment")


def definitions(doc: Doc) -> list[Doc]:
    """The job's training-job definitions, each with its objective and ranges resolved."""
    config = doc["HyperParameterTuningJobConfig"]
    if "TrainingJobDefinitions" in doc:
        return list(doc["TrainingJobDefinitions"])
    single = dict(doc["TrainingJobDefinition"])
    single.setdefault("TuningObjective", config.get("HyperParameterTuningJobObjective"))
    single.setdefault("HyperParameterRanges", config.get("ParameterRanges") or {})
    return [single]


def child_name(tuning_name: str, index: int) -> str:
    """`<tuning>-NNN-<8 hex>`, NNN the 1-based launch index (spec §4.5 N1)."""
    return f"{tuning_name}-{index:03d}-{secrets.token_hex(4)}"


def _succeeded(job: Doc) -> bool:
    """F1's success: Completed, or Stopped with an objective (spec §4.4). A job that completes
    without printing the metric is a success here (F3: the tuning job still completes)."""
    return job["TrainingJobStatus"] == TrainingJobStatus.Completed or (
        describe.objective_status(job) == ObjectiveStatus.Succeeded)


def _is_maximize(definition: Doc) -> bool:
    return definition["TuningObjective"]["Type"] == "Maximize"


def _end_order_key(job: Doc) -> tuple[float, float]:
    return (job.get("TrainingEndTime") or job.get("LastModifiedTime") or 0.0, job["CreationTime"])


class TuningController:
    def __init__(self, store: Store, training: TrainingService, settings: Settings,
                 clock: Clock, tick_seconds: float = 0.5) -> None:
        self.store = store
        self.training = training
        self.settings = settings
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._errors: dict[str, int] = {}
        training.listeners.append(lambda _job: self.wake())

    # -- loop ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="smlocal-tuner", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick_seconds)
            self._wake.clear()
            if not self._stop.is_set():
                self.step()

    def step(self) -> None:
        """Reconcile every active tuning job once."""
        active = [TuningJobStatus.InProgress.value, TuningJobStatus.Stopping.value]
        for doc in self.store.list_tuning_jobs(statuses=active):
            name = doc["HyperParameterTuningJobName"]
            try:
                with self.lock:
                    self.reconcile(name)
                self._errors.pop(name, None)
            except Exception as exc:  # F2: an internal error must not kill the loop
                log.exception("reconcile of %s failed", name)
                self._errors[name] = self._errors.get(name, 0) + 1
                if self._errors[name] >= 5:
                    self._decide_end(name, TuningJobStatus.Failed.value,
                                     f"Internal error in smlocal: {exc}")

    # -- one job ---------------------------------------------------------------------------
    def reconcile(self, name: str) -> None:
        doc = self.store.get_tuning_job(name)
        if doc is None:
            return
        jobs = self.store.list_training_jobs(tuning_job=name)
        running = [j for j in jobs if not training_is_terminal(j["TrainingJobStatus"])]
        status = doc["HyperParameterTuningJobStatus"]
        if status == TuningJobStatus.Stopping:
            self._stop_all(running, cause="tuning-job-stopped")
            if not running:
                self._finish(name, TuningJobStatus.Stopped.value, None)
            return
        if status != TuningJobStatus.InProgress:
            return
        if doc.get("_Ending"):
            self._stop_all(running, cause="tuning-job-ending")
            if not running:
                self._finish(name, doc["_Ending"]["Status"], doc["_Ending"].get("FailureReason"))
            return
        if self._check_end(doc, jobs, running):
            self.wake()
            return
        series = self._objective_series(doc, running)
        self._stop_decisions(doc, jobs, running, series)
        self._launch(doc, jobs, running)

    # -- ending ----------------------------------------------------------------------------
    def _check_end(self, doc: Doc, jobs: list[Doc], running: list[Doc]) -> bool:
        name = doc["HyperParameterTuningJobName"]
        config = doc["HyperParameterTuningJobConfig"]
        limits = config["ResourceLimits"]
        max_jobs = int(limits["MaxNumberOfTrainingJobs"])
        # F1: the first min(5, budget) jobs all failed (spec §4.4).
        first = sorted(jobs, key=lambda j: j.get("_LaunchIndex", 0))[:min(FIRST_FAILURES, max_jobs)]
        if len(first) == min(FIRST_FAILURES, max_jobs) and all(
            training_is_terminal(j["TrainingJobStatus"]) for j in first
        ) and not any(_succeeded(j) for j in jobs):
            self._decide_end(name, TuningJobStatus.Failed.value, FIRST_FAILURES_REASON)
            return True
        # Completion criteria over the jobs in the order they finished.
        finished = sorted((j for j in jobs if training_is_terminal(j["TrainingJobStatus"])),
                          key=_end_order_key)
        maximize = _is_maximize(definitions(doc)[0])
        values = [describe.objective_value(j)
                  if describe.objective_status(j) == ObjectiveStatus.Succeeded else None
                  for j in finished]
        state = evaluate_completion(values, config.get("TuningJobCompletionCriteria"),
                                    maximize, max_jobs)
        self._record_completion_details(doc, state)
        if state.done:
            self._decide_end(name, TuningJobStatus.Completed.value, None, reason=state.reason)
            return True
        runtime = limits.get("MaxRuntimeInSeconds")
        if runtime and self.clock.now() - doc["CreationTime"] >= float(runtime):
            self._decide_end(name, TuningJobStatus.Completed.value, None,
                             reason="MaxRuntimeInSeconds")
            return True
        if not running and (len(jobs) >= max_jobs or doc.get("_Exhausted")):
            self._finish(name, TuningJobStatus.Completed.value, None)
            return True
        return False

    def _record_completion_details(self, doc: Doc, state: Any) -> None:
        details: dict[str, Any] = {"NumberOfTrainingJobsObjectiveNotImproving": state.not_improving}
        old = doc.get("TuningJobCompletionDetails") or {}
        if state.converged:
            details["ConvergenceDetectedTime"] = old.get("ConvergenceDetectedTime",
                                                         self.clock.now())
        if details != old:
            self.store.update_tuning_job(
                doc["HyperParameterTuningJobName"],
                lambda d: d.__setitem__("TuningJobCompletionDetails", details))

    def _decide_end(self, name: str, status: str, failure: str | None,
                    reason: str | None = None) -> None:
        def mutate(d: Doc) -> None:
            if d["HyperParameterTuningJobStatus"] == TuningJobStatus.InProgress:
                d.setdefault("_Ending", {"Status": status, "FailureReason": failure,
                                         "Reason": reason})

        self.store.update_tuning_job(name, mutate)

    def _finish(self, name: str, status: str, failure: str | None) -> None:
        now = self.clock.now()

        def mutate(d: Doc) -> None:
            d["HyperParameterTuningJobStatus"] = status
            d["HyperParameterTuningEndTime"] = now
            d["LastModifiedTime"] = now
            if failure:
                d["FailureReason"] = failure[:1024]

        self.store.update_tuning_job(name, mutate)

    def _stop_all(self, running: list[Doc], cause: str) -> None:
        for job in running:
            if job["TrainingJobStatus"] == TrainingJobStatus.InProgress:
                self._stop_job(job["TrainingJobName"], cause)

    def _stop_job(self, job_name: str, cause: str) -> None:
        try:
            self.training.stop(job_name, cause=cause)
        except Exception:  # it ended between our read and the stop: nothing to do
            log.debug("stop of %s skipped", job_name, exc_info=True)

    # -- stop decisions --------------------------------------------------------------------
    def _objective_series(self, doc: Doc, jobs: Sequence[Doc]) -> dict[str, list[float]]:
        by_metric: dict[str, list[str]] = {}
        for job in jobs:
            by_metric.setdefault(job["_ObjectiveMetric"], []).append(job["TrainingJobName"])
        out: dict[str, list[float]] = {}
        for metric, names in by_metric.items():
            out.update(self.store.metric_series_many(names, metric))
        return out

    def _stop_decisions(self, doc: Doc, jobs: list[Doc], running: list[Doc],
                        series: dict[str, list[float]]) -> None:
        config = doc["HyperParameterTuningJobConfig"]
        active = [j for j in running if j["TrainingJobStatus"] == TrainingJobStatus.InProgress]
        if not active:
            return
        defs = {d.get("DefinitionName"): d for d in definitions(doc)}
        finished = [j for j in jobs if j["TrainingJobStatus"] in
                    (TrainingJobStatus.Completed, TrainingJobStatus.Stopped)]
        finished_series = self._objective_series(doc, finished)
        if config.get("TrainingJobEarlyStoppingType") == "Auto":
            previous = [finished_series[j["TrainingJobName"].lower()] for j in finished]
            for job in active:
                own = series.get(job["TrainingJobName"].lower(), [])
                definition = defs.get(job.get("_DefinitionName")) or definitions(doc)[0]
                if own and median_rule_should_stop(own, previous, _is_maximize(definition)):
                    self._stop_job(job["TrainingJobName"], "early-stopping")
        if config["Strategy"] == "Hyperband":
            definition = definitions(doc)[0]
            strategy = self._strategy(doc, definition)
            history = self._history(doc, definition, jobs, finished_series)
            run_jobs = [RunningJob(j["TrainingJobName"], j.get("_TunedHyperParameters") or {},
                                   tuple(series.get(j["TrainingJobName"].lower(), [])))
                        for j in active]
            for rj in run_jobs:
                if strategy.should_stop(rj, history, run_jobs):
                    self._stop_job(rj.job_name, "hyperband")

    # -- launching -------------------------------------------------------------------------
    def _launch(self, doc: Doc, jobs: list[Doc], running: list[Doc]) -> None:
        limits = doc["HyperParameterTuningJobConfig"]["ResourceLimits"]
        free = min(int(limits["MaxParallelTrainingJobs"]) - len(running),
                   int(limits["MaxNumberOfTrainingJobs"]) - len(jobs))
        if free <= 0:
            return
        defs = definitions(doc)
        # Multi-algorithm: give each slot to the definition with the fewest launches so far.
        counts = {d.get("DefinitionName"): 0 for d in defs}
        for job in jobs:
            counts[job.get("_DefinitionName")] = counts.get(job.get("_DefinitionName"), 0) + 1
        wanted: dict[str | None, int] = {}
        for _ in range(free):
            pick = min(defs, key=lambda d: counts[d.get("DefinitionName")] +
                       wanted.get(d.get("DefinitionName"), 0))
            wanted[pick.get("DefinitionName")] = wanted.get(pick.get("DefinitionName"), 0) + 1
        finished = [j for j in jobs if training_is_terminal(j["TrainingJobStatus"])]
        finished_series = self._objective_series(doc, finished)
        proposals: list[tuple[Doc, Params]] = []
        for definition in defs:
            n = wanted.get(definition.get("DefinitionName"), 0)
            if n == 0:
                continue
            own = [j for j in jobs if j.get("_DefinitionName") == definition.get("DefinitionName")]
            history = self._history(doc, definition, own, finished_series)
            pending = [j.get("_TunedHyperParameters") or {} for j in own
                       if not training_is_terminal(j["TrainingJobStatus"])]
            strategy = self._strategy(doc, definition)
            for params in strategy.suggest(history, pending, n):
                proposals.append((definition, params))
        if not proposals:
            if not running:
                self.store.update_tuning_job(doc["HyperParameterTuningJobName"],
                                             lambda d: d.__setitem__("_Exhausted", True))
                self.wake()
            return
        index = len(jobs)
        for definition, params in proposals:
            index += 1
            self._create_child(doc, definition, params, index)

    def _strategy(self, doc: Doc, definition: Doc) -> Any:
        config = doc["HyperParameterTuningJobConfig"]
        space = SearchSpace.from_parameter_ranges(definition.get("HyperParameterRanges") or {})
        hyperband = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig")
        return make_strategy(
            config["Strategy"], space, maximize=_is_maximize(definition), seed=doc["_Seed"],
            hyperband=doc.get("_Hyperband") or hyperband,
            max_jobs=int(config["ResourceLimits"]["MaxNumberOfTrainingJobs"]),
        )

    def _history(self, doc: Doc, definition: Doc, jobs: list[Doc],
                 series: dict[str, list[float]]) -> list[Observation]:
        finished = sorted((j for j in jobs if training_is_terminal(j["TrainingJobStatus"])),
                          key=_end_order_key)
        history = [self._observation(j, series, "self", i) for i, j in enumerate(finished)]
        return self._warm_start_history(doc, definition) + history

    def _observation(self, job: Doc, series: dict[str, list[float]], source: str,
                     order: int) -> Observation:
        ok = describe.objective_status(job) == ObjectiveStatus.Succeeded
        return Observation(
            params=dict(job.get("_TunedHyperParameters") or {}),
            value=describe.objective_value(job) if ok else None,
            series=tuple(series.get(job["TrainingJobName"].lower(), [])),
            status=job["TrainingJobStatus"], source=source,
            job_name=job["TrainingJobName"], end_order=order,
        )

    def _warm_start_history(self, doc: Doc, definition: Doc) -> list[Observation]:
        warm = doc.get("WarmStartConfig")
        if not warm:
            return []
        source = "parent" if warm["WarmStartType"] == "IdenticalDataAndAlgorithm" else "transfer"
        tuned = {r["Name"] for kind in ("IntegerParameterRanges", "ContinuousParameterRanges",
                                        "CategoricalParameterRanges")
                 for r in (definition.get("HyperParameterRanges") or {}).get(kind, [])}
        out: list[Observation] = []
        for parent in warm["ParentHyperParameterTuningJobs"]:
            pjobs = [j for j in self.store.list_training_jobs(
                tuning_job=parent["HyperParameterTuningJobName"])
                if training_is_terminal(j["TrainingJobStatus"])]
            for i, job in enumerate(pjobs):
                obs = self._observation(job, {}, source, i)
                # W1: a hyperparameter static in the parent but tuned here takes its static value.
                params = {k: v for k, v in (job.get("HyperParameters") or {}).items() if k in tuned}
                params.update({k: v for k, v in obs.params.items() if k in tuned})
                out.append(Observation(params=params, value=obs.value, series=(),
                                       status=obs.status, source=source,
                                       job_name=obs.job_name, end_order=i))
        return out

    def _create_child(self, doc: Doc, definition: Doc, params: Params, index: int) -> None:
        tuning_name = doc["HyperParameterTuningJobName"]
        hyperparameters = dict(definition.get("StaticHyperParameters") or {})
        hyperparameters.update(params)
        request: dict[str, Any] = {
            "TrainingJobName": child_name(tuning_name, index),
            "HyperParameters": hyperparameters,
            "TuningJobArn": doc["HyperParameterTuningJobArn"],
        }
        for key in _COPIED:
            if key in definition:
                request[key] = definition[key]
        request["ResourceConfig"] = resource_config(definition)
        objective = definition["TuningObjective"]
        internal = {
            "_TuningJobName": tuning_name,
            "_TunedHyperParameters": dict(params),
            "_DefinitionName": definition.get("DefinitionName"),
            "_ObjectiveMetric": objective["MetricName"],
            "_ObjectiveType": objective["Type"],
            "_LaunchIndex": index,
        }
        # Tags propagate to jobs launched after tagging only (spec §2.11).
        tags = self.store.list_tags(doc["HyperParameterTuningJobArn"])
        self.training.create(request, internal=internal, tags=tags)


def resource_config(definition: Doc) -> Doc:
    if definition.get("ResourceConfig"):
        return dict(definition["ResourceConfig"])
    hp = definition.get("HyperParameterTuningResourceConfig") or {}
    configs = hp.get("InstanceConfigs")
    if configs:  # "Prioritized": the first entry is the one we can always run locally
        first = configs[0]
        return {"InstanceType": first["InstanceType"], "InstanceCount": first["InstanceCount"],
                "VolumeSizeInGB": first["VolumeSizeInGB"]}
    return {k: hp[k] for k in ("InstanceType", "InstanceCount", "VolumeSizeInGB") if k in hp} or {
        "InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}
