"""The strategy seam: pure ask/tell over a tuning job's history. No I/O, no clock.

A strategy is rebuilt from stored history at every call (so a restart loses nothing):
`suggest` is a function of (space, seed, history, pending, n).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.status import TrainingJobStatus

Params = dict[str, str]  # tuned hyperparameters, values rendered exactly as SageMaker does


@dataclass(frozen=True)
class Observation:
    """One finished (or running, for stop decisions) training job, as a strategy sees it.

    `value` is the objective as reported (not sign-flipped), or None when the job produced no
    objective (failed, or never printed the metric). `series` holds every observation of the
    objective metric in order (index k = "epoch"/resource k+1, spec §3.2 M4).
    `source`: "self" for this tuning job's jobs; "parent" (warm start IdenticalDataAndAlgorithm)
    or "transfer" (TransferLearning) for a parent's jobs.
    """

    params: Params
    value: float | None
    series: tuple[float, ...] = ()
    status: str = TrainingJobStatus.Completed.value
    source: str = "self"
    job_name: str = ""
    end_order: int = 0  # order in which jobs finished (0-based); used by rules needing order
    # place in the order the tuning job launched its jobs of this training job definition
    # (0-based); None when not known
    launch_order: int | None = None


@dataclass(frozen=True)
class RunningJob:
    job_name: str
    params: Params
    series: tuple[float, ...] = field(default_factory=tuple)


class Strategy(Protocol):
    def suggest(
        self, history: Sequence[Observation], pending: Sequence[Params], n: int
    ) -> list[Params]:
        """Up to `n` new configurations, none equal to one in history or pending when the
        space is fully discrete. Fewer (maybe zero) when the space is exhausted."""
        ...

    def should_stop(self, job: RunningJob, history: Sequence[Observation],
                    running: Sequence[RunningJob]) -> bool:
        """Strategy-driven stop (Hyperband/ASHA, and reaching MaxResource). False otherwise."""
        ...
