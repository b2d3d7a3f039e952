"""GP surrogate and log-EI: properties, not golden numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import norm

from orchestrator.strategies.bayesian.acquisition import log_ei, log_ei_with_grad, log_h
from orchestrator.strategies.bayesian.gp import (
    Posterior,
    Prior,
    bounds,
    fit_hyperparameters,
    neg_log_posterior,
)


def _data(n: int = 25, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2
    return X, (y - y.mean()) / y.std()


def test_prior_gradient_matches_finite_differences():
    prior = Prior()
    theta = np.array([-1.0, 0.3, 2.0, 0.5, -3.0])
    _, grad = prior.neg_log_and_grad(theta)
    num = approx_fprime(theta, lambda t: prior.neg_log_and_grad(t)[0], 1e-7)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-6)


def test_likelihood_gradient_matches_finite_differences():
    X, y = _data()
    prior = Prior()
    theta = np.r_[np.log([0.3, 0.5, 1.0]), 0.1, -3.0]
    _, grad = neg_log_posterior(theta, X, y, prior)
    num = approx_fprime(theta, lambda t: neg_log_posterior(t, X, y, prior)[0], 1e-6)
    np.testing.assert_allclose(grad, num, rtol=1e-4, atol=1e-4)


def test_fit_improves_the_objective_and_stays_in_bounds():
    X, y = _data()
    prior = Prior()
    theta = fit_hyperparameters(X, y, np.random.default_rng(0))
    assert neg_log_posterior(theta, X, y, prior)[0] < neg_log_posterior(prior.mode(3), X, y,
                                                                         prior)[0]
    for t, (lo, hi) in zip(theta, bounds(3), strict=True):
        assert lo - 1e-9 <= t <= hi + 1e-9
    # the irrelevant third input gets a longer length scale than the first
    assert theta[2] > theta[0]


def test_tied_length_scales_are_equal_within_a_group():
    X, y = _data(d=4)
    groups = np.array([0, 1, 2, 2])  # the last two columns: one categorical's one-hot block
    theta = fit_hyperparameters(X, y, np.random.default_rng(0), groups=groups)
    assert theta.shape == (4 + 2,) and theta[2] == theta[3] and theta[0] != theta[1]


def test_posterior_interpolates_noiseless_data_and_is_uncertain_far_away():
    X, y = _data()
    post = Posterior(X, y, fit_hyperparameters(X, y, np.random.default_rng(0)))
    mean, var = post.predict(X)
    np.testing.assert_allclose(mean[:, 0], y, atol=0.05)
    assert np.all(var < 0.05)
    _, var_far = post.predict(np.full((1, 3), 3.0))
    assert var_far[0] > 10 * var.max()


def test_posterior_gradients_match_finite_differences():
    X, y = _data()
    post = Posterior(X, np.c_[y, y + 0.3], fit_hyperparameters(X, y, np.random.default_rng(0)))
    assert_posterior_gradients(post, np.array([[0.3, 0.6, 0.2]]))


def assert_posterior_gradients(post: Posterior, xq: np.ndarray) -> None:
    """predict_with_grad's gradients of the 2nd mean column and the variance at xq [1, d]
    against finite differences of predict (also used by test_gp_warp.py)."""
    _, _, dmean, dvar = post.predict_with_grad(xq)
    num_mean = approx_fprime(xq[0], lambda x: post.predict(x[None, :])[0][0, 1], 1e-7)
    num_var = approx_fprime(xq[0], lambda x: post.predict(x[None, :])[1][0], 1e-7)
    np.testing.assert_allclose(dmean[0, 1], num_mean, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(dvar[0], num_var, rtol=1e-3, atol=1e-5)


def test_log_h_matches_the_closed_form_and_stays_finite_in_the_tail():
    z = np.linspace(-30, 5, 200)
    exact = np.log(norm.pdf(z) + z * norm.cdf(z))
    ok = np.isfinite(exact) & (exact > -600)
    np.testing.assert_allclose(log_h(z)[ok], exact[ok], rtol=1e-6, atol=1e-9)
    tail = log_h(np.array([-1e3, -1e6, -1e10]))
    assert np.all(np.isfinite(tail)) and np.all(np.diff(tail) < 0)


def test_log_ei_prefers_low_mean_and_high_variance():
    best = np.array([0.0])
    lo_mean = log_ei(np.array([[-1.0], [1.0]]), np.array([0.1, 0.1]), best)
    assert lo_mean[0] > lo_mean[1]
    hi_var = log_ei(np.array([[1.0], [1.0]]), np.array([0.01, 1.0]), best)
    assert hi_var[1] > hi_var[0]
    far = log_ei(np.array([[50.0]]), np.array([0.01]), best)  # EI underflows, log-EI does not
    assert np.isfinite(far[0]) and far[0] < -1000


def test_log_ei_gradient_with_fantasies():
    X, y = _data()
    post = Posterior(X, np.c_[y, y - 0.5, y + 0.2],
                     fit_hyperparameters(X, y, np.random.default_rng(0)))
    best = np.array([y.min(), y.min() - 0.5, y.min()])
    xq = X[np.argsort(y)[:2]] + 0.03

    def f(x: np.ndarray) -> float:
        return float(log_ei(*post.predict(x[None, :]), best)[0])

    val, grad = log_ei_with_grad(*post.predict_with_grad(xq), best)
    for a in range(2):
        assert val[a] == pytest.approx(f(xq[a]))
        np.testing.assert_allclose(grad[a], approx_fprime(xq[a], f, 1e-7), rtol=1e-3, atol=1e-4)


def test_ei_is_highest_near_the_incumbent_of_a_smooth_function():
    rng = np.random.default_rng(3)
    X = rng.random((15, 1))
    y = (X[:, 0] - 0.7) ** 2
    y = (y - y.mean()) / y.std()
    post = Posterior(X, y, fit_hyperparameters(X, y, rng))
    grid = np.linspace(0, 1, 401)[:, None]
    x_best = grid[np.argmax(log_ei(*post.predict(grid), np.array([y.min()]))), 0]
    assert math.isclose(x_best, 0.7, abs_tol=0.1)


@pytest.mark.parametrize("seed", range(5))
def test_direct_lapack_calls_give_scipys_bits(seed: int):
    """gp._cholesky / _cho_solve call potrf / potrs directly: the same bits as scipy's
    cholesky / cho_solve (seeded benchmark runs must reproduce), and a matrix that is not
    positive definite still raises LinAlgError (the strategy falls back on it)."""
    from scipy.linalg import cho_solve, cholesky

    from orchestrator.strategies.bayesian.gp import _cho_solve, _cholesky

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    A = rng.random((n, n))
    K = A @ A.T + 1e-3 * np.eye(n)
    L = _cholesky(K)
    assert np.array_equal(L, cholesky(K, lower=True, check_finite=False))
    for B in (rng.random(n), rng.random((n, 16)), rng.random((7, n)).T):
        assert np.array_equal(_cho_solve(L, B), cho_solve((L, True), B, check_finite=False))
    with pytest.raises(np.linalg.LinAlgError):
        _cholesky(-K)
