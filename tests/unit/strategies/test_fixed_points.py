"""The FixedPoints strategy: the given points in order, each once; point validation."""

from __future__ import annotations

from orchestrator.strategies import make_strategy
from orchestrator.strategies.base import Observation
from orchestrator.strategies.fixed_points import FixedPointsStrategy, point_problems
from orchestrator.strategies.space import SearchSpace

SPACE = SearchSpace.from_parameter_ranges({
    "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.01", "MaxValue": "1",
                                   "ScalingType": "Logarithmic"}],
    "IntegerParameterRanges": [{"Name": "depth", "MinValue": "1", "MaxValue": "9"}],
    "CategoricalParameterRanges": [{"Name": "opt", "Values": ["adam", "sgd"]}]})
POINTS = [{"lr": "0.1", "depth": "3", "opt": "adam"}, {"lr": "0.5", "depth": "9", "opt": "sgd"},
          {"lr": "0.1", "depth": "3", "opt": "adam"}, {"lr": "0.01", "depth": "1", "opt": "sgd"}]


def obs(p, source="self"):
    return Observation(params=p, value=1.0, source=source)


def test_points_in_order_each_once_duplicates_kept():
    s = make_strategy("FixedPoints", SPACE, maximize=False, seed=1, points=POINTS)
    assert isinstance(s, FixedPointsStrategy)
    assert s.suggest([], [], 2) == POINTS[:2]
    assert s.suggest([obs(POINTS[0])], [POINTS[1]], 5) == POINTS[2:]
    assert s.suggest([obs(p) for p in POINTS], [], 3) == []
    # warm-start parents' jobs do not use up points
    assert s.suggest([obs(POINTS[3], "parent")], [], 1) == POINTS[:1]
    assert s.suggest([], [], 0) == []


def test_rebuilt_strategy_repeats_itself():
    history = [obs(POINTS[0]), obs(POINTS[1])]
    a = FixedPointsStrategy(POINTS).suggest(history, [], 4)
    b = FixedPointsStrategy(POINTS).suggest(history, [], 4)
    assert a == b == POINTS[2:]


def test_point_problems():
    assert point_problems(SPACE, POINTS[0], "p") == []
    assert point_problems(SPACE, {"lr": "1.0", "depth": "9.0", "opt": "sgd"}, "p") == []
    assert point_problems(SPACE, {"lr": "2", "depth": "3.5", "opt": "rmsprop", "x": "1"},
                          "Points[0]") == [
        "Points[0]: x not among the tuned hyperparameters (lr, depth, opt)",
        "Points[0]: lr='2' is not a number in [0.01, 1.0]",
        "Points[0]: depth='3.5' is not an integer in [1, 9]",
        "Points[0]: opt='rmsprop' is not one of ['adam', 'sgd']"]
    assert point_problems(SPACE, {"lr": "abc", "opt": "adam"}, "p") == [
        "p: missing tuned hyperparameters depth", "p: lr='abc' is not a number in [0.01, 1.0]"]
