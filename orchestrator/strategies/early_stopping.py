"""`TrainingJobEarlyStoppingType=Auto`: the median stopping rule, exactly as spec §4.3 O3.

After observation k of job J (value v_J(k) = job_series[k-1]):
  a_P(k) = mean(v_P(1..k)) for every previous completed job P with at least k observations;
  m(k)   = median of the a_P(k);
  stop J iff v_J(k) is strictly worse than m(k), and at least `min_reference` such P exist.
Non-finite running averages are left out of the reference set; a NaN value of J counts as
worse than any median (a diverged job), +-inf compare as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from orchestrator.strategies.objective import loss


def median_rule_should_stop(job_series: Sequence[float], previous: Sequence[Sequence[float]],
                            maximize: bool, min_reference: int = 3) -> bool:
    k = len(job_series)
    if k == 0:
        return False
    refs = [float(np.mean(p[:k])) for p in previous if len(p) >= k]
    refs = [a for a in refs if math.isfinite(a)]
    if len(refs) < max(1, min_reference):
        return False
    median = float(np.median(refs))
    v = float(job_series[-1])
    if math.isnan(v):
        return True
    return loss(v, maximize) > loss(median, maximize)
