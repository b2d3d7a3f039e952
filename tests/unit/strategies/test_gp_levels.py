"""The level kernel (gp.Levels): gradients, and its point, a level seen in one region only is
uncertain elsewhere instead of borrowing the other levels' shape."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import approx_fprime

from orchestrator.strategies.bayesian.gp import (
    LOG_W_PRIOR,
    Levels,
    Posterior,
    Prior,
    bounds,
    fit_hyperparameters,
    neg_log_posterior,
)


def _mixed(n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray, Levels]:
    """Two numeric columns, then a 3-level one-hot block: the optimum moves with the level."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 3, n)
    X = np.c_[rng.random((n, 2)), np.eye(3)[level]]
    y = (X[:, 0] - np.array([0.2, 0.5, 0.8])[level]) ** 2 + 0.3 * X[:, 1]
    return X, (y - y.mean()) / y.std(), Levels(np.array([2, 3, 4]), 1)


def test_likelihood_gradient_with_tied_groups_matches_finite_differences():
    X, y, levels = _mixed()
    groups = np.array([0, 1, 2, 2, 2])
    member = np.eye(3)[groups].T
    sqdiff = np.tensordot(member, (X.T[:, :, None] - X.T[:, None, :]) ** 2, axes=1)
    level = (levels.same(X, X), np.array([True, True, False]))
    theta = np.r_[np.log([0.3, 0.6, 1.5]), 0.2, -3.0, math.log(0.4)]
    prior = Prior()

    def f(t: np.ndarray) -> float:
        return neg_log_posterior(t, X, y, prior, sqdiff, level)[0]

    _, grad = neg_log_posterior(theta, X, y, prior, sqdiff, level)
    np.testing.assert_allclose(grad, approx_fprime(theta, f, 1e-6), rtol=1e-4, atol=1e-4)


def test_fit_returns_one_length_scale_per_column_and_w_within_bounds():
    X, y, levels = _mixed()
    theta = fit_hyperparameters(X, y, np.random.default_rng(0),
                                groups=np.array([0, 1, 2, 2, 2]), levels=levels)
    assert theta.shape == (5 + 3,) and theta[2] == theta[3] == theta[4]
    lo, hi = bounds(1, levels=True)[-1]
    assert lo <= theta[-1] <= hi
    prior_only = np.r_[np.full(3, math.log(0.5)), 0.0, -4.0, LOG_W_PRIOR[0]]
    level = (levels.same(X, X), np.array([True, True, False]))
    sq = np.tensordot(np.eye(3)[[0, 1, 2, 2, 2]].T,
                      (X.T[:, :, None] - X.T[:, None, :]) ** 2, axes=1)
    fitted = np.r_[theta[[0, 1, 2]], theta[5:]]
    assert (neg_log_posterior(fitted, X, y, Prior(), sq, level)[0]
            < neg_log_posterior(prior_only, X, y, Prior(), sq, level)[0])


def test_posterior_gradients_on_numeric_columns_match_finite_differences():
    X, y, levels = _mixed()
    theta = np.r_[np.log([0.3, 0.6]), np.full(3, math.log(1.5)), 0.2, -3.0, math.log(0.4)]
    post = Posterior(X, np.c_[y, y + 0.3], theta, levels)
    xq = np.array([[0.35, 0.6, 0.0, 1.0, 0.0]])
    _, _, dmean, dvar = post.predict_with_grad(xq)

    def at(x2: np.ndarray) -> np.ndarray:
        return np.r_[x2, xq[0, 2:]][None, :]

    num_mean = approx_fprime(xq[0, :2], lambda x: post.predict(at(x))[0][0, 1], 1e-7)
    num_var = approx_fprime(xq[0, :2], lambda x: post.predict(at(x))[1][0], 1e-7)
    np.testing.assert_allclose(dmean[0, 1, :2], num_mean, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(dvar[0, :2], num_var, rtol=1e-3, atol=1e-5)
    mean, var = post.predict(xq)
    m2, v2, _, _ = post.predict_with_grad(xq)
    np.testing.assert_allclose(mean, m2)
    np.testing.assert_allclose(var, v2)


def test_a_level_seen_in_one_region_only_is_uncertain_elsewhere():
    """Level 0 observed over the whole range, level 1 only near x = 0.8: with the level kernel
    level 1 at x = 0.1 is much more uncertain than level 0 there; without it (w -> 0) the
    categorical length scale makes level 1 borrow level 0's certainty."""
    x0, x1 = np.linspace(0, 1, 12), np.array([0.75, 0.8, 0.85])
    X = np.r_[np.c_[x0, np.ones(12), np.zeros(12)], np.c_[x1, np.zeros(3), np.ones(3)]]
    y = np.r_[(x0 - 0.8) ** 2, (x1 - 0.8) ** 2]
    y = (y - y.mean()) / y.std()
    levels = Levels(np.array([1, 2]), 1)
    q = np.array([[0.1, 1.0, 0.0], [0.1, 0.0, 1.0]])
    ls = np.log([0.3, 2.0, 2.0])
    _, var = Posterior(X, y, np.r_[ls, 0.0, -6.0, 0.0], levels).predict(q)
    _, var_off = Posterior(X, y, np.r_[ls, 0.0, -6.0, math.log(1e-3)], levels).predict(q)
    assert var[1] > 10 * var[0]
    assert var_off[1] < var[1] / 3
