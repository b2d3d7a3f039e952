"""Hyperband as asynchronous successive halving (ASHA), spec §4.1 and §4.3 O4.

Notation: resource r(J) = len(J.series), the number of objective observations of job J.
Rungs r_i = MinResource * eta^i for i = 0, 1, ... while r_i < MaxResource; eta = 3.

Decision for a running job J at r_i = the highest rung <= r(J):
  V = { v_P(r_i) : P finished or running, r(P) >= r_i } (J included);
  with |V| < eta nothing is known yet: J continues (ASHA lets the first arrivals through);
  otherwise J continues iff fewer than floor(|V| / eta) values in V are strictly better
  than v_J(r_i), i.e. J is in the top 1/eta of its rung.
A job with r(J) >= MaxResource is stopped ("Once a job reaches the MaxResource value, it is
stopped"). Below MinResource nothing is stopped.
The decision is a pure function of the current series, so it is re-taken at every poll until
J reaches its next rung: a job that passed r_i while few jobs had reached it can still be
stopped there once more jobs arrive and it falls out of the top 1/eta. This keeps the rule
stateless (nothing to remember across restarts) and robust to several observations arriving
between two polls (no rung is skipped).

New configurations are random (as SageMaker: "The new configuration ... is chosen randomly").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from orchestrator.strategies.base import Observation, Params, RunningJob
from orchestrator.strategies.objective import loss
from orchestrator.strategies.random_search import RandomStrategy
from orchestrator.strategies.space import SearchSpace

ETA = 3


def rungs(min_resource: int, max_resource: int, eta: int = ETA) -> list[int]:
    out, r = [], max(1, int(min_resource))
    while r < max_resource:
        out.append(r)
        r *= eta
    return out


def asha_should_stop(series: Sequence[float], others: Sequence[Sequence[float]], maximize: bool,
                     min_resource: int, max_resource: int, eta: int = ETA) -> bool:
    """The decision above for J's `series` against every other job's series (pure)."""
    r = len(series)
    if r >= max_resource:
        return True
    reached = [q for q in rungs(min_resource, max_resource, eta) if q <= r]
    if not reached:
        return False
    r = reached[-1]
    v = series[r - 1]
    if isinstance(v, float) and math.isnan(v):
        return True
    rivals = [s[r - 1] for s in others if len(s) >= r and not math.isnan(s[r - 1])]
    if len(rivals) + 1 < eta:
        return False
    better = sum(1 for w in rivals if loss(w, maximize) < loss(v, maximize))
    return better >= (len(rivals) + 1) // eta


class HyperbandStrategy:
    def __init__(self, space: SearchSpace, *, maximize: bool, seed: int | None,
                 min_resource: int, max_resource: int) -> None:
        if not 1 <= min_resource <= max_resource:
            raise ValueError("Hyperband needs 1 <= MinResource <= MaxResource")
        self.maximize = maximize
        self.min_resource, self.max_resource = int(min_resource), int(max_resource)
        self._sampler = RandomStrategy(space, seed=seed)

    def suggest(self, history: Sequence[Observation], pending: Sequence[Params],
                n: int) -> list[Params]:
        return self._sampler.suggest(history, pending, n)

    def should_stop(self, job: RunningJob, history: Sequence[Observation],
                    running: Sequence[RunningJob]) -> bool:
        others = [o.series for o in history if o.source == "self" and o.job_name != job.job_name]
        others += [r.series for r in running if r.job_name != job.job_name]
        return asha_should_stop(job.series, others, self.maximize,
                                self.min_resource, self.max_resource)
