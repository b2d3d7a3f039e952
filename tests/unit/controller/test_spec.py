"""The tuning spec: made once at create, stored with the job, read by every tick; old documents
without it still load; one reconcile tick reads it and each metric series once."""

from __future__ import annotations

from collections import Counter
from typing import Any

from orchestrator.controller.harness import Harness, tuning_request
from orchestrator.controller.spec import TuningSpec
from orchestrator.storage.db import Store


class CountingStore:
    """A Store proxy that counts calls by method name."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted


def test_spec_is_stored_at_create_and_round_trips(tmp_path):
    h = Harness(tmp_path)
    h.call("CreateHyperParameterTuningJob", tuning_request(
        strategy="Hyperband", StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 2}}))
    doc = h.store.get_tuning_job("tj")
    spec = TuningSpec.of(doc)
    assert spec.to_dict() == doc["_Spec"] == TuningSpec.from_dict(doc["_Spec"]).to_dict()
    # MaxResource inferred from the static `epochs` (C10), MinResource given.
    assert (spec.hyperband.min_resource, spec.hyperband.max_resource) == (2, 5)
    assert spec.objective.metric == "loss" and not spec.objective.maximize
    assert spec.definitions[0].space.names == ["lr", "depth"]
    assert spec.definitions[0].template["HyperParameters"] == {
        "epochs": "5", "_tuning_objective_metric": "loss"}
    assert "_Spec" not in h.describe()


def test_a_document_stored_before_the_spec_still_runs(tmp_path):
    h = Harness(tmp_path)
    h.call("CreateHyperParameterTuningJob", tuning_request(
        strategy="Hyperband", max_jobs=4, RandomSeed=11))
    expected = h.store.get_tuning_job("tj")["_Spec"]

    def old_format(d: dict) -> None:  # what a tuning job stored before the spec looked like
        del d["_Spec"]
        d["_Seed"], d["_Hyperband"] = 11, {"MinResource": 1, "MaxResource": 5}

    h.store.update_tuning_job("tj", old_format)
    assert TuningSpec.of(h.store.get_tuning_job("tj")).to_dict() == expected
    d = h.run()
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert len(h.training_jobs()) == 4


def test_one_tick_reads_the_spec_and_each_series_once(tmp_path):
    store = CountingStore(Store(tmp_path / "smlocal.db"))
    h = Harness(tmp_path, store=store)  # type: ignore[arg-type]
    h.call("CreateHyperParameterTuningJob", tuning_request(
        max_jobs=12, parallel=3, TrainingJobEarlyStoppingType="Auto", RandomSeed=3))
    # Run until some jobs ended and others still run, with a slot free: the tick then takes
    # completion, early-stopping and launch decisions, which all need objective series.
    for _ in range(200):
        h.backend.step()
        jobs = h.training_jobs()
        ended = [j for j in jobs if j["TrainingJobStatus"] != "InProgress"]
        running = len(jobs) - len(ended)
        if ended and 0 < running < 3 and len(jobs) < 12:
            break
        h.tuner.step()
    else:
        raise AssertionError("never reached a tick with ended, running jobs and a free slot")
    launched = len(jobs)
    store.calls.clear()
    h.tuner.reconcile("tj")
    calls = dict(store.calls)
    assert len(h.training_jobs()) > launched  # it launched into the free slot
    assert calls["get_tuning_job"] == 1
    assert calls["training_job_texts"] == 1
    assert calls["metric_series_since"] == 1  # one objective metric, queried once
    assert calls.get("update_tuning_job", 0) <= 1  # at most the completion details
