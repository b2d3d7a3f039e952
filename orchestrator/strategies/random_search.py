"""Random search (spec §4.1): independent draws, each parameter uniform on its scale.

Reproducibility: with a seed, the i-th launched configuration depends only on (seed, i) in
continuous spaces, whatever the completion order or batch sizes were. In discrete spaces the
draw also skips configurations already launched, so it depends on the launched set too.
"""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.strategies._common import derive_rng, launched_count, sample_unseen, seen_keys
from orchestrator.strategies.base import Observation, Params, RunningJob
from orchestrator.strategies.space import SearchSpace


class RandomStrategy:
    def __init__(self, space: SearchSpace, *, seed: int | None = None) -> None:
        self.space = space
        self.seed = seed

    def suggest(self, history: Sequence[Observation], pending: Sequence[Params],
                n: int) -> list[Params]:
        start = launched_count(history, pending)
        seen = seen_keys(self.space, history, pending) if self.space.is_discrete else set()
        out: list[Params] = []
        for i in range(n):
            rng = derive_rng(self.seed, "random", start + i)
            got = sample_unseen(self.space, rng, 1, seen)
            if not got:
                break  # discrete space exhausted
            out += got
            seen.add(self.space.key(got[0]))
        return out

    def should_stop(self, job: RunningJob, history: Sequence[Observation],
                    running: Sequence[RunningJob]) -> bool:
        return False
