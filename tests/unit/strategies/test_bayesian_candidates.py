"""Bayesian strategy, issue 14: bound-snapped and per-level candidates, the exploration floor
per categorical level, and local penalisation of a batch."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from orchestrator.strategies import Observation, SearchSpace
from orchestrator.strategies.bayesian import BayesianStrategy
from orchestrator.strategies.bayesian.acquisition import LocalPenalty
from orchestrator.strategies.bayesian.optimize import _level_candidates, _occupied, _snapped

SPACE = {
    "ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "1e-4", "MaxValue": "1", "ScalingType": "Logarithmic"},
        {"Name": "x", "MinValue": "-2", "MaxValue": "3"}],
    "IntegerParameterRanges": [{"Name": "k", "MinValue": "1", "MaxValue": "5"}],
    "CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "b", "c"]}]}


def _run(strategy, f, n: int, batch: int = 1) -> list[Observation]:
    history: list[Observation] = []
    while len(history) < n:
        for p in strategy.suggest(history, [], batch):
            history.append(Observation(p, f(p), end_order=len(history)))
    return history


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_snapped_candidates_put_near_bound_coordinates_exactly_on_the_bound(seed):
    space = SearchSpace.from_parameter_ranges(SPACE)
    X = space.box_to_unit(np.random.default_rng(seed).random((6, len(space.names))))
    S = _snapped(space, X)
    cols = space.numeric_cols
    assert np.array_equal(S, space.project(S))  # legal encodings
    near = (X[:, cols] < 0.25) | (X[:, cols] > 0.75)
    if near.any():
        # each snapped configuration renders a value equal to the range's bound (an integer
        # snapped onto its bound is projected to the centre of that integer's cell, so the
        # rendered value, not the encoding, is what lies on the bound)
        for config in (space.from_unit(s) for s in S):
            assert config["lr"] in ("0.0001", "1.0") or config["x"] in ("-2.0", "3.0") \
                or config["k"] in ("1", "5")
    # without the joint copy every snapped candidate moves exactly one coordinate
    single = _snapped(space, X, joint=False)
    assert single.shape[0] == near.sum()
    for row in single:
        assert (row[None, cols] != X[:, cols]).sum(1).min() <= 1


def test_level_candidates_cover_every_level_of_categoricals_and_small_integers():
    space = SearchSpace.from_parameter_ranges(SPACE)
    centers = space.box_to_unit(np.full((1, len(space.names)), 0.5))
    C = _level_candidates(space, centers, np.random.default_rng(0))
    configs = [space.from_unit(x) for x in C]
    assert {c["c"] for c in configs} == {"a", "b", "c"}
    assert {c["k"] for c in configs} == {"1", "2", "3", "4", "5"}


def test_an_optimum_on_a_bound_is_suggested_exactly():
    # the loss falls towards lr = MaxValue and x = MinValue: only exact bounds are optimal
    space = SearchSpace.from_parameter_ranges(SPACE)

    def f(p: dict) -> float:
        return (-math.log10(float(p["lr"])) + (float(p["x"]) + 2) + 0.1 * (int(p["k"]) - 3) ** 2
                + {"a": 0.0, "b": 0.5, "c": 1.0}[p["c"]])

    history = _run(BayesianStrategy(space, maximize=False, seed=0), f, 25)
    model_based = [o.params for o in history[5:]]
    assert any(p["lr"] == "1.0" for p in model_based)
    assert any(p["x"] == "-2.0" for p in model_based)
    assert min(o.value for o in history) < 0.05


def test_every_categorical_level_gets_its_floor_share():
    # level "a" is far better everywhere: without a floor "b" and "c" would be starved
    space = SearchSpace.from_parameter_ranges(SPACE)

    def f(p: dict) -> float:
        return (float(p["x"]) - 0.5) ** 2 + {"a": 0.0, "b": 3.0, "c": 5.0}[p["c"]]

    floor = 0.5
    s = BayesianStrategy(space, maximize=False, seed=1, floor=floor)
    history = _run(s, f, 36, batch=2)
    counts = {v: sum(o.params["c"] == v for o in history) for v in "abc"}
    for level, count in counts.items():
        assert count >= math.floor(floor * len(history) / 3) - 1, (level, counts)
    assert counts["a"] > counts["b"]  # the floor is a floor, not uniform sampling


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
@example(243716202)  # falsified the old form of the distance property (CI, sixth session)
def test_local_penalty_is_a_log_probability_rising_with_distance_and_its_gradient_is_right(
        seed):
    rng = np.random.default_rng(seed)
    P = rng.random((3, 4))
    pen = LocalPenalty(P, rng.normal(size=3), rng.random(3) + 0.2, -1.0, 1.0 + 3 * rng.random())
    X = rng.random((5, 4))
    val, grad = pen(X)
    assert np.all(val <= 0.0)
    # each pending point's factor rises with the distance from it (moving away from the mean
    # of several points can bring a point nearer one of them: hypothesis found seed 243716202)
    for j in range(3):
        one = LocalPenalty(P[j:j + 1], pen.mu[j:j + 1], pen.sd[j:j + 1], -1.0, pen.L)
        far = X + 10.0 * (X - P[j])
        assert np.all(one(far)[0] >= one(X)[0] - 1e-9)
    eps = 1e-6
    for k in range(4):
        step = np.zeros(4)
        step[k] = eps
        num = (pen(X + step)[0] - pen(X - step)[0]) / (2 * eps)
        assert np.allclose(num, grad[:, k], rtol=1e-4, atol=1e-5)


def _branin(p: dict) -> float:
    x1, x2 = float(p["x1"]), float(p["x2"])
    return ((x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


def test_batch_suggestions_are_distinct_and_spread():
    ranges = {"ContinuousParameterRanges": [
        {"Name": "x1", "MinValue": "-5", "MaxValue": "10"},
        {"Name": "x2", "MinValue": "0", "MaxValue": "15"}]}
    space = SearchSpace.from_parameter_ranges(ranges)
    for mode in ("fantasy", "fantasy+lp", "lp"):
        s = BayesianStrategy(space, maximize=False, seed=3, pending_mode=mode)
        history = _run(BayesianStrategy(space, maximize=False, seed=3), _branin, 14)
        batch = s.suggest(history, [], 4)
        assert len({space.key(p) for p in batch}) == 4
        X = space.to_unit_many(batch)
        assert min(np.linalg.norm(X[i] - X[j]) for i in range(4) for j in range(i)) > 0.01, mode


def test_bounds_the_incumbent_sits_on_are_not_snapped_to_again():
    """bound_snap=3: a coordinate is not snapped onto a bound the incumbent already occupies
    (that bound has been tried; snapping to it again keeps the search on it when the optimum
    is near it but inside, like Branin's x1 = 9.42 in [-5, 10]); the other bound still is."""
    space = SearchSpace.from_parameter_ranges(SPACE)
    inc = space.to_unit({"lr": "1.0", "x": "-2", "k": "5", "c": "a"})
    lo, hi = _occupied(space, inc)
    assert lo.tolist() == [False, True, False] and hi.tolist() == [True, False, True]
    X = space.to_unit_many([{"lr": "0.9", "x": "-1.9", "k": "4", "c": "b"},
                            {"lr": "0.0002", "x": "2.9", "k": "1", "c": "c"}])
    S = _snapped(space, X, joint=False, occupied=(lo, hi))
    rendered = [space.from_unit(s) for s in S]
    assert not any(c["lr"] == "1.0" or c["x"] == "-2.0" or c["k"] == "5" for c in rendered)
    assert sum(c["lr"] == "0.0001" for c in rendered) == 1
    assert sum(c["x"] == "3.0" for c in rendered) == 1
    # near a bound: lr and x in both rows, k = 1 in the second (k = 4 is not); the first
    # row's two sit near bounds the incumbent occupies
    assert len(rendered) == 3
    assert len(_snapped(space, X, joint=False)) == 5
