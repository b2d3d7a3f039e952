"""Random, Grid and Hyperband (ASHA) strategies, and make_strategy."""

from __future__ import annotations

import pytest

from orchestrator.strategies import Observation, RunningJob, SearchSpace, make_strategy
from orchestrator.strategies.hyperband import asha_should_stop, rungs

MIXED = {"ContinuousParameterRanges": [
    {"Name": "lr", "MinValue": "1e-4", "MaxValue": "1", "ScalingType": "Logarithmic"}],
    "CategoricalParameterRanges": [{"Name": "opt", "Values": ["a", "b"]}]}
DISCRETE = {"CategoricalParameterRanges": [{"Name": "a", "Values": ["x", "y", "z"]},
                                           {"Name": "b", "Values": ["1", "2"]}],
            "IntegerParameterRanges": [{"Name": "k", "MinValue": "1", "MaxValue": "2"}]}


def _obs(params, value=1.0, series=(), source="self", name=""):
    return Observation(params=params, value=value, series=tuple(series), source=source,
                       job_name=name)


def test_random_is_reproducible_and_independent_of_batching():
    space = SearchSpace.from_parameter_ranges(MIXED)
    a = make_strategy("Random", space, maximize=False, seed=7)
    one_batch = a.suggest([], [], 6)
    history: list[Observation] = []
    pending: list = []
    stepwise = []
    for i in range(6):  # asynchronous: some finish, some pending
        got = a.suggest(history, pending, 1)
        stepwise += got
        pending += got
        if i % 2:
            history.append(_obs(pending.pop(0)))
    assert one_batch == stepwise
    assert make_strategy("Random", space, maximize=False, seed=8).suggest([], [], 6) != one_batch


@pytest.mark.parametrize("strategy", ["Random", "Bayesian", "Hyperband"])
def test_discrete_space_never_repeats_and_ends_when_exhausted(strategy):
    space = SearchSpace.from_parameter_ranges(DISCRETE)
    s = make_strategy(strategy, space, maximize=False, seed=1,
                      hyperband={"MinResource": 1, "MaxResource": 3})
    history: list[Observation] = []
    pending = s.suggest([], [], 3)
    seen = [space.key(p) for p in pending]
    while True:
        history.append(_obs(pending.pop(0), value=float(len(history) % 5)))
        got = s.suggest(history, pending, 2)
        if not got:
            break
        seen += [space.key(p) for p in got]
        pending += got
    assert len(seen) == len(set(seen)) == space.size() == 12


def test_grid_enumerates_every_combination_once_in_request_order():
    space = SearchSpace.from_parameter_ranges({"CategoricalParameterRanges": [
        {"Name": "a", "Values": ["x", "y", "z"]}, {"Name": "b", "Values": ["1", "2"]}]})
    g = make_strategy("Grid", space, maximize=True, seed=None)
    first = g.suggest([], [], 4)
    assert first[:2] == [{"a": "x", "b": "1"}, {"a": "x", "b": "2"}]
    rest = g.suggest([_obs(first[0])], first[1:], 10)
    assert len(rest) == 2 and not g.suggest([_obs(c) for c in first + rest], [], 1)
    assert {tuple(c.values()) for c in first + rest} == {
        (a, b) for a in "xyz" for b in "12"}


def test_grid_rejects_continuous_ranges():
    with pytest.raises(ValueError):
        make_strategy("Grid", SearchSpace.from_parameter_ranges(MIXED), maximize=True, seed=0)


def test_unknown_strategy_is_an_error():
    with pytest.raises(ValueError, match="Unknown strategy"):
        make_strategy("Annealing", SearchSpace.from_parameter_ranges(MIXED), maximize=True,
                      seed=0)


def test_rungs():
    assert rungs(1, 27) == [1, 3, 9]
    assert rungs(2, 20) == [2, 6, 18]
    assert rungs(5, 5) == []


def test_asha_waits_for_eta_jobs_then_keeps_the_top_third():
    # minimising; job J at rung 1 with value 5
    assert not asha_should_stop([5.0], [[1.0]], False, 1, 27)  # 2 jobs at rung: continue
    assert asha_should_stop([5.0], [[1.0], [2.0]], False, 1, 27)  # 3 jobs, J last: stop
    assert not asha_should_stop([0.5], [[1.0], [2.0]], False, 1, 27)  # J best: continue
    # maximising flips the order
    assert not asha_should_stop([5.0], [[1.0], [2.0]], True, 1, 27)
    # 6 jobs: top 2 continue
    others = [[1.0], [2.0], [3.0], [4.0], [6.0]]
    assert not asha_should_stop([1.5], others, False, 1, 27)
    assert asha_should_stop([2.5], others, False, 1, 27)


def test_asha_compares_at_the_rung_and_caps_at_max_resource():
    # J at 4 observations: judged at rung 3 on its 3rd value, against jobs that reached 3
    j = [9.0, 9.0, 0.1, 9.0]
    others = [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0], [0.0]]  # the last never reached rung 3
    assert not asha_should_stop(j, others, False, 1, 27)
    assert asha_should_stop([9.0, 9.0, 3.0, 0.0], others, False, 1, 27)
    assert not asha_should_stop([9.0] * 2, [[0.0] * 2] * 5, False, 3, 27)  # below MinResource
    assert asha_should_stop([9.0] * 27, [], False, 1, 27)  # MaxResource reached
    assert asha_should_stop([0.0] * 30, [], False, 1, 27)


def test_hyperband_strategy_uses_history_and_running_jobs():
    space = SearchSpace.from_parameter_ranges(MIXED)
    hb = make_strategy("Hyperband", space, maximize=False, seed=0,
                       hyperband={"MinResource": 1, "MaxResource": 9})
    p = {"lr": "0.1", "opt": "a"}
    history = [_obs(p, 1.0, [1.0, 0.9], name="j1"), _obs(p, None, [], name="j0"),
               _obs(p, 0.1, [0.1], source="parent", name="parent-1")]
    me = RunningJob("j3", p, (3.0,))
    running = [me, RunningJob("j2", p, (2.0,))]
    assert hb.should_stop(me, history, running)  # 3 jobs at rung 1 (parent ignored), J worst
    assert not hb.should_stop(RunningJob("j2", p, (0.5,)), history, [me])
    assert hb.should_stop(RunningJob("j4", p, (0.0,) * 9), [], [])
    assert len(hb.suggest([], [], 3)) == 3
