"""One reconcile tick's view of a tuning job, and what the reconciler keeps between ticks.

A tick used to decode every training job's document and query every objective series from the
store (30 ms of one core for a tuning job of 500 training jobs, most of it `json.loads`), and
the reconciler ticks on every training-job event: while a tuning job of many short training
jobs ran, that kept the process's GIL busy and the API's threads waiting (issue 15, load).

The loop stays level-triggered: every tick still reads every training job's stored row, and
decides from what it read. `TickCache` only skips work whose result cannot differ:
- a document is decoded again only when its stored JSON text differs from the text decoded
  before (the same text is the same document, whichever path wrote it: nothing can be stale);
- a finished training job's `Observation` (what strategies read, in each tick's history) is
  built again only when its record (same stored text), its place in the finish order or the
  length of its series differs (rows appended after a job ended);
- an objective series is read once in full, then only its metric rows stored after the last
  row read: rows are only ever appended to a training job's series, their ids increase with
  each write and are never reused (`Store.metric_series_since`), and the only deletion is of
  an imported tuning job's training jobs, which are never reconciled (imports have ended).
A cache belongs to one tuning job (its name and creation time) and is dropped once the job is
no longer active, or when the controller restarts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from orchestrator.controller.records import TrainingRecord, TuningRecord
from orchestrator.controller.spec import TuningSpec
from orchestrator.status import training_is_terminal
from orchestrator.storage.db import Store
from orchestrator.strategies.base import Observation

# (job key, series kept, finish order) -> (record, series length, the observation built)
_Observations = dict[tuple[str, bool, int], tuple[TrainingRecord, int, Observation]]


class _Documents:
    """Training-job key → (stored text, its record): the records of a listing, each decoded
    only if its text changed since the previous listing."""

    def __init__(self) -> None:
        self._by_key: dict[str, tuple[str, TrainingRecord]] = {}

    def records(self, rows: Iterable[tuple[str, str]]) -> list[TrainingRecord]:
        kept: dict[str, tuple[str, TrainingRecord]] = {}
        for key, text in rows:
            hit = self._by_key.get(key)
            if hit is None or hit[0] != text:
                hit = (text, TrainingRecord.of(json.loads(text)))
            kept[key] = hit
        self._by_key = kept  # rows no longer listed are forgotten
        return [record for _text, record in kept.values()]


class _Series:
    """Training-job key → one metric's values in order, read incrementally."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self._last = 0  # the last metric row id of the previous read
        self._values: dict[str, list[float]] = {}

    def read(self, store: Store, keys: list[str]) -> dict[str, list[float]]:
        # A job not read before is read in full (its first rows may precede `_last`).
        after = {k: self._last if k in self._values else 0 for k in keys}
        added, self._last = store.metric_series_since(after, self.metric)
        for key, values in added.items():
            if after[key]:
                self._values[key].extend(values)
            else:
                self._values[key] = values
        self._values = {k: self._values[k] for k in keys}  # jobs no longer listed: forgotten
        return self._values


class TickCache:
    """What the reconciler keeps of each active tuning job between its ticks."""

    def __init__(self) -> None:
        self._jobs: dict[tuple[str, float],
                         tuple[_Documents, dict[str, _Series], _Observations]] = {}
        self._parents: dict[str, _Documents] = {}

    def tick(self, store: Store, tuning: TuningRecord) -> Tick:
        docs, series, observations = self._jobs.setdefault(
            (tuning.name.lower(), tuning.creation_time), (_Documents(), {}, {}))
        jobs = docs.records(store.training_job_texts(tuning.name))
        return Tick(store, tuning, jobs, series, observations)

    def parent_jobs(self, store: Store, parent: str) -> list[TrainingRecord]:
        """A warm-start parent's training jobs (read as a tick reads its own)."""
        return self._parents.setdefault(parent.lower(), _Documents()).records(
            store.training_job_texts(parent))

    def keep_only(self, active: Iterable[TuningRecord]) -> None:
        """Forget every tuning job not listed (ended, deleted, or another by the same name)."""
        active = list(active)
        keys = {(t.name.lower(), t.creation_time) for t in active}
        parents = {p.lower() for t in active if t.spec.warm_start is not None
                   for p in t.spec.warm_start.parents}
        self._jobs = {k: v for k, v in self._jobs.items() if k in keys}
        self._parents = {k: v for k, v in self._parents.items() if k in parents}


class Tick:
    """One reconcile tick's view of a tuning job: its spec, its training jobs as records, and
    the objective series of its training jobs, read from the store at most once per tick (on
    first use)."""

    def __init__(self, store: Store, tuning: TuningRecord, jobs: list[TrainingRecord],
                 series: dict[str, _Series] | None = None,
                 observations: _Observations | None = None) -> None:
        self.store = store
        self.tuning = tuning
        self.spec: TuningSpec = tuning.spec
        self.jobs = jobs
        self.running = [j for j in jobs if not training_is_terminal(j.status)]
        self.finished = sorted((j for j in jobs if training_is_terminal(j.status)),
                               key=lambda j: j.end_order_key)
        self._readers = {} if series is None else series
        self._series: dict[str, list[float]] | None = None
        self._observations: _Observations = {} if observations is None else observations
        self._launch_orders: dict[str, int] | None = None

    @property
    def series(self) -> dict[str, list[float]]:
        """Job key → its objective metric's values in order (one read per metric name)."""
        if self._series is None:
            by_metric: dict[str, list[str]] = {}
            for job in self.jobs:
                if job.objective_metric is not None:
                    by_metric.setdefault(job.objective_metric, []).append(job.key)
            self._series = {}
            for metric, keys in by_metric.items():
                reader = self._readers.setdefault(metric, _Series(metric))
                self._series.update(reader.read(self.store, keys))
        return self._series

    def series_of(self, job: TrainingRecord) -> tuple[float, ...]:
        return tuple(self.series.get(job.key, ()))

    def launch_order(self, job: TrainingRecord) -> int | None:
        """0-based place of `job` among its training job definition's launches. The job
        name's counter (launch_index) numbers launches across definitions; a strategy sees
        one definition's jobs, and its launch-ordered rules (bayesian/probes.py) need their
        order within it. None for a job the tuning job did not launch."""
        if self._launch_orders is None:
            by_definition: dict[str | None, list[TrainingRecord]] = {}
            for j in self.jobs:
                if j.launch_index:
                    by_definition.setdefault(j.definition, []).append(j)
            self._launch_orders = {
                j.key: rank for group in by_definition.values()
                for rank, j in enumerate(sorted(group, key=lambda j: j.launch_index))}
        return self._launch_orders.get(job.key)

    def observation(self, job: TrainingRecord, with_series: bool, order: int) -> Observation:
        """A finished job of this tuning job as a strategy sees it (`order`: its place in the
        finish order; `with_series`: whether the strategy sees its objective series)."""
        values = self.series.get(job.key, ()) if with_series else ()
        key = (job.key, with_series, order)
        hit = self._observations.get(key)
        if hit is not None and hit[0] is job and hit[1] == len(values):
            return hit[2]
        built = Observation(params=dict(job.tuned), value=job.succeeded_objective,
                            series=tuple(values), status=job.status, source="self",
                            job_name=job.name, end_order=order,
                            launch_order=self.launch_order(job))
        self._observations[key] = (job, len(values), built)
        return built
