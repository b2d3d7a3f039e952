"""The additive kernel term (gp.Additive): gradients, closed forms, and its point, a corner far
from every observation still inherits each hyperparameter's main effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from orchestrator.strategies.base import Observation
from orchestrator.strategies.bayesian import BayesianStrategy
from orchestrator.strategies.bayesian.gp import (
    LOG_V_PRIOR,
    Additive,
    Levels,
    Posterior,
    bounds,
    fit_hyperparameters,
    theta_objective,
)
from orchestrator.strategies.space import SearchSpace

GROUPS = np.array([0, 1, 2, 2, 2])


def _mixed(n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two numeric columns, then a 3-level one-hot block: the optimum moves with the level."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 3, n)
    X = np.c_[rng.random((n, 2)), np.eye(3)[level]]
    y = (X[:, 0] - np.array([0.2, 0.5, 0.8])[level]) ** 2 + 0.3 * X[:, 1]
    return X, (y - y.mean()) / y.std()


@pytest.mark.parametrize("levels", [None, Levels(np.array([2, 3, 4]), 1)])
def test_likelihood_gradient_matches_finite_differences(levels):
    X, y = _mixed()
    obj = theta_objective(X, y, groups=GROUPS, levels=levels, additive=True)
    theta = obj.mode + 0.3 * np.random.default_rng(1).standard_normal(obj.mode.size)
    _, grad = obj(theta)
    np.testing.assert_allclose(grad, approx_fprime(theta, lambda t: obj(t)[0], 1e-6),
                               rtol=1e-4, atol=1e-4)


def test_fit_returns_tied_length_scales_and_v_within_bounds_and_beats_the_prior_mode():
    X, y = _mixed()
    theta = fit_hyperparameters(X, y, np.random.default_rng(0), groups=GROUPS, additive=True)
    assert theta.shape == (5 + 3,) and theta[2] == theta[3] == theta[4]
    lo, hi = bounds(1, additive=True)[-1]
    assert lo <= theta[-1] <= hi
    obj = theta_objective(X, y, groups=GROUPS, additive=True)
    assert obj(obj.compress(theta))[0] < obj(obj.mode)[0]
    assert obj.mode[-1] == LOG_V_PRIOR[0]


def test_the_additive_term_does_not_take_input_warping():
    X, y = _mixed()
    with pytest.raises(ValueError, match="input warping"):
        theta_objective(X, y, groups=GROUPS, additive=True, warp_cols=np.array([0, 1]))(
            np.zeros(3 + 3 + 4))


@pytest.mark.parametrize("levels", [None, Levels(np.array([2, 3, 4]), 1)])
def test_posterior_gradients_match_finite_differences(levels):
    X, y = _mixed()
    theta = np.r_[np.log([0.3, 0.6]), np.full(3, math.log(1.5)), 0.2, -3.0,
                  [math.log(0.4)] * (levels is not None), math.log(0.7)]
    post = Posterior(X, np.c_[y, y + 0.3], theta, levels, None, Additive(GROUPS))
    xq = np.array([[0.35, 0.6, 0.0, 1.0, 0.0], [0.9, 0.05, 1.0, 0.0, 0.0]])
    mean, var, dmean, dvar = post.predict_with_grad(xq)
    m2, v2 = post.predict(xq)
    np.testing.assert_allclose(mean, m2)
    np.testing.assert_allclose(var, v2)
    for i in range(2):
        def at(x2: np.ndarray, i: int = i) -> np.ndarray:
            return np.r_[x2, xq[i, 2:]][None, :]

        num_mean = approx_fprime(xq[i, :2], lambda x: post.predict(at(x))[0][0, 1], 1e-7)
        num_var = approx_fprime(xq[i, :2], lambda x: post.predict(at(x))[1][0], 1e-7)
        np.testing.assert_allclose(dmean[i, 1, :2], num_mean, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(dvar[i, :2], num_var, rtol=1e-3, atol=1e-5)


def test_joint_covariance_and_leave_one_out_agree_with_direct_computation():
    X, y = _mixed(n=20)
    theta = np.r_[np.log([0.3, 0.6]), np.full(3, math.log(1.5)), 0.2, -3.0, 0.3]
    post = Posterior(X, y, theta, additive=Additive(GROUPS))
    xq = X[:3] + np.r_[0.05, -0.05, 0.0, 0.0, 0.0]
    mean, cov = post.joint(xq)
    m, v = post.predict(xq)
    np.testing.assert_allclose(np.diag(cov), v, rtol=1e-9)
    np.testing.assert_allclose(mean, m)
    loo_mean, _ = post.loo(y)
    keep = np.arange(20) != 7
    direct, _ = Posterior(X[keep], y[keep], theta, additive=Additive(GROUPS)).predict(X[7:8])
    assert loo_mean[7] == pytest.approx(direct[0, 0], abs=1e-9)


def test_a_task_column_beyond_the_groups_is_a_group_of_its_own():
    assert Additive(GROUPS).of(5).tolist() == GROUPS.tolist()
    assert Additive(GROUPS).of(6).tolist() == [0, 1, 2, 2, 2, 3]


def test_a_far_corner_inherits_the_main_effects_instead_of_the_prior_mean():
    """f = main effect of x1 + main effect of x2, observed on a cross through the middle of
    the square: at the corner (1, 1), far from every point in the joint distance, the
    additive model predicts most of f's badness; the product kernel alone (v -> 0) reverts to
    the prior mean."""
    t = np.linspace(0.0, 1.0, 9)
    X = np.r_[np.c_[t, np.full(9, 0.3)], np.c_[np.full(9, 0.3), t]]
    f = 4 * (X[:, 0] - 0.3) ** 2 + 4 * (X[:, 1] - 0.3) ** 2
    y = (f - f.mean()) / f.std()
    corner = np.array([[1.0, 1.0]])
    truth = (8 * 0.49 - f.mean()) / f.std()
    groups = np.array([0, 1])
    ls = np.log([0.2, 0.2])
    add_mean, _ = Posterior(X, y, np.r_[ls, 0.0, -8.0, math.log(10.0)],
                            additive=Additive(groups)).predict(corner)
    plain_mean, _ = Posterior(X, y, np.r_[ls, 0.0, -8.0, math.log(1e-3)],
                              additive=Additive(groups)).predict(corner)
    assert abs(plain_mean[0, 0]) < 0.3 * truth
    assert add_mean[0, 0] > 0.7 * truth


def test_the_strategy_suggests_legal_distinct_configurations_with_the_additive_term(caplog):
    space = SearchSpace.from_parameter_ranges({
        "ContinuousParameterRanges": [
            {"Name": "lr", "MinValue": "1e-5", "MaxValue": "1", "ScalingType": "Logarithmic"}],
        "IntegerParameterRanges": [{"Name": "layers", "MinValue": "1", "MaxValue": "8"}],
        "CategoricalParameterRanges": [{"Name": "opt", "Values": ["sgd", "adam", "rms"]}]})
    strat = BayesianStrategy(space, maximize=False, seed=3, additive=1)
    rng = np.random.default_rng(0)
    history = []
    for i in range(12):
        c = space.from_unit(space.box_to_unit(rng.random((1, 3)))[0])
        v = (math.log10(float(c["lr"])) + 2) ** 2 + 0.1 * int(c["layers"])
        history.append(Observation(c, v, end_order=i))
    with caplog.at_level("WARNING"):
        out = strat.suggest(history, [history[0].params], 4)
    assert not [r for r in caplog.records if "model failed" in r.getMessage()]  # no fallback
    keys = {space.key(c) for c in out}
    assert len(out) == 4 and len(keys) == 4
    assert not keys & {space.key(o.params) for o in history}
    for c in out:
        assert 1e-5 <= float(c["lr"]) <= 1 and 1 <= int(c["layers"]) <= 8
        assert c["opt"] in ("sgd", "adam", "rms")
    with pytest.raises(ValueError, match="additive"):
        BayesianStrategy(space, maximize=False, seed=3, additive=1, input_warp=1)
