"""Which prior mean a batch pick uses (bayesian/probes.py, issue 14's twelfth session): the
launch pattern, the leader by the probes' outcomes, the launch order the controller passes,
and the strategy taking its batch picks from the GP the pattern names."""

from __future__ import annotations

import math
import random

import pytest

from orchestrator.strategies import Observation
from orchestrator.strategies.bayesian import BayesianStrategy
from orchestrator.strategies.bayesian.probes import (
    launch_indices,
    mean_zero_leads,
    uses_mean_zero,
)
from tests.unit.strategies.test_warp_select import _bad_tail_history


def test_the_pattern_probes_each_gp_once_in_four_and_the_leader_takes_the_rest():
    assert [uses_mean_zero(i, leads=False) for i in range(8)] == [False, False, False, True] * 2
    assert [uses_mean_zero(i, leads=True) for i in range(8)] == [True, False, True, True] * 2


def _history(values: list[float | None], orders: list[int] | None = None
             ) -> list[Observation]:
    return [Observation({"x": i}, v, end_order=i,
                        launch_order=None if orders is None else orders[i])
            for i, v in enumerate(values)]


def _probe_values(zero_better: bool, n: int = 16) -> list[float | None]:
    """Launches 0-7 middling; from 8 on the shifted probes (i mod 4 = 1) at 1.0 and the
    mean-0 probes (3) at 0.0, or the other way round; the rest at 0.5."""
    good, bad = (0.0, 1.0) if zero_better else (1.0, 0.0)
    return [0.5 if i < 8 or i % 4 in (0, 2) else good if i % 4 == 3 else bad
            for i in range(n)]


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("zero_better", [False, True])
def test_the_leader_is_the_gp_whose_probes_rank_better(zero_better, maximize):
    values = _probe_values(zero_better != maximize)  # maximising flips which is better
    assert mean_zero_leads(_history(values), 16, maximize, start=8) is zero_better


def test_launches_before_start_and_other_tasks_do_not_count():
    values = _probe_values(zero_better=True)
    for i, v in ((1, -100.0), (5, -99.0), (3, 100.0), (7, 99.0)):
        values[i] = v  # random initial picks at probe indices
    assert mean_zero_leads(_history(values), 16, False, start=8)
    assert not mean_zero_leads(_history(values), 16, False, start=0)
    parent = [Observation({"x": -1}, -1e9, source="parent")]  # warm start: not ours
    assert mean_zero_leads(parent + _history(values), 16, False, start=8)


@pytest.mark.parametrize("before", [False, True])
def test_before_both_gps_have_a_probe_the_option_decides(before):
    assert mean_zero_leads([], 0, False, start=8, before=before) is before
    no_probe_yet = _probe_values(zero_better=True, n=9)  # launches 0-8: none at 1 or 3 mod 4
    assert mean_zero_leads(_history(no_probe_yet), 9, False, start=8, before=before) \
        is before


def test_a_failed_probe_ranks_last():
    values = _probe_values(zero_better=True)
    for i in (11, 15):
        values[i] = None  # the mean-0 probes failed
    assert not mean_zero_leads(_history(values), 16, False, start=8)


def test_launch_order_comes_from_the_observations():
    """The controller passes history in finish order with each job's launch order: that
    order, not the position, decides which observations are probes."""
    values = _probe_values(zero_better=True)
    history = _history(values, list(range(len(values))))
    shuffled = history[:]
    random.Random(3).shuffle(shuffled)
    assert launch_indices(shuffled, 16).tolist() == [o.launch_order for o in shuffled]
    assert mean_zero_leads(shuffled, 16, False, start=8)
    # positions, when an observation has no launch order (the benchmark, hand-made history)
    unordered = [*shuffled[:-1], Observation({}, 0.5)]
    assert launch_indices(unordered, 16).tolist() == list(range(16))


def test_launches_numbered_across_definitions_give_no_order():
    """A multi-algorithm tuning job numbers launches across its definitions, and each
    definition's strategy sees only its own: its probes cannot be told apart."""
    orders = [2 * i for i in range(16)]  # every other launch
    history = _history(_probe_values(zero_better=True), orders)
    assert launch_indices(history, 16) is None
    assert mean_zero_leads(history, 16, False, start=8, before=False) is False


def _picks_by_prior_mean(strategy: BayesianStrategy, history, pending, n) -> list[bool]:
    """Per pick of one call, whether its posterior had prior mean 0 (no shift)."""
    used: list[bool] = []
    real = strategy._with_pending

    def spy(base, data, *args, **kwargs):  # type: ignore[no-untyped-def]
        used.append(data.shift == 0.0)
        return real(base, data, *args, **kwargs)

    strategy._with_pending = spy  # type: ignore[method-assign]
    assert len(strategy.suggest(history, pending, n)) == n
    return used


@pytest.mark.parametrize(("zero_better", "expected"),
                         [(False, [False, True, False, False]), (True, [True, True, True, False])])
def test_a_batch_takes_each_pick_from_the_gp_the_pattern_names(zero_better, expected):
    """30 observations (launches 0-29; the plain GP is chosen, so a batch's prior mean is
    shifted), the probes of one GP made the best and the other's the worst, then a batch of
    4: launches 30-33, i.e. 2, 3, 0, 1 mod 4."""
    space, history = _bad_tail_history(30)
    ys = [o.value for o in history]
    start = 7  # n_init 4 for 3 hyperparameters, + 4 - 1 for the batch's other slots
    good, bad = 0.9 * min(ys), 1.1 * max(ys)
    history = [Observation(o.params, o.value if i < start or i % 4 in (0, 2)
                           else good if (i % 4 == 3) == zero_better else bad, end_order=i)
               for i, o in enumerate(history)]
    # bound tests off: launch 30 (2 mod 4) would be one, and make no posterior
    s = BayesianStrategy(space, maximize=False, seed=0, select_min=0, select_margin=1.0,
                         bound_tests=math.inf)
    assert s.mean_probe == 1
    assert _picks_by_prior_mean(s, history, [], 4) == expected


def test_without_probes_every_batch_pick_is_shifted_and_a_single_pick_never_is():
    space, history = _bad_tail_history(30)
    off = BayesianStrategy(space, maximize=False, seed=0, select_min=0, select_margin=1.0,
                           mean_probe=0)
    assert _picks_by_prior_mean(off, history, [], 4) == [False] * 4
    on = BayesianStrategy(space, maximize=False, seed=0, select_min=0, select_margin=1.0)
    assert _picks_by_prior_mean(on, history, [], 1) == [True]  # sequential: mean 0, no shift
