"""`TuningJobCompletionCriteria` (spec §4.3 O5), evaluated over objective values in the order
the training jobs completed. Criteria combine with OR and are checked in a fixed order:
TargetObjectiveMetricValue, BestObjectiveNotImproving, ConvergenceDetected.

Rules chosen where the documentation is silent:
- Jobs without an objective (None, NaN) are skipped: they neither improve nor count as
  "not improving" (the first-5-failures rule handles failing tuning jobs, spec F1).
- Improvement: a value is an improvement when it is better than the *reference best* (the best
  at the last improvement) by at least 1% of |reference| (any strict gain when it is 0). Small
  gains do not reset the counter, but they accumulate: once the best is 1% past the reference,
  that counts. The first value sets the reference.
- Convergence (`CompleteOnConvergence=Enabled`; AMT's test is not public): the tuning job has
  converged when N = max(10, ceil(0.1 * MaxNumberOfTrainingJobs)) consecutive jobs did not
  improve by 1% (spec [INF]), and at least max(N, ceil(0.2 * MaxNumberOfTrainingJobs)) jobs
  produced an objective, so a lucky early incumbent cannot end a long tuning job after its
  first handful of random configurations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.strategies.objective import loss

TARGET = "TargetObjectiveMetricValue"
NOT_IMPROVING = "BestObjectiveNotImproving"
CONVERGED = "ConvergenceDetected"


@dataclass
class CompletionState:
    done: bool
    reason: str | None  # one of TARGET, NOT_IMPROVING, CONVERGED
    not_improving: int  # TuningJobCompletionDetails.NumberOfTrainingJobsObjectiveNotImproving
    converged: bool


def _improves(v: float, ref: float) -> bool:
    """Loss `v` improves on the reference loss `ref` by at least 1 % of |ref|."""
    gain = ref - v
    return gain > 0 and gain >= 0.01 * abs(ref)


def _count_not_improving(losses: Sequence[float]) -> int:
    ref: float | None = None
    count = 0
    for v in losses:
        if ref is None or _improves(v, ref):
            ref, count = v, 0
        else:
            count += 1
    return count


def convergence_window(max_jobs: int) -> int:
    return max(10, math.ceil(0.1 * max_jobs))


def evaluate_completion(values_in_completion_order: Sequence[float | None],
                        criteria: dict | None, maximize: bool, max_jobs: int) -> CompletionState:
    values = [loss(float(v), maximize) for v in values_in_completion_order
              if v is not None and not math.isnan(float(v))]
    not_improving = _count_not_improving(values)
    criteria = criteria or {}
    n_conv = convergence_window(max_jobs)
    converged = (not_improving >= n_conv
                 and len(values) >= max(n_conv, math.ceil(0.2 * max_jobs)))

    target = criteria.get("TargetObjectiveMetricValue")
    if target is not None and values and min(values) <= loss(float(target), maximize):
        return CompletionState(True, TARGET, not_improving, False)
    limit = (criteria.get("BestObjectiveNotImproving") or {}).get(
        "MaxNumberOfTrainingJobsNotImproving")
    if limit is not None and not_improving >= int(limit):
        return CompletionState(True, NOT_IMPROVING, not_improving, False)
    enabled = (criteria.get("ConvergenceDetected") or {}).get("CompleteOnConvergence")
    if enabled == "Enabled" and converged:
        return CompletionState(True, CONVERGED, not_improving, True)
    return CompletionState(False, None, not_improving, False)
