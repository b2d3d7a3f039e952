"""A batch's fantasies (strategy.py, step 4): latent draws conditioned on as exact values, and
the noise prior they interact with. Properties, not golden numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orchestrator.strategies import Observation, SearchSpace
from orchestrator.strategies.bayesian import BayesianStrategy
from orchestrator.strategies.bayesian.gp import EXACT_NOISE, Posterior
from orchestrator.strategies.bayesian.optimize import _score
from tests.unit.strategies.test_bayesian import BRANIN, branin


def _history(n: int = 12) -> tuple[SearchSpace, list[Observation]]:
    space = SearchSpace.from_parameter_ranges(BRANIN)
    return space, [Observation(p, branin(p), end_order=i)
                   for i, p in enumerate(space.sample(np.random.default_rng(0), n))]


def test_exact_rows_pin_the_posterior_and_noisy_rows_do_not():
    rng = np.random.default_rng(1)
    X, y = rng.random((10, 2)), rng.standard_normal(10)
    theta = np.r_[np.log([0.3, 0.3]), 0.0, math.log(0.1)]  # s_f^2 = 1, s_n^2 = 0.1
    exact = Posterior(X, y, theta, n_exact=3)
    noisy = Posterior(X, y, theta)
    m_e, v_e = (np.ravel(a) for a in exact.predict(X[-3:]))
    m_n, v_n = (np.ravel(a) for a in noisy.predict(X[-3:]))
    np.testing.assert_allclose(m_e, y[-3:], atol=1e-4)
    assert np.all(v_e < 10 * EXACT_NOISE) and np.all(v_n > 1e-3)
    # the noisy rows of the exact posterior are still smoothed
    assert np.abs(np.ravel(exact.predict(X[:1])[0]) - y[0]).max() > 1e-3


@pytest.mark.parametrize("latent", [1, 0])
def test_a_pending_point_keeps_expected_improvement_only_with_noisy_fantasies(latent):
    """The incumbent, pending: with latent fantasies (pend_latent=1) its fantasised value is
    exact, so a second job there can improve on nothing (Monte-Carlo q-EI on the latent
    function); with noisy fantasies (0) it keeps most of its EI while the fitted noise exceeds
    its posterior variance (the near-duplicate batches of issue 14's nineteenth session)."""
    space, history = _history()
    s = BayesianStrategy(space, maximize=False, seed=0, pend_latent=latent)
    data, theta, _ = s._data_and_theta(history, np.random.default_rng(1))
    theta = theta.copy()
    theta[-1] = math.log(0.05)  # a fitted noise well above the variance at an observed point
    base = s._posterior(data, theta)
    x0 = data.X[[int(np.argmin(data.y))]]
    best0 = np.array([data.y.min()])
    before = float(_score(base, best0, x0, None)[0])
    post, best = s._with_pending(base, data, theta, x0, np.random.default_rng(2))
    after = float(_score(post, best, x0, None)[0])
    if latent:
        assert after < before - 5  # EI shrinks by a factor beyond e^5 (sd ~ 1e-3 is left)
    else:
        assert after > before - 2


def test_latent_fantasies_spread_a_batch_away_from_its_earlier_picks():
    """End to end, both modes: a batch of four distinct picks (the property itself is the
    test above)."""
    space, history = _history(16)
    for latent in (0, 1):
        s = BayesianStrategy(space, maximize=False, seed=4, pend_latent=latent)
        batch = s.suggest(history, [], 4)
        X = space.to_unit_many(batch)
        assert len(batch) == 4
        assert min(np.linalg.norm(X[i] - X[j]) for i in range(4) for j in range(i)) > 1e-3


def test_the_noise_prior_width_reaches_the_fit_and_a_batch_has_its_own():
    """`sn2_sd` (sequential picks, 1) and `sn2_sd_batch` (a batch's fits, 3): log s_n^2 ~
    N(-4, sd^2). Noiseless Branin values pull the fitted noise down; a wider prior lets them
    pull it further."""
    space, history = _history(20)
    s = BayesianStrategy(space, maximize=False, seed=0)
    assert s.prior.sn2_var == pytest.approx(1.0) and s.batch_prior.sn2_var == pytest.approx(9.0)

    def log_sn2(prior=None, **options) -> float:
        st = BayesianStrategy(space, maximize=False, seed=0, **options)
        _, theta, _ = st._data_and_theta(history, np.random.default_rng(1),
                                         None if prior is None else getattr(st, prior))
        return float(theta[-1])

    assert log_sn2(sn2_sd=3.0) < log_sn2() - 1.0
    assert log_sn2("batch_prior") < log_sn2() - 1.0
    assert log_sn2("batch_prior", sn2_sd_batch=1.0) == pytest.approx(log_sn2())


@pytest.mark.parametrize(("n", "pending", "batch"), [(1, 0, False), (4, 0, True), (1, 2, True)])
def test_a_batch_call_fits_under_the_batch_prior(n, pending, batch):
    space, history = _history(16)
    s = BayesianStrategy(space, maximize=False, seed=0)
    used = []
    real = s._data_and_theta

    def spy(hist, rng, prior=None):  # type: ignore[no-untyped-def]
        used.append(prior)
        return real(hist, rng, prior)

    s._data_and_theta = spy  # type: ignore[method-assign]
    s.suggest(history, space.sample(np.random.default_rng(3), pending), n)
    assert used == [s.batch_prior if batch else s.prior]
