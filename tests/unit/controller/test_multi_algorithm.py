"""Multi-algorithm tuning (`TrainingJobDefinitions`): slots shared, summaries named, best across."""

from __future__ import annotations

import copy

from orchestrator.controller.describe import objective_value
from orchestrator.controller.harness import Harness, tuning_request
from orchestrator.controller.records import TuningRecord
from orchestrator.runner.base import JobSpec
from orchestrator.runner.fake import FakeScript
from orchestrator.strategies.bayesian.probes import launch_indices


def multi_request() -> dict:
    base = tuning_request(max_jobs=6, parallel=2)
    config = base["HyperParameterTuningJobConfig"]
    objective = config.pop("HyperParameterTuningJobObjective")
    ranges = config.pop("ParameterRanges")
    single = base.pop("TrainingJobDefinition")
    defs = []
    for name, image in (("fast", "img-a"), ("slow", "img-b")):
        d = copy.deepcopy(single)
        d.update(DefinitionName=name, TuningObjective=objective, HyperParameterRanges=ranges)
        d["AlgorithmSpecification"]["TrainingImage"] = image
        defs.append(d)
    base["TrainingJobDefinitions"] = defs
    return base


def script(spec: JobSpec) -> FakeScript:
    # img-b is always better: the best job must come from definition "slow".
    offset = 0.0 if spec.image == "img-b" else 10.0
    return FakeScript(lines=[f"loss={offset + float(spec.hyperparameters['lr'])}"])


def test_definitions_share_slots_and_best_is_judged_across_them(tmp_path):
    h = Harness(tmp_path, script)
    h.call("CreateHyperParameterTuningJob", multi_request())
    d = h.run()
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    jobs = h.training_jobs()
    by_def = {name: [j for j in jobs if j["_DefinitionName"] == name] for name in ("fast", "slow")}
    assert len(by_def["fast"]) == len(by_def["slow"]) == 3  # fewest-launched-first
    assert all(j["AlgorithmSpecification"]["TrainingImage"] == "img-b" for j in by_def["slow"])
    best = min(jobs, key=objective_value)
    assert d["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
    assert d["BestTrainingJob"]["TrainingJobDefinitionName"] == "slow"
    for definition in d["TrainingJobDefinitions"]:
        assert definition["StaticHyperParameters"]["_tuning_objective_metric"] == "loss"
    summaries = h.call("ListTrainingJobsForHyperParameterTuningJob",
                       {"HyperParameterTuningJobName": "tj", "MaxResults": 100})
    assert {s["TrainingJobDefinitionName"] for s in summaries["TrainingJobSummaries"]} == {
        "fast", "slow"}


def test_each_definitions_history_carries_its_own_launch_order(tmp_path):
    """The name's counter numbers launches across definitions; a definition's strategy gets
    the order among its own launches (0, 1, 2, ...), which the Bayesian strategy's probes
    (bayesian/probes.py) need to tell its kinds of pick apart."""
    h = Harness(tmp_path, script)
    h.call("CreateHyperParameterTuningJob", multi_request())
    h.run()
    tick = h.tuner._cache.tick(h.store, TuningRecord.of(h.store.get_tuning_job("tj")))
    for name in ("fast", "slow"):
        own = [j for j in tick.jobs if j.definition == name]
        by_counter = sorted(own, key=lambda j: int(j.name.split("-")[-2]))
        assert [int(j.name.split("-")[-2]) for j in by_counter] != list(range(1, 4))
        history = [tick.observation(j, False, i) for i, j in enumerate(by_counter)]
        assert [o.launch_order for o in history] == [0, 1, 2]
        shuffled = history[::-1]  # finish order may differ from launch order
        assert list(launch_indices(shuffled, launched=3)) == [2, 1, 0]
