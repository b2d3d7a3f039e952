"""Input warping (Kumaraswamy CDF, warp.py / gp.py): derivatives and its point, a function
that changes fast near one end of a range is fitted better with the warp."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import approx_fprime

from orchestrator.strategies.bayesian.gp import (
    Levels,
    Posterior,
    Prior,
    fit_hyperparameters,
    neg_log_posterior,
)
from orchestrator.strategies.bayesian.warp import kumaraswamy
from tests.unit.strategies.test_gp import assert_posterior_gradients


def test_kumaraswamy_is_a_cdf_and_its_derivatives_match_finite_differences():
    x = np.linspace(0.0, 1.0, 11)[:, None]
    F, dx, da, db = kumaraswamy(x, np.array([0.4]), np.array([-0.3]))
    assert F[0, 0] < 1e-3 and F[-1, 0] > 1 - 1e-3 and np.all(np.diff(F[:, 0]) > 0)
    for i in range(1, 10):
        xi, la, lb = x[i, 0], 0.4, -0.3

        def f(v: np.ndarray, k: int, i: int = i, la: float = la, lb: float = lb) -> float:
            args = [np.array([[x[i, 0]]]), np.array([la]), np.array([lb])]
            args[k] = np.array([[v[0]]]) if k == 0 else np.array([v[0]])
            return float(kumaraswamy(*args)[0][0, 0])

        for k, got in ((0, dx), (1, da), (2, db)):
            at = np.array([[xi, la, lb][k]])
            assert math.isclose(got[i, 0], approx_fprime(at, f, 1e-7, k)[0], rel_tol=1e-4,
                                abs_tol=1e-6)


def _data(n: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.random((n, 3))
    y = np.exp(-8 * X[:, 0]) + 0.3 * X[:, 1]  # fast near x0 = 0, flat near 1
    return X, (y - y.mean()) / y.std()


def test_likelihood_gradient_with_warp_and_levels_matches_finite_differences():
    X, y = _data()
    X[:, 2] = (X[:, 2] > 0.5).astype(float)
    X = np.c_[X, 1.0 - X[:, 2]]  # columns 2-3: a 2-level categorical, one group
    groups = np.array([0, 1, 2, 2])
    member = np.eye(3)[groups].T
    sqdiff = np.tensordot(member, (X.T[:, :, None] - X.T[:, None, :]) ** 2, axes=1)
    level = (Levels(np.array([2, 3]), 1).same(X, X), np.array([True, True, False]))
    warp = (np.array([0, 1]), np.array([0, 1]))
    theta = np.r_[np.log([0.3, 0.6, 1.2]), 0.1, -3.0, math.log(0.3), 0.5, -0.2, -0.4, 0.3]

    def f(t: np.ndarray) -> float:
        return neg_log_posterior(t, X, y, Prior(), sqdiff, level, warp)[0]

    _, grad = neg_log_posterior(theta, X, y, Prior(), sqdiff, level, warp)
    np.testing.assert_allclose(grad, approx_fprime(theta, f, 1e-6), rtol=1e-4, atol=1e-4)


def test_posterior_gradients_through_the_warp_match_finite_differences():
    X, y = _data()
    cols = np.array([0, 1])
    theta = fit_hyperparameters(X, y, np.random.default_rng(0), warp_cols=cols)
    assert theta.shape == (3 + 2 + 4,)
    post = Posterior(X, np.c_[y, y + 0.3], theta, warp_cols=cols)
    assert_posterior_gradients(post, np.array([[0.15, 0.6, 0.2]]))


def test_the_warp_fits_a_function_that_changes_fast_near_one_end_better():
    rng = np.random.default_rng(2)
    X, Xt = rng.random((40, 2)), rng.random((300, 2))

    def f(Z: np.ndarray) -> np.ndarray:
        return np.exp(-15 * Z[:, 0]) + 0.2 * Z[:, 1]

    mu, sd = f(X).mean(), f(X).std()
    y, yt = (f(X) - mu) / sd, (f(Xt) - mu) / sd
    errs = []
    for cols in (None, np.array([0, 1])):
        theta = fit_hyperparameters(X, y, np.random.default_rng(0), warp_cols=cols)
        mean, _ = Posterior(X, y, theta, warp_cols=cols).predict(Xt)
        errs.append(float(np.mean((mean[:, 0] - yt) ** 2)))
    assert errs[1] < errs[0]
