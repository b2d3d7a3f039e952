"""GP-based Bayesian optimisation (spec §8): gp.py (surrogate), acquisition.py (log-EI),
optimize.py (acquisition maximisation), strategy.py (the ask/tell strategy)."""

from orchestrator.strategies.bayesian.strategy import BayesianStrategy

__all__ = ["BayesianStrategy"]
