"""Fixed points: the given configurations, in the given order, each once (smlocal's own
strategy, behind `smlocal replay`; SageMaker has no such strategy).

The i-th job this tuning job launches gets the i-th point, so the order is the caller's and a
point listed twice runs twice; the position is the number of this tuning job's own jobs so far
(history plus pending), which a restart recomputes from the store. Warm-start parents' jobs do
not count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from orchestrator.strategies._common import launched_count
from orchestrator.strategies.base import Observation, Params, RunningJob
from orchestrator.strategies.space import CategoricalParam, SearchSpace

NAME = "FixedPoints"


class FixedPointsStrategy:
    def __init__(self, points: Sequence[Params]) -> None:
        self.points = [dict(p) for p in points]

    def suggest(self, history: Sequence[Observation], pending: Sequence[Params],
                n: int) -> list[Params]:
        start = launched_count(history, pending)
        return [dict(p) for p in self.points[start:start + max(0, n)]]

    def should_stop(self, job: RunningJob, history: Sequence[Observation],
                    running: Sequence[RunningJob]) -> bool:
        return False


def point_problems(space: SearchSpace, point: Params, label: str) -> list[str]:
    """Why `point` is not a configuration of `space` (every tuned hyperparameter, nothing else,
    each value inside its range), in words for the caller; empty when it is one."""
    problems = []
    missing = [n for n in space.names if n not in point]
    extra = sorted(set(point) - set(space.names))
    if missing:
        problems.append(f"{label}: missing tuned hyperparameters {', '.join(missing)}")
    if extra:
        problems.append(f"{label}: {', '.join(extra)} not among the tuned hyperparameters "
                        f"({', '.join(space.names)})")
    for p in space.params:
        raw = point.get(p.name)
        if raw is None:
            continue
        if isinstance(p, CategoricalParam):
            if raw not in p.values:
                problems.append(f"{label}: {p.name}={raw!r} is not one of {list(p.values)}")
            continue
        v = p.parse(raw)
        inside = v is not None and p.low - 1e-9 * abs(p.low) <= v <= p.high + 1e-9 * abs(p.high)
        if not inside or (p.integer and not math.isclose(float(raw), round(float(raw)))):
            kind = "an integer" if p.integer else "a number"
            problems.append(f"{label}: {p.name}={raw!r} is not {kind} in [{p.render(p.low)}, "
                            f"{p.render(p.high)}]")
    return problems
