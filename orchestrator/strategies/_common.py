"""Helpers shared by the strategies: seeded RNGs, duplicate detection, unseen sampling.

Purity: every random draw comes from a generator derived from (seed, stream, counters of the
history), so a strategy rebuilt after a restart repeats itself exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from orchestrator.strategies.base import Observation, Params
from orchestrator.strategies.space import ENUMERATION_LIMIT, SearchSpace

_STREAMS = {"random": 1, "grid": 2, "hyperband": 3, "bayes": 4, "init": 5}


def derive_rng(seed: int | None, stream: str, *counters: int) -> np.random.Generator:
    """A generator that depends only on its arguments. Without a seed: OS entropy (SageMaker
    runs without RandomSeed are not reproducible either; the controller may store a seed)."""
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, _STREAMS[stream], *counters])


def launched_count(history: Sequence[Observation], pending: Sequence[Params]) -> int:
    """Jobs this tuning job launched so far (warm-start parents' jobs excluded)."""
    return sum(1 for o in history if o.source == "self") + len(pending)


def seen_keys(space: SearchSpace, history: Iterable[Observation],
              pending: Iterable[Params]) -> set[tuple]:
    keys = {space.key(o.params) for o in history}
    keys.update(space.key(p) for p in pending)
    return keys


def sample_unseen(space: SearchSpace, rng: np.random.Generator, n: int,
                  seen: set[tuple]) -> list[Params]:
    """Up to `n` random configurations, new w.r.t. `seen` (and each other) when the space is
    discrete; fewer when it is exhausted. Continuous spaces are sampled directly."""
    if n <= 0:
        return []
    if not space.is_discrete:
        return space.sample(rng, n)
    size = space.size() or 0
    out: list[Params] = []
    seen = set(seen)
    # rejection sampling while the space is mostly free; enumeration when it is crowded
    for _ in range(20 * n):
        if len(out) == n or len(seen) >= size:
            break
        cand = space.sample(rng, 1)[0]
        k = space.key(cand)
        if k not in seen:
            seen.add(k)
            out.append(cand)
    if len(out) < n and size <= ENUMERATION_LIMIT:
        free = [c for c in space.enumerate() if space.key(c) not in seen]
        take = rng.permutation(len(free))[: n - len(out)]
        out += [free[i] for i in take]
    return out
