"""Which prior mean a batch pick uses, decided by how earlier picks of each kind turned out.

A batch pick can come from the GP with the pessimistic prior mean (the 0.9-quantile of the
targets, "shifted": strategy.py, step 4) or from the same GP with prior mean 0 ("mean 0").
The shifted one keeps a batch near the evidence, which a smooth problem with bad corners
needs (hartmann6); mean 0 lets a batch's later picks try untried faces of the box, which a
problem with its optimum on a bound needs (issue 14, trap 3). No property of the model data
measured in eleven sessions told the two apart (strategy-notes.md); the outcomes of the
picks do. So the launches are interleaved with a period of 4 (launch index i, 0-based, in
the order the tuning job launched its training jobs):

- i mod 4 = 1: a probe of the shifted GP; i mod 4 = 3: a probe of the mean-0 GP;
- i mod 4 in {0, 2}: the GP whose probes have so far reached the better mean rank among
  this task's observations (the shifted GP until both have a probe with a value;
  strategy option `mean_probe=2`: the mean-0 GP).

This is a two-armed "follow the leader" with a fixed share of exploration per arm, as in
GP-Hedge's portfolio of acquisition functions (Hoffman, Brochu and de Freitas, UAI 2011),
judged by the picks' observed values rather than by a model's fit. A pick made when no
shift applies (sequential, or the warped GP chosen) is an ordinary pick; its launch index
still counts, so the probes' ranks include random and unshifted picks made at those indices
(the same for both arms).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from orchestrator.strategies.base import Observation
from orchestrator.strategies.bayesian.select import average_ranks

PERIOD = 4
SHIFTED_PROBE = 1
MEAN_ZERO_PROBE = 3


def launch_indices(own: Sequence[Observation], launched: int) -> np.ndarray | None:
    """0-based launch index of each of this tuning job's observations, among the `launched`
    jobs of its training job definition. Their `launch_order` when every one has it (the
    controller passes history in finish order); otherwise the observations' positions
    (callers that pass history in launch order, as the benchmark and the tests do). None
    when the orders exceed `launched`: orders that number launches across several training
    job definitions while this strategy sees one definition's jobs (the controller passes
    each definition's own order, controller/tick.py, so this is a guard for other
    callers)."""
    orders = [o.launch_order for o in own]
    if not own or any(k is None for k in orders):
        return np.arange(len(own))
    idx = np.array(orders)
    return idx if idx.max() < launched else None


def mean_zero_leads(history: Sequence[Observation], launched: int, maximize: bool,
                    start: int, before: bool = False) -> bool:
    """Whether the mean-0 GP's probes (launch index >= `start`, the first that can be
    model-based) rank better on average than the shifted GP's; `before` until both have
    one, or when the launch order is unknown (launch_indices). A job without a finite
    value ranks last."""
    own = [o for o in history if o.source == "self"]
    idx = launch_indices(own, launched)
    if idx is None or not own:
        return before
    worst = np.finfo(float).max  # ties between failed jobs share their mean rank
    loss = np.array([(-o.value if maximize else o.value)
                     if o.value is not None and math.isfinite(o.value) else worst
                     for o in own])
    ranks = average_ranks(loss)
    shifted = ranks[(idx >= start) & (idx % PERIOD == SHIFTED_PROBE)]
    zero = ranks[(idx >= start) & (idx % PERIOD == MEAN_ZERO_PROBE)]
    if shifted.size == 0 or zero.size == 0:
        return before
    return bool(zero.mean() < shifted.mean())


def uses_mean_zero(index: int, leads: bool) -> bool:
    """Whether the pick with this launch index comes from the mean-0 GP."""
    m = index % PERIOD
    return m == MEAN_ZERO_PROBE or (m != SHIFTED_PROBE and leads)
