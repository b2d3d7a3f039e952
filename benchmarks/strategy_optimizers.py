"""Optimizers under test, behind one ask/tell adapter over rendered SageMaker parameters.

Peers get the same knowledge of the space as ours: log ranges as log, integers as integers,
categoricals as categoricals; a ReverseLogarithmic range is handed to them as a float over
t = -log(1 - x) (the same internal scale ours uses). Peers run with their defaults, as a user
would get them; in the parallel budget Optuna TPE uses its `constant_liar` option and
scikit-optimize its default constant-liar batch strategy ("cl_min").
Optuna and scikit-optimize are the optional `bench` extra; Optuna's GPSampler also needs torch.
"""

from __future__ import annotations

import math
from typing import Any

from strategy_problems import Params, Problem

from orchestrator.strategies import Observation, SearchSpace, make_strategy
from orchestrator.strategies.space import CategoricalParam, NumericParam

OPTIMIZERS = ("smlocal-bayesian", "smlocal-random", "optuna-tpe", "optuna-gp", "skopt-gp")


def _render(p: NumericParam, v: Any) -> str:
    if p.scaling == "ReverseLogarithmic":
        v = min(max(-math.expm1(-float(v)), p.low), p.high)
    return str(int(round(float(v)))) if p.integer else repr(float(v))


def _revlog(x: float) -> float:
    return -math.log1p(-x)


def variant_options(name: str) -> dict[str, Any]:
    """Options of an ablation variant: "smlocal-bayesian[bound_snap=0,floor=0.2]" passes
    bound_snap=0 and floor=0.2 to BayesianStrategy (numbers as numbers, else strings)."""
    if "[" not in name:
        return {}
    out: dict[str, Any] = {}
    for item in name[name.index("[") + 1:-1].split(","):
        key, _, raw = item.partition("=")
        try:
            out[key] = int(raw)
        except ValueError:
            try:
                out[key] = float(raw)
            except ValueError:
                out[key] = raw
    return out


class Ours:
    def __init__(self, problem: Problem, seed: int, strategy: str,
                 options: dict[str, Any] | None = None) -> None:
        self.space = SearchSpace.from_parameter_ranges(problem.ranges)
        if options:
            from orchestrator.strategies.bayesian import BayesianStrategy

            self.strategy = BayesianStrategy(self.space, maximize=problem.maximize, seed=seed,
                                             **options)
        else:
            self.strategy = make_strategy(strategy, self.space, maximize=problem.maximize,
                                          seed=seed)
        self.history: list[Observation] = []

    def ask(self, n: int) -> list[Params]:
        return self.strategy.suggest(self.history, [], n)

    def tell(self, configs: list[Params], values: list[float]) -> None:
        for c, v in zip(configs, values, strict=True):
            self.history.append(Observation(c, v, end_order=len(self.history)))


class OptunaOpt:
    def __init__(self, problem: Problem, seed: int, kind: str, parallel: bool) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if kind == "tpe":
            sampler = optuna.samplers.TPESampler(multivariate=True, seed=seed,
                                                 constant_liar=parallel)
        else:
            sampler = optuna.samplers.GPSampler(seed=seed)
        self.study = optuna.create_study(
            direction="maximize" if problem.maximize else "minimize", sampler=sampler)
        self.space = SearchSpace.from_parameter_ranges(problem.ranges)
        self.trials: list[Any] = []

    def _suggest(self, trial: Any) -> Params:
        out: Params = {}
        for p in self.space.params:
            if isinstance(p, CategoricalParam):
                out[p.name] = trial.suggest_categorical(p.name, list(p.values))
            elif p.scaling == "ReverseLogarithmic":
                out[p.name] = _render(p, trial.suggest_float(p.name, _revlog(p.low),
                                                             _revlog(p.high)))
            elif p.integer:
                out[p.name] = _render(p, trial.suggest_int(
                    p.name, int(p.low), int(p.high), log=p.scaling == "Logarithmic"))
            else:
                out[p.name] = _render(p, trial.suggest_float(
                    p.name, p.low, p.high, log=p.scaling == "Logarithmic"))
        return out

    def ask(self, n: int) -> list[Params]:
        self.trials = [self.study.ask() for _ in range(n)]
        return [self._suggest(t) for t in self.trials]

    def tell(self, configs: list[Params], values: list[float]) -> None:
        for t, v in zip(self.trials, values, strict=True):
            self.study.tell(t, v)


class SkoptOpt:
    def __init__(self, problem: Problem, seed: int) -> None:
        from skopt import Optimizer
        from skopt.space import Categorical, Integer, Real

        self.space = SearchSpace.from_parameter_ranges(problem.ranges)
        dims: list[Any] = []
        for p in self.space.params:
            if isinstance(p, CategoricalParam):
                dims.append(Categorical(list(p.values), name=p.name))
            elif p.scaling == "ReverseLogarithmic":
                dims.append(Real(_revlog(p.low), _revlog(p.high), name=p.name))
            else:
                prior = "log-uniform" if p.scaling == "Logarithmic" else "uniform"
                kind = Integer if p.integer else Real
                dims.append(kind(p.low if not p.integer else int(p.low),
                                 p.high if not p.integer else int(p.high), prior=prior,
                                 name=p.name))
        # gp_minimize's defaults: GP estimator, gp_hedge acquisition, 10 initial points
        self.opt = Optimizer(dims, base_estimator="GP", acq_func="gp_hedge",
                             n_initial_points=10, random_state=seed)
        self.sign = -1.0 if problem.maximize else 1.0
        self.points: list[list[Any]] = []

    def ask(self, n: int) -> list[Params]:
        self.points = [self.opt.ask()] if n == 1 else self.opt.ask(n_points=n)
        out = []
        for x in self.points:
            out.append({p.name: v if isinstance(p, CategoricalParam) else _render(p, v)
                        for p, v in zip(self.space.params, x, strict=True)})
        return out

    def tell(self, configs: list[Params], values: list[float]) -> None:
        self.opt.tell([list(x) for x in self.points], [self.sign * v for v in values])


def make_optimizer(name: str, problem: Problem, seed: int, parallel: bool) -> Any:
    if name.split("[")[0] == "smlocal-bayesian":
        return Ours(problem, seed, "Bayesian", variant_options(name))
    if name == "smlocal-random":
        return Ours(problem, seed, "Random")
    if name == "optuna-tpe":
        return OptunaOpt(problem, seed, "tpe", parallel)
    if name == "optuna-gp":
        return OptunaOpt(problem, seed, "gp", parallel)
    if name == "skopt-gp":
        return SkoptOpt(problem, seed)
    raise ValueError(f"unknown optimizer {name!r}; choose from {OPTIMIZERS}")
