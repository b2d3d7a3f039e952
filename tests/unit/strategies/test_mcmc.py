"""Slice sampling of theta (bayesian/mcmc.py) and the acquisition over theta samples
(acquisition.Ensemble): properties, not numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from orchestrator.strategies.bayesian.acquisition import Ensemble, log_ei
from orchestrator.strategies.bayesian.gp import Posterior, fit_hyperparameters, theta_objective
from orchestrator.strategies.bayesian.mcmc import sample_thetas, slice_sweep


def _data(n: int = 20, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2
    return X, (y - y.mean()) / y.std()


def test_slice_sweeps_sample_a_known_gaussian() -> None:
    """Mean 1 and sd (0.5, 2) with correlation 0.6: the chain's moments match."""
    cov = np.array([[0.25, 0.6], [0.6, 4.0]])
    prec = np.linalg.inv(cov)

    def logp(t: np.ndarray) -> float:
        u = t - 1.0
        return -0.5 * float(u @ prec @ u)

    rng = np.random.default_rng(1)
    t = np.zeros(2)
    lp = logp(t)
    lo, hi = np.full(2, -50.0), np.full(2, 50.0)
    draws = []
    for _ in range(6000):
        t, lp = slice_sweep(logp, t, lp, lo, hi, rng)
        assert lp == pytest.approx(logp(t))
        draws.append(t)
    S = np.array(draws[500:])
    np.testing.assert_allclose(S.mean(0), [1.0, 1.0], atol=0.1)
    np.testing.assert_allclose(np.cov(S.T), cov, atol=0.12, rtol=0.1)


def test_slice_sweeps_respect_the_box() -> None:
    """A flat density on [0, 1]^3 stays there, and fills it (uniform moments)."""
    rng = np.random.default_rng(2)
    lo, hi = np.zeros(3), np.ones(3)

    def logp(t: np.ndarray) -> float:
        return 0.0 if np.all((t >= lo) & (t <= hi)) else -math.inf

    t, lp, draws = np.full(3, 0.5), 0.0, []
    for _ in range(3000):
        t, lp = slice_sweep(logp, t, lp, lo, hi, rng)
        draws.append(t)
    S = np.array(draws)
    assert S.min() >= 0.0 and S.max() <= 1.0
    np.testing.assert_allclose(S.mean(0), 0.5, atol=0.03)
    np.testing.assert_allclose(S.var(0), 1 / 12, atol=0.01)


def test_theta_samples_are_legal_tied_and_spread_around_the_map() -> None:
    X, y = _data()
    groups = np.array([0, 1, 2, 2])
    theta = fit_hyperparameters(X, y, np.random.default_rng(0), groups=groups)
    obj = theta_objective(X, y, groups=groups)
    np.testing.assert_array_equal(obj.expand(obj.compress(theta)), theta)
    samples = sample_thetas(obj, theta, np.random.default_rng(3), n_samples=6, burn=2, thin=1)
    assert len(samples) == 6
    for s in samples:
        assert s.shape == theta.shape and s[2] == s[3]  # tied columns stay tied
        g = obj.compress(s)
        assert np.all(g >= obj.lo) and np.all(g <= obj.hi)
        assert obj(g)[0] < 1e24  # a usable kernel
    assert len({s.tobytes() for s in samples}) == 6  # the chain moves
    # the MAP is the mode: no sample is more probable
    assert min(obj(obj.compress(s))[0] for s in samples) >= obj(obj.compress(theta))[0] - 1e-6


def test_ensemble_acquisition_is_the_mean_ei_and_has_the_right_gradient() -> None:
    X, y = _data()
    theta = fit_hyperparameters(X, y, np.random.default_rng(0))
    obj = theta_objective(X, y)
    thetas = sample_thetas(obj, theta, np.random.default_rng(4), n_samples=3, burn=1, thin=1)
    best = np.array([y.min()])
    members = [(Posterior(X, y, t), best) for t in thetas]
    ens = Ensemble(members)
    xq = X[np.argsort(y)[:3]] + 0.02
    eis = np.array([np.exp(log_ei(*p.predict(xq), b)) for p, b in members])
    np.testing.assert_allclose(ens.log_ei(xq), np.log(eis.mean(0)), rtol=1e-10)
    val, grad = ens.log_ei_with_grad(xq)
    np.testing.assert_allclose(val, ens.log_ei(xq), rtol=1e-10)
    for a in range(3):
        def f(x: np.ndarray) -> float:
            return float(ens.log_ei(x[None, :])[0])
        np.testing.assert_allclose(grad[a], approx_fprime(xq[a], f, 1e-7), rtol=1e-3, atol=1e-4)
