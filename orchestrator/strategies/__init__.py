"""Search strategies: pure ask/tell engines over a tuning job's history (no I/O, no clock).

`make_strategy` is the one constructor the controller calls and returns the `Strategy`
protocol (`suggest` and `should_stop`, both honoured by the reconciler); `SearchSpace` maps
SageMaker ParameterRanges to and from the unit cube (its `range_problems` is the one range
parser, also behind the service's rules); `median_rule_should_stop` and `evaluate_completion`
are the early-stopping and completion rules. All of them compare objective values as losses
(`objective.loss`, lower is better), the one place a maximised objective is flipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.status import Strategy as StrategyType
from orchestrator.strategies import fixed_points
from orchestrator.strategies.base import Observation, Params, RunningJob, Strategy
from orchestrator.strategies.bayesian import BayesianStrategy
from orchestrator.strategies.completion import CompletionState, evaluate_completion
from orchestrator.strategies.early_stopping import median_rule_should_stop
from orchestrator.strategies.fixed_points import FixedPointsStrategy
from orchestrator.strategies.grid import GridStrategy
from orchestrator.strategies.hyperband import HyperbandStrategy
from orchestrator.strategies.random_search import RandomStrategy
from orchestrator.strategies.space import SearchSpace, parameter_range_problems

STRATEGIES = tuple(s.value for s in StrategyType)


def make_strategy(strategy: str, space: SearchSpace, *, maximize: bool, seed: int | None,
                  hyperband: Mapping[str, int] | None = None,
                  points: Sequence[Params] | None = None) -> Strategy:
    """The strategy object for a tuning job. `hyperband`: MinResource and MaxResource (only
    read by Hyperband); `points`: the configurations of smlocal's own FixedPoints strategy."""
    if strategy == fixed_points.NAME:
        return FixedPointsStrategy(points or [])
    if strategy == StrategyType.Bayesian:
        return BayesianStrategy(space, maximize=maximize, seed=seed)
    if strategy == StrategyType.Random:
        return RandomStrategy(space, seed=seed)
    if strategy == StrategyType.Grid:
        return GridStrategy(space)
    if strategy == StrategyType.Hyperband:
        hb = hyperband or {}
        return HyperbandStrategy(space, maximize=maximize, seed=seed,
                                 min_resource=int(hb.get("MinResource", 1)),
                                 max_resource=int(hb.get("MaxResource", 10**9)))
    raise ValueError(f"Unknown strategy {strategy!r}; expected one of {list(STRATEGIES)}")


__all__ = [
    "BayesianStrategy", "CompletionState", "FixedPointsStrategy", "GridStrategy", "HyperbandStrategy", "Observation",
    "Params", "RandomStrategy", "RunningJob", "STRATEGIES", "SearchSpace", "Strategy",
    "evaluate_completion", "make_strategy", "median_rule_should_stop",
    "parameter_range_problems",
]
