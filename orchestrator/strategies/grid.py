"""Grid search (spec §4.1): every combination of the categorical values exactly once.

Order: the lexicographic product in request order (spec [INF]), so the seed does not matter and
the set of proposals is fully deterministic. Integer ranges, if the API let any through, are
enumerated value by value; continuous ranges cannot be gridded.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.strategies._common import seen_keys
from orchestrator.strategies.base import Observation, Params, RunningJob
from orchestrator.strategies.space import SearchSpace


class GridStrategy:
    def __init__(self, space: SearchSpace) -> None:
        if not space.is_discrete:
            raise ValueError("Grid search needs categorical (or integer) ranges only")
        self.space = space
        self._grid = space.enumerate()

    def suggest(self, history: Sequence[Observation], pending: Sequence[Params],
                n: int) -> list[Params]:
        seen = seen_keys(self.space, [o for o in history if o.source == "self"], pending)
        out: list[Params] = []
        for config in self._grid:
            if len(out) >= n:
                break
            if self.space.key(config) not in seen:
                out.append(dict(config))
        return out

    def should_stop(self, job: RunningJob, history: Sequence[Observation],
                    running: Sequence[RunningJob]) -> bool:
        return False
