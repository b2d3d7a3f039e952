"""Choosing the output warp by leave-one-out cross-validation (bayesian/select.py): the
closed-form LOO quantities equal refitting without each point, the warp's log-Jacobian is
its derivative, and the rank criterion is Spearman's rho."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from orchestrator.strategies import Observation, SearchSpace
from orchestrator.strategies.bayesian import BayesianStrategy
from orchestrator.strategies.bayesian.gp import Posterior
from orchestrator.strategies.bayesian.select import average_ranks, loo_score, spearman
from orchestrator.strategies.bayesian.warp import standardise, warp_outputs_and_log_jacobian


@pytest.mark.parametrize("seed", range(5))
def test_closed_form_loo_equals_conditioning_on_the_other_points(seed: int):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(5, 30)), int(rng.integers(1, 4))
    X = rng.random((n, d))
    y = standardise(np.sin(5 * X[:, 0]) + X.sum(1) + 0.1 * rng.standard_normal(n))
    theta = np.r_[np.log(rng.uniform(0.2, 1.0, d)), 0.0, math.log(rng.uniform(1e-3, 0.1))]
    mean, log_p = Posterior(X, y, theta).loo(y)
    for i in range(n):
        keep = np.arange(n) != i
        post = Posterior(X[keep], y[keep], theta)
        m, v = post.predict(X[i:i + 1])
        s2 = v[0] + post.sn2 + 1e-8  # predictive variance of a noisy observation (+ jitter)
        assert mean[i] == pytest.approx(m[0, 0], rel=1e-6, abs=1e-8)
        assert log_p[i] == pytest.approx(stats.norm.logpdf(y[i], m[0, 0], math.sqrt(s2)),
                                         rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("seed", range(5))
def test_prequential_density_conditions_each_row_on_the_rows_before_it(seed: int):
    """`Posterior.prequential` (for `mean_loo=3`): row i's log density given rows 0..i-1,
    checked against a posterior refitted on that prefix; the terms sum to the log marginal
    likelihood (the chain rule)."""
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(5, 30)), int(rng.integers(1, 4))
    X = rng.random((n, d))
    y = standardise(np.sin(5 * X[:, 0]) + X.sum(1) + 0.1 * rng.standard_normal(n))
    theta = np.r_[np.log(rng.uniform(0.2, 1.0, d)), 0.0, math.log(rng.uniform(1e-3, 0.1))]
    full = Posterior(X, y, theta)
    terms = full.prequential(y)
    s2_0 = math.exp(theta[d]) + full.sn2 + 1e-8
    assert terms[0] == pytest.approx(stats.norm.logpdf(y[0], 0.0, math.sqrt(s2_0)), rel=1e-6)
    for i in range(1, n):
        post = Posterior(X[:i], y[:i], theta)
        m, v = post.predict(X[i:i + 1])
        s2 = v[0] + post.sn2 + 1e-8
        assert terms[i] == pytest.approx(stats.norm.logpdf(y[i], m[0, 0], math.sqrt(s2)),
                                         rel=1e-6, abs=1e-8)
    K = full.L @ full.L.T
    assert terms.sum() == pytest.approx(
        stats.multivariate_normal.logpdf(y, np.zeros(n), K), rel=1e-6)


@pytest.mark.parametrize("seed", range(10))
def test_log_jacobian_is_the_derivative_of_the_warp(seed: int):
    """log dy/dz by finite differences of the whole map z -> y (lambda and the standardising
    of psi(z) held fixed, as they are for the LOO comparison)."""
    rng = np.random.default_rng(seed)
    v = rng.lognormal(0.0, rng.uniform(0.5, 2.5), size=int(rng.integers(6, 80)))
    z = standardise(v)
    y, log_jac, _ = warp_outputs_and_log_jacobian(v)
    assert np.any(log_jac != 0)  # a lognormal sample has a long bad tail: warped
    # y = a psi(z) + c is affine in psi: recover a, c from two points, then differentiate psi
    from orchestrator.strategies.bayesian.warp import yeojohnson, yeojohnson_lambda

    lam = yeojohnson_lambda(z)
    psi = yeojohnson(z, lam)
    a = (y[1] - y[0]) / (psi[1] - psi[0])
    h = 1e-6
    num = a * (yeojohnson(z + h, lam) - yeojohnson(z - h, lam)) / (2 * h)
    np.testing.assert_allclose(log_jac, np.log(num), rtol=1e-5, atol=1e-6)


def test_no_warp_has_a_zero_log_jacobian():
    good_tail = -np.r_[np.arange(10.0), 50.0]
    y, log_jac, params = warp_outputs_and_log_jacobian(good_tail)
    assert params is None
    np.testing.assert_allclose(y, standardise(good_tail))
    assert np.all(log_jac == 0)


@pytest.mark.parametrize("seed", range(10))
def test_spearman_and_ranks_match_scipy_with_ties(seed: int):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 6, size=int(rng.integers(3, 40))).astype(float)  # many ties
    b = a + rng.standard_normal(a.size)
    np.testing.assert_allclose(average_ranks(a) + 1, stats.rankdata(a))
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert spearman(np.ones(5), np.arange(5.0)) == 0.0


def test_rank_criterion_ignores_the_scale_and_density_counts_the_jacobian():
    z = np.array([-1.0, -0.5, 0.0, 2.0])
    mean = np.array([-0.9, -0.4, 0.3, 1.0])
    assert loo_score("rank", np.zeros(4), mean, np.zeros(4), z) == pytest.approx(1.0)
    assert loo_score("rank", np.zeros(4), 10 * mean, np.zeros(4), z) == pytest.approx(1.0)
    lp = np.array([-1.0, -2.0, -3.0, -4.0])
    jac = np.array([0.5, 0.5, 0.0, -1.0])
    assert loo_score("density", lp, mean, jac, z) == pytest.approx(-10.0 + 0.0)
    # the best quarter, but at least 3 observations: z = -1, -0.5, 0
    assert loo_score("density_best", lp, mean, jac, z) == pytest.approx(-0.5 - 1.5 - 3.0)


@pytest.mark.parametrize("mode", [3, 4, 5])
def test_warp_choice_runs_end_to_end_beyond_the_selection_subset(mode: int):
    """With a long bad tail both GPs are fitted and one is chosen, on all observations and
    (beyond `select_points`) on a subset with the winner refitted; suggestions stay legal."""
    ranges = {"ContinuousParameterRanges": [
        {"Name": f"x{i}", "MinValue": "0", "MaxValue": "1"} for i in range(3)]}
    space = SearchSpace.from_parameter_ranges(ranges)
    pts = space.sample(np.random.default_rng(0), 40)
    X = space.to_unit_many(pts)
    y = np.exp(4 * ((X - 0.3) ** 2).sum(1))  # a long bad tail: the warp applies
    history = [Observation(p, float(v), end_order=i)
               for i, (p, v) in enumerate(zip(pts, y, strict=True))]
    for select_points in (50, 20):
        s = BayesianStrategy(space, maximize=False, seed=1, warp_outputs=mode,
                             select_points=select_points)
        data, theta, _ = s._data_and_theta(history, np.random.default_rng(0))
        assert data.y.shape == (40,) and np.all(np.isfinite(theta))
        got = s.suggest(history, pts[:2], 2)
        assert len(got) == 2 and all(0 <= float(v) <= 1 for p in got for v in p.values())


@pytest.mark.parametrize("lam", [-1.5, -0.3, 0.0, 0.4, 1.0, 1.7, 2.0, 2.6])
def test_yeojohnson_inverse_undoes_the_transform(lam: float):
    from orchestrator.strategies.bayesian.warp import yeojohnson, yeojohnson_inverse

    z = np.linspace(-3.0, 6.0, 37)
    np.testing.assert_allclose(yeojohnson_inverse(yeojohnson(z, lam), lam), z, rtol=1e-9,
                               atol=1e-9)


def test_fantasies_from_the_warped_gp_stay_finite_on_a_far_bad_tail(caplog, monkeypatch):
    """`pend_warp=2`: when the plain GP is chosen, a batch's fantasies are drawn from the
    warped GP and mapped back to z's scale; a bad tail far beyond the observed values would
    overflow there, so fantasies are clipped to the worst observed z and the model never
    falls back to random sampling."""
    ranges = {"ContinuousParameterRanges": [
        {"Name": f"x{i}", "MinValue": "0", "MaxValue": "1"} for i in range(2)]}
    space = SearchSpace.from_parameter_ranges(ranges)
    pts = space.sample(np.random.default_rng(3), 30)
    X = space.to_unit_many(pts)
    y = np.exp(12 * ((X - 0.2) ** 2).sum(1))  # losses from 1 to ~e^15
    history = [Observation(p, float(v), end_order=i)
               for i, (p, v) in enumerate(zip(pts, y, strict=True))]
    s = BayesianStrategy(space, maximize=False, seed=0, warp_outputs=5, pend_warp=2,
                         select_margin=1.0)  # a margin no warp can beat: the plain GP
    import orchestrator.strategies.bayesian.strategy as strategy_module

    mapped: list[np.ndarray] = []
    inverse = strategy_module.yeojohnson_inverse
    monkeypatch.setattr(strategy_module, "yeojohnson_inverse",
                        lambda w, lam: mapped.append(inverse(w, lam)) or mapped[-1])
    with caplog.at_level("WARNING"):
        got = s.suggest(history, pts[:0], 4)
    assert not [r for r in caplog.records if "model failed" in r.getMessage()]
    assert len(got) == 4 and len({space.key(p) for p in got}) == 4
    assert len(mapped) == 3  # picks 2-4 condition on fantasies of the earlier picks


def _bad_tail_history(n: int, seed: int = 0):
    ranges = {"ContinuousParameterRanges": [
        {"Name": f"x{i}", "MinValue": "0", "MaxValue": "1"} for i in range(3)]}
    space = SearchSpace.from_parameter_ranges(ranges)
    pts = space.sample(np.random.default_rng(seed), n)
    y = np.exp(4 * ((space.to_unit_many(pts) - 0.3) ** 2).sum(1))  # a long bad tail
    return space, [Observation(p, float(v), end_order=i)
                   for i, (p, v) in enumerate(zip(pts, y, strict=True))]


def _record_fits(monkeypatch, strategy: BayesianStrategy) -> list[tuple[int, bool, bool]]:
    """(rows, warped, warm-started) of every theta fit the strategy makes."""
    calls: list[tuple[int, bool, bool]] = []
    fit = strategy._fit

    def spy(data, rng, points=None, init=None, maxiter=100,  # type: ignore[no-untyped-def]
            prior=None):
        calls.append((min(data.X.shape[0], points or strategy.fit_points),
                      data.warp is not None, init is not None))
        return fit(data, rng, points=points, init=init, maxiter=maxiter, prior=prior)

    monkeypatch.setattr(strategy, "_fit", spy)
    return calls


def test_default_keeps_the_warp_without_a_comparison_below_select_min(monkeypatch):
    """Spearman's rho over n LOO predictions has a standard error of about 1/sqrt(n): with
    fewer than `select_min` (16) observations the warped GP is kept and the plain one is
    never fitted; from 16 on both are fitted on all rows and one is chosen."""
    for n, expected in ((15, [(15, True, False)]), (16, [(16, False, False),
                                                          (16, True, False)])):
        space, history = _bad_tail_history(n)
        s = BayesianStrategy(space, maximize=False, seed=0)
        calls = _record_fits(monkeypatch, s)
        data, _, _ = s._data_and_theta(history, np.random.default_rng(0))
        assert calls == expected
        if n == 15:
            assert data.warp is not None and np.any(data.log_jac)


def test_default_compares_on_a_subset_beyond_select_points_and_keeps_its_theta(monkeypatch):
    """Beyond `select_points` (50) observations the two GPs are fitted on `select_subset`
    (30) rows and the winner keeps that theta (no refit): two small fits cost about what
    one fit on 90 rows did before the choice. `refit_iter` > 0 refits it."""
    space, history = _bad_tail_history(80)
    s = BayesianStrategy(space, maximize=False, seed=0)
    calls = _record_fits(monkeypatch, s)
    data, theta, _ = s._data_and_theta(history, np.random.default_rng(0))
    assert calls == [(30, False, False), (30, True, False)]
    assert data.y.shape == (80,) and np.all(np.isfinite(theta))
    s = BayesianStrategy(space, maximize=False, seed=0, refit_iter=20)
    calls = _record_fits(monkeypatch, s)
    data, _, _ = s._data_and_theta(history, np.random.default_rng(0))
    assert calls[:2] == [(30, False, False), (30, True, False)]
    assert calls[2] == (80, data.warp is not None, True)


def test_unwarped_data_is_the_standardised_losses_of_the_same_rows():
    from orchestrator.strategies.bayesian.data import build_data

    space, history = _bad_tail_history(30)
    data = build_data(space, history, False, 300, np.random.default_rng(0), 1)
    assert data is not None and data.warp is not None
    plain = data.unwarped()
    np.testing.assert_array_equal(plain.X, data.X)
    np.testing.assert_allclose(plain.y, standardise(np.array([o.value for o in history])))
    assert plain.warp is None and not np.any(plain.log_jac)


def test_mean_q_sets_the_prior_mean_to_a_quantile_of_the_targets():
    """`mean_q` (0.9 by default): the GP is fitted to y - c with c the quantile, so far from
    the data the posterior mean returns to c (here the worst target) instead of 0."""
    from orchestrator.strategies.bayesian.data import build_data
    from orchestrator.strategies.bayesian.gp import Posterior

    space, history = _bad_tail_history(30)
    s = BayesianStrategy(space, maximize=False, seed=0, mean_q=1.0)
    data = build_data(space, history, False, 300, np.random.default_rng(0), 1)
    shifted = s._shifted(data, 1.0)
    assert shifted.shift == pytest.approx(data.y.max()) and shifted.y.max() == 0.0
    np.testing.assert_allclose(shifted.y + shifted.shift, data.y)
    theta = np.r_[np.full(3, np.log(0.05)), 0.0, np.log(1e-4)]  # short length scales
    far, _ = Posterior(shifted.X, shifted.y, theta).predict(np.full((1, 3), 5.0))
    assert far[0, 0] + shifted.shift == pytest.approx(data.y.max(), abs=1e-6)


@pytest.mark.parametrize(("margin", "shifted"), [(1.0, 1), (-1.0, 0)])
def test_mean_plain_shifts_the_prior_mean_only_when_the_plain_gp_is_chosen(margin, shifted):
    """`mean_plain` (default): the pessimistic mean of `mean_q` for the smooth spreads
    of bad values only (the plain GP chosen: select_margin 1 makes the warp lose, -1 win)."""
    space, history = _bad_tail_history(30)
    s = BayesianStrategy(space, maximize=False, seed=0, mean_q=0.9, mean_plain=1,
                         select_min=0, select_margin=margin)
    calls = []
    real = s._shifted
    s._shifted = lambda data, q: calls.append(data.warp) or real(data, q)  # type: ignore
    assert len(s.suggest(history, [], 2)) == 2
    assert len(calls) == shifted and all(w is None for w in calls)


@pytest.mark.parametrize(("pending", "n", "shifted"), [(0, 1, 0), (0, 2, 1), (2, 1, 1)])
def test_mean_batch_shifts_the_prior_mean_only_for_a_batch(pending, n, shifted):
    """`mean_batch` (default, issue 14's eighth session): the pessimistic prior mean only
    when a call picks for a batch (jobs pending, or several picks), so that a batch's later
    picks do not spread into corners that look average only because nothing is known there;
    a sequential pick (nothing pending, one pick) keeps the mean-0 GP."""
    space, history = _bad_tail_history(30)
    s = BayesianStrategy(space, maximize=False, seed=0, select_min=0, select_margin=1.0)
    assert (s.mean_q, s.mean_plain, s.mean_batch) == (0.9, 1, 1)
    calls = []
    real = s._shifted
    s._shifted = lambda data, q: calls.append(q) or real(data, q)  # type: ignore
    pend = space.sample(np.random.default_rng(7), pending)
    assert len(s.suggest(history, pend, n)) == n
    assert calls == [0.9] * shifted


@pytest.mark.parametrize(("tail", "shifted"), [(1.0, 0), (-1.0, 1)])
def test_mean_skew_keeps_mean_zero_for_a_long_bad_tail(tail, shifted):
    """`mean_skew` (an option, off): no pessimistic prior mean while the standardised
    losses are skewed towards bad values beyond the threshold. The same batch call on a
    long bad tail (skewness above 1) and on its mirror image (a long good tail)."""
    space, history = _bad_tail_history(30)
    history = [Observation(o.params, tail * o.value, end_order=o.end_order) for o in history]
    s = BayesianStrategy(space, maximize=False, seed=0, select_min=0, select_margin=1.0,
                         mean_skew=1.0)
    calls = []
    real = s._shifted
    s._shifted = lambda data, q: calls.append(q) or real(data, q)  # type: ignore
    assert len(s.suggest(history, [], 2)) == 2
    assert len(calls) == shifted


def _isolated_data(isolated_value: float):
    """A cluster of 12 points in [0.2, 0.4] and 3 isolated ones at 0.8-1.0 with the given
    standardised value (the cluster's values are spread around 0)."""
    from orchestrator.strategies.bayesian.data import ModelData

    X = np.r_[np.linspace(0.2, 0.4, 12), [0.8, 0.9, 1.0]][:, None]
    y = np.r_[np.sin(40 * X[:12, 0]), [isolated_value] * 3]
    return ModelData(X, y, 0, y.size)


@pytest.mark.parametrize(("isolated", "wins"), [(2.5, True), (-0.5, False)])
def test_mean_loo_shifts_when_the_isolated_points_are_bad(isolated, wins):
    """`mean_loo=2` (an option, off): the prior mean is shifted to the 0.9-quantile only
    when that predicts the observations better by leave-one-out log density. With short
    length scales the isolated points are predicted by the prior mean: bad ones (2.5) favour
    the pessimistic mean, average-to-good ones (-0.5) favour mean 0."""
    space = SearchSpace.from_parameter_ranges({"ContinuousParameterRanges": [
        {"Name": "x", "MinValue": "0", "MaxValue": "1"}]})
    s = BayesianStrategy(space, maximize=False, seed=0, mean_loo=2)
    theta = np.r_[np.log(0.03), 0.0, np.log(1e-3)]
    assert s._shift_wins(_isolated_data(isolated), theta) is wins


@pytest.mark.parametrize(("isolated", "first", "wins"),
                         [(2.5, False, True), (2.5, True, False), (-0.5, False, False)])
def test_mean_loo_3_asks_whether_the_models_isolated_picks_came_out_bad(isolated, first,
                                                                        wins):
    """`mean_loo=3` (an option, off): each pick after the initial design (1 parameter: 3
    rows) predicted from the rows before it, so a far pick is judged by what the prior mean
    said before it was made. Bad isolated points as the last rows favour the pessimistic
    mean; the same points as the initial design say nothing about the model's picks, which
    are then all in the cluster (leave-one-out, `mean_loo=2`, cannot tell the two apart)."""
    space = SearchSpace.from_parameter_ranges({"ContinuousParameterRanges": [
        {"Name": "x", "MinValue": "0", "MaxValue": "1"}]})
    data = _isolated_data(isolated)
    if first:
        order = np.r_[12, 13, 14, np.arange(12)]
        data = dataclasses.replace(data, X=data.X[order], y=data.y[order])
    s = BayesianStrategy(space, maximize=False, seed=0, mean_loo=3)
    theta = np.r_[np.log(0.03), 0.0, np.log(1e-3)]
    assert s._shift_wins(data, theta) is wins
    loo = BayesianStrategy(space, maximize=False, seed=0, mean_loo=2)
    assert loo._shift_wins(data, theta) is (isolated > 0)


@pytest.mark.parametrize(("until", "shifted"), [(31, 1), (30, 0)])
def test_mean_until_stops_the_shift_from_that_many_observations(until, shifted):
    """`mean_until` (an option, off): the pessimistic prior mean of a batch only while this
    task has fewer than `mean_until` observations (the early rounds)."""
    space, history = _bad_tail_history(30)
    s = BayesianStrategy(space, maximize=False, seed=0, select_min=0, select_margin=1.0,
                         mean_until=until)
    calls = []
    real = s._shifted
    s._shifted = lambda data, q: calls.append(q) or real(data, q)  # type: ignore
    assert len(s.suggest(history, [], 2)) == 2
    assert len(calls) == shifted
