"""Median stopping rule (spec §4.3 O3) and completion criteria (O5) on hand-made histories."""

from __future__ import annotations

import math

import pytest

from orchestrator.strategies.completion import convergence_window, evaluate_completion
from orchestrator.strategies.early_stopping import median_rule_should_stop

PREV = [[4.0, 2.0, 1.0], [6.0, 4.0, 2.0], [8.0, 6.0], [3.0]]


def test_median_uses_running_averages_of_jobs_with_k_observations():
    # k = 2: references are jobs with >= 2 values: means 3, 5, 7 -> median 5 (minimising)
    assert median_rule_should_stop([9.0, 5.5], PREV, maximize=False)
    assert not median_rule_should_stop([9.0, 4.5], PREV, maximize=False)
    assert not median_rule_should_stop([9.0, 5.0], PREV, maximize=False)  # strict
    # maximising: worse means lower
    assert median_rule_should_stop([9.0, 4.5], PREV, maximize=True)
    assert not median_rule_should_stop([9.0, 5.5], PREV, maximize=True)


def test_median_needs_three_references():
    # k = 3: only two previous jobs have 3 observations
    assert not median_rule_should_stop([1.0, 1.0, 100.0], PREV, maximize=False)
    assert median_rule_should_stop([1.0, 1.0, 100.0], PREV, maximize=False, min_reference=2)
    # k = 1: four references, means 4, 6, 8, 3 -> median 5
    assert median_rule_should_stop([5.1], PREV, maximize=False)
    assert not median_rule_should_stop([], PREV, maximize=False)
    assert not median_rule_should_stop([100.0], [], maximize=False)


def test_median_ignores_nonfinite_references_and_stops_nan_jobs():
    prev = [[1.0], [2.0], [3.0], [math.nan]]
    assert not median_rule_should_stop([2.0], prev, maximize=False)
    assert median_rule_should_stop([math.nan], prev, maximize=False)


def test_target_value_in_either_direction():
    st = evaluate_completion([0.5, 0.8, 0.91], {"TargetObjectiveMetricValue": 0.9}, True, 50)
    assert st.done and st.reason == "TargetObjectiveMetricValue"
    st = evaluate_completion([0.5, 0.8], {"TargetObjectiveMetricValue": 0.9}, True, 50)
    assert not st.done
    st = evaluate_completion([0.5, 0.1], {"TargetObjectiveMetricValue": 0.1}, False, 50)
    assert st.done


def test_best_not_improving_uses_the_one_percent_rule():
    crit = {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}}
    # maximising: 1.0 then 1.005 (+0.5%: no), 0.9, 1.009 (no) -> 3 not improving
    st = evaluate_completion([1.0, 1.005, 0.9, 1.009], crit, True, 50)
    assert st.done and st.reason == "BestObjectiveNotImproving" and st.not_improving == 3
    # 1.011 is 1.1% above the reference 1.0: counter resets
    st = evaluate_completion([1.0, 1.005, 0.9, 1.011], crit, True, 50)
    assert not st.done and st.not_improving == 0
    # minimising, failed jobs skipped
    st = evaluate_completion([10.0, None, 9.95, 9.0, None, 9.5], crit, False, 50)
    assert not st.done and st.not_improving == 1


def test_best_not_improving_with_zero_and_negative_best():
    crit = {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}}
    assert evaluate_completion([0.0, -1e-9], crit, False, 50).not_improving == 0
    # minimising a negative objective: -2 -> -2.01 is 0.5% of |-2|: not an improvement
    assert evaluate_completion([-2.0, -2.01], crit, False, 50).not_improving == 1


def test_convergence_window_and_minimum_jobs():
    assert convergence_window(50) == 10 and convergence_window(300) == 30
    crit = {"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}}
    flat = [1.0] * 11  # 10 not improving after the first
    st = evaluate_completion(flat, crit, False, 50)
    assert st.done and st.converged and st.reason == "ConvergenceDetected"
    st = evaluate_completion(flat, crit, False, 100)  # needs >= 20 valued jobs
    assert not st.done and not st.converged
    st = evaluate_completion(flat, {"ConvergenceDetected": {"CompleteOnConvergence": "Disabled"}},
                             False, 50)
    assert not st.done


@pytest.mark.parametrize("criteria", [None, {}])
def test_no_criteria_never_completes(criteria):
    st = evaluate_completion([1.0] * 40, criteria, True, 40)
    assert not st.done and st.reason is None and st.not_improving == 39
