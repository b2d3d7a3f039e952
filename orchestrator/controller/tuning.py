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
 6. stop decisions for running jobs: early stopping `Auto` (median rule), then every
    strategy's `should_stop` (Hyperband's ASHA; the others never stop a job);
 7. launch new jobs into free slots, as the strategy suggests.

A tick reads the tuning job's stored spec (`controller.spec`, made once at create) and its
training jobs as typed records (`controller.records`), and queries each objective metric's
series at most once (`controller.tick`, which keeps between ticks what cannot have changed).
The service's stop and delete go through `request_stop` and `delete`, which take the
controller's lock; nothing outside this module takes it.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable

from orchestrator.clock import Clock
from orchestrator.config import Settings
from orchestrator.controller.constants import FAILURE_REASON_MAX
from orchestrator.controller.records import (
    Doc,
    Ending,
    TrainingRecord,
    TuningRecord,
    launch_fields,
)
from orchestrator.controller.spec import DefinitionSpec, TuningSpec
from orchestrator.controller.tick import Tick, TickCache
from orchestrator.controller.training import TrainingService
from orchestrator.errors import ResourceNotFound, ValidationError
from orchestrator.status import (
    TrainingJobStatus,
    TuningJobStatus,
    training_is_terminal,
    tuning_is_terminal,
)
from orchestrator.storage.db import Store
from orchestrator.strategies import make_strategy
from orchestrator.strategies.base import Observation, Params, RunningJob, Strategy
from orchestrator.strategies.completion import CompletionState, evaluate_completion
from orchestrator.strategies.early_stopping import median_rule_should_stop

log = logging.getLogger(__name__)

FIRST_FAILURES = 5
FIRST_FAILURES_REASON = (
    "No training job succeeded after 5 attempts. Please take a look at the training job "
    "failures to get more details."
)
_ENDED_WITH_RESULTS = (TrainingJobStatus.Completed, TrainingJobStatus.Stopped)
# A tick starts at least this long after the previous one: short jobs wake the loop dozens of
# times a second, and back-to-back ticks took a third of the GIL from the API (issue 15, load).
MIN_TICK_GAP_SECONDS = 0.1


def child_name(tuning_name: str, index: int) -> str:
    """`<tuning>-NNN-<8 hex>`, NNN the 1-based launch index (spec §4.5 N1)."""
    return f"{tuning_name}-{index:03d}-{secrets.token_hex(4)}"


def _succeeded(job: TrainingRecord) -> bool:
    """F1's success: Completed, or Stopped with an objective (spec §4.4). A job that completes
    without printing the metric is a success here (F3: the tuning job still completes)."""
    return job.status == TrainingJobStatus.Completed or job.succeeded_objective is not None


def tuning_job_not_found(name: str) -> ResourceNotFound:
    """The service's error for an unknown tuning job name."""
    return ResourceNotFound(f"Amazon SageMaker can't find a tuning job called {name}. "
                            "Type another name.")


class TuningController:
    def __init__(self, store: Store, training: TrainingService, settings: Settings,
                 clock: Clock, tick_seconds: float = 0.5) -> None:
        self.store = store
        self.training = training
        self.settings = settings
        self.clock = clock
        self.tick_seconds = tick_seconds
        # Serialises reconcile ticks with the service's stop and delete (the only writers of a
        # tuning job's status besides the reconciler); private to the controller.
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._errors: dict[str, int] = {}
        self._cache = TickCache()  # used under `_lock` only
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
                self._stop.wait(min(MIN_TICK_GAP_SECONDS, self.tick_seconds))

    def step(self) -> None:
        """Reconcile every active tuning job once."""
        active = [TuningJobStatus.InProgress.value, TuningJobStatus.Stopping.value]
        docs = self.store.list_tuning_jobs(statuses=active)
        with self._lock:
            self._cache.keep_only(TuningRecord.of(d) for d in docs)
        for doc in docs:
            name = doc["HyperParameterTuningJobName"]
            try:
                with self._lock:
                    self.reconcile(name)
                self._errors.pop(name, None)
            except Exception as exc:  # F2: an internal error must not kill the loop
                log.exception("reconcile of %s failed", name)
                self._errors[name] = self._errors.get(name, 0) + 1
                if self._errors[name] >= 5:
                    self._decide_end(name, Ending(TuningJobStatus.Failed.value,
                                                  f"Internal error in smlocal: {exc}", None))

    # -- the service's requests ------------------------------------------------------------
    def request_stop(self, name: str) -> None:
        """StopHyperParameterTuningJob: InProgress → Stopping; the next tick stops the jobs."""
        with self._lock:
            doc = self._get(name)
            status = doc["HyperParameterTuningJobStatus"]
            if status != TuningJobStatus.InProgress:
                raise ValidationError(
                    f"The request was rejected because the tuning job {name} is in status "
                    f"{status}; only InProgress tuning jobs can be stopped.")
            now = self.clock.now()

            def mutate(d: Doc) -> None:
                d["HyperParameterTuningJobStatus"] = TuningJobStatus.Stopping.value
                d["LastModifiedTime"] = now

            self.store.update_tuning_job(name, mutate)
        self.wake()

    def delete(self, name: str) -> None:
        """DeleteHyperParameterTuningJob of a terminal tuning job (its training jobs and their
        artifacts stay, spec §2.6)."""
        with self._lock:
            doc = self._get(name)
            status = doc["HyperParameterTuningJobStatus"]
            if not tuning_is_terminal(status):
                raise ValidationError(
                    f"The tuning job {name} is not in a terminal state (it is {status}); stop "
                    "it and wait until it is Stopped before deleting it.")
            self.store.delete_tuning_job(name)

    def _get(self, name: str) -> Doc:
        doc = self.store.get_tuning_job(name)
        if doc is None:
            raise tuning_job_not_found(name)
        return doc

    # -- one job ---------------------------------------------------------------------------
    def reconcile(self, name: str) -> None:
        doc = self.store.get_tuning_job(name)
        if doc is None:
            return
        tuning = TuningRecord.of(doc)
        tick = self._cache.tick(self.store, tuning)
        if tuning.status == TuningJobStatus.Stopping:
            self._stop_all(tick.running, cause="tuning-job-stopped")
            if not tick.running:
                self._finish(name, TuningJobStatus.Stopped.value, None)
            return
        if tuning.status != TuningJobStatus.InProgress:
            return
        if tuning.ending is not None:
            self._stop_all(tick.running, cause="tuning-job-ending")
            if not tick.running:
                self._finish(name, tuning.ending.status, tuning.ending.failure_reason)
            return
        if self._check_end(tick):
            self.wake()
            return
        self._stop_decisions(tick)
        self._launch(tick)

    # -- ending ----------------------------------------------------------------------------
    def _check_end(self, tick: Tick) -> bool:
        tuning, spec, jobs = tick.tuning, tick.spec, tick.jobs
        # F1: the first min(5, budget) jobs all failed (spec §4.4).
        first_n = min(FIRST_FAILURES, spec.max_jobs)
        first = sorted(jobs, key=lambda j: j.launch_index)[:first_n]
        if len(first) == first_n and all(training_is_terminal(j.status) for j in first) \
                and not any(_succeeded(j) for j in jobs):
            self._decide_end(tuning.name, Ending(TuningJobStatus.Failed.value,
                                                 FIRST_FAILURES_REASON, None))
            return True
        # Completion criteria over the jobs in the order they finished.
        state = evaluate_completion([j.succeeded_objective for j in tick.finished],
                                    spec.completion, spec.objective.maximize, spec.max_jobs)
        self._record_completion_details(tuning, state)
        if state.done:
            self._decide_end(tuning.name, Ending(TuningJobStatus.Completed.value, None,
                                                 state.reason))
            return True
        if spec.max_runtime and self.clock.now() - tuning.creation_time >= float(
                spec.max_runtime):
            self._decide_end(tuning.name, Ending(TuningJobStatus.Completed.value, None,
                                                 "MaxRuntimeInSeconds"))
            return True
        if not tick.running and (len(jobs) >= spec.max_jobs or tuning.exhausted):
            self._finish(tuning.name, TuningJobStatus.Completed.value, None)
            return True
        return False

    def _record_completion_details(self, tuning: TuningRecord, state: CompletionState) -> None:
        details: Doc = {"NumberOfTrainingJobsObjectiveNotImproving": state.not_improving}
        old = tuning.completion_details
        if state.converged:
            details["ConvergenceDetectedTime"] = old.get("ConvergenceDetectedTime",
                                                         self.clock.now())
        if details != old:
            self.store.update_tuning_job(
                tuning.name, lambda d: d.__setitem__("TuningJobCompletionDetails", details))

    def _decide_end(self, name: str, ending: Ending) -> None:
        def mutate(d: Doc) -> None:
            if d["HyperParameterTuningJobStatus"] == TuningJobStatus.InProgress:
                d.setdefault("_Ending", ending.to_dict())

        self.store.update_tuning_job(name, mutate)

    def _finish(self, name: str, status: str, failure: str | None) -> None:
        now = self.clock.now()

        def mutate(d: Doc) -> None:
            d["HyperParameterTuningJobStatus"] = status
            d["HyperParameterTuningEndTime"] = now
            d["LastModifiedTime"] = now
            if failure:
                d["FailureReason"] = failure[:FAILURE_REASON_MAX]

        self.store.update_tuning_job(name, mutate)

    def _stop_all(self, running: list[TrainingRecord], cause: str) -> None:
        for job in running:
            if job.status == TrainingJobStatus.InProgress:
                self._stop_job(job.name, cause)

    def _stop_job(self, job_name: str, cause: str) -> None:
        try:
            self.training.stop(job_name, cause=cause)
        except Exception:  # it ended between our read and the stop: nothing to do
            log.debug("stop of %s skipped", job_name, exc_info=True)

    # -- stop decisions --------------------------------------------------------------------
    def _stop_decisions(self, tick: Tick) -> None:
        """Early stopping `Auto` (the median rule), then every strategy's own `should_stop`
        (Hyperband's ASHA; the others never stop a job)."""
        spec = tick.spec
        active = [j for j in tick.running if j.status == TrainingJobStatus.InProgress]
        if not active:
            return
        ended = [j for j in tick.jobs if j.status in _ENDED_WITH_RESULTS]
        stopped: set[str] = set()
        if spec.early_stopping_auto:
            previous = [list(tick.series_of(j)) for j in ended]
            for job in active:
                own = tick.series_of(job)
                maximize = spec.definition(job.definition).objective.maximize
                if own and median_rule_should_stop(own, previous, maximize):
                    self._stop_job(job.name, "early-stopping")
                    stopped.add(job.name)
        # Stop rules compare the series of jobs that ended with results (not failed ones).
        with_series = {j.name for j in ended}
        for definition in spec.definitions:
            mine = [j for j in active if j.name not in stopped
                    and spec.definition(j.definition) is definition]
            if not mine:
                continue
            strategy = self._strategy(spec, definition)
            history = self._history(tick, definition, lambda j: j.name in with_series)
            run_jobs = [RunningJob(j.name, dict(j.tuned), tick.series_of(j)) for j in mine]
            for rj in run_jobs:
                if strategy.should_stop(rj, history, run_jobs):
                    self._stop_job(rj.job_name, spec.strategy.lower())

    # -- launching -------------------------------------------------------------------------
    def _launch(self, tick: Tick) -> None:
        spec, jobs = tick.spec, tick.jobs
        free = min(spec.max_parallel - len(tick.running), spec.max_jobs - len(jobs))
        if free <= 0:
            return
        # Multi-algorithm: give each slot to the definition with the fewest launches so far.
        counts = {d.name: 0 for d in spec.definitions}
        for job in jobs:
            counts[job.definition] = counts.get(job.definition, 0) + 1
        wanted: dict[str | None, int] = {}
        for _ in range(free):
            pick = min(spec.definitions, key=lambda d: counts[d.name] + wanted.get(d.name, 0))
            wanted[pick.name] = wanted.get(pick.name, 0) + 1
        proposals: list[tuple[DefinitionSpec, Params]] = []
        for definition in spec.definitions:
            n = wanted.get(definition.name, 0)
            if n == 0:
                continue
            history = self._history(tick, definition)
            pending = [dict(j.tuned) for j in tick.running
                       if j.definition == definition.name]
            strategy = self._strategy(spec, definition)
            for params in strategy.suggest(history, pending, n):
                proposals.append((definition, params))
        if not proposals:
            if not tick.running:
                self.store.update_tuning_job(tick.tuning.name,
                                             lambda d: d.__setitem__("_Exhausted", True))
                self.wake()
            return
        index = len(jobs)
        for definition, params in proposals:
            index += 1
            self._create_child(tick.tuning, definition, params, index)

    def _strategy(self, spec: TuningSpec, definition: DefinitionSpec) -> Strategy:
        hb = spec.hyperband
        return make_strategy(
            spec.strategy, definition.space, maximize=definition.objective.maximize,
            seed=spec.seed, hyperband=None if hb is None else {
                "MinResource": hb.min_resource, "MaxResource": hb.max_resource},
            points=spec.points)

    def _history(self, tick: Tick, definition: DefinitionSpec,
                 keep_series: Callable[[TrainingRecord], bool] = lambda _j: True
                 ) -> list[Observation]:
        """Warm-start parents' observations, then the definition's finished jobs in the order
        they finished (`keep_series`: whose objective series the strategy sees)."""
        own = [j for j in tick.finished if j.definition == definition.name]
        history = [tick.observation(j, keep_series(j), i) for i, j in enumerate(own)]
        return self._warm_start_history(tick.spec, definition) + history

    def _warm_start_history(self, spec: TuningSpec, definition: DefinitionSpec
                            ) -> list[Observation]:
        warm = spec.warm_start
        if warm is None:
            return []
        out: list[Observation] = []
        for parent in warm.parents:
            pjobs = self._cache.parent_jobs(self.store, parent)
            for i, job in enumerate(j for j in pjobs if training_is_terminal(j.status)):
                # W1: a hyperparameter static in the parent but tuned here takes its static value.
                static = job.doc.get("HyperParameters") or {}
                params = {k: v for k, v in static.items() if k in definition.tuned}
                params.update({k: v for k, v in job.tuned.items() if k in definition.tuned})
                out.append(Observation(params=params, value=job.succeeded_objective, series=(),
                                       status=job.status, source=warm.source,
                                       job_name=job.name, end_order=i))
        return out

    def _create_child(self, tuning: TuningRecord, definition: DefinitionSpec, params: Params,
                      index: int) -> None:
        request: Doc = {k: v for k, v in definition.template.items()}
        request["HyperParameters"] = {**definition.template["HyperParameters"], **params}
        request["TrainingJobName"] = child_name(tuning.name, index)
        request["TuningJobArn"] = tuning.arn
        # Tags propagate to jobs launched after tagging only (spec §2.11).
        tags = self.store.list_tags(tuning.arn)
        self.training.create(request, internal=launch_fields(tuning.name, definition, params,
                                                             index), tags=tags)

