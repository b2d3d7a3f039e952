"""Output warping (bayesian/warp.py): the hand-written Yeo-Johnson agrees with scipy's, and the
warp is applied only to a long bad tail."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from orchestrator.strategies.bayesian.warp import (
    plateau,
    standardise,
    warp_outputs,
    yeojohnson,
    yeojohnson_lambda,
)


@pytest.mark.parametrize("seed", range(20))
def test_lambda_and_transform_match_scipy(seed: int):
    rng = np.random.default_rng(seed)
    z = standardise(rng.lognormal(0.0, rng.uniform(0.1, 3.0), size=int(rng.integers(4, 300))))
    lam = yeojohnson_lambda(z)
    assert lam == pytest.approx(stats.yeojohnson_normmax(z), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(yeojohnson(z, lam), stats.yeojohnson(z, lam), rtol=1e-9,
                               atol=1e-12)


def test_special_lambdas_are_the_limits():
    z = np.linspace(-0.9, 3.0, 9)
    np.testing.assert_allclose(yeojohnson(z, 0.0), yeojohnson(z, 1e-9), atol=1e-8)
    np.testing.assert_allclose(yeojohnson(z, 2.0), yeojohnson(z, 2.0 - 1e-9), atol=1e-8)


def test_only_a_long_bad_tail_is_warped_and_order_is_kept():
    rng = np.random.default_rng(0)
    bad_tail = np.r_[rng.random(30), [40.0, 80.0]]
    w = warp_outputs(bad_tail)
    assert np.all(np.argsort(w) == np.argsort(bad_tail))
    assert w.max() < standardise(bad_tail).max()  # the diverging runs are pulled in
    good_tail = -bad_tail
    np.testing.assert_allclose(warp_outputs(good_tail), standardise(good_tail))
    assert np.all(warp_outputs(np.ones(5)) == 0.0)


def test_plateau_rule_warps_only_a_tail_that_ends_in_tied_worst_values():
    """Issue 14 (third session): a smooth spread of bad values stays as it is (how bad a
    corner is, is information); a bad tail ending in a plateau (failed jobs get the worst
    loss; a classifier stuck at the majority class) is warped as before."""
    rng = np.random.default_rng(1)
    spread = np.r_[rng.random(30), [20.0, 40.0, 80.0]]
    assert not plateau(spread)
    np.testing.assert_allclose(warp_outputs(spread, plateau_only=True), standardise(spread))
    tied = np.r_[rng.random(30), [80.0, 80.0, 80.0]]
    assert plateau(tied)
    w = warp_outputs(tied, plateau_only=True)
    np.testing.assert_allclose(w, warp_outputs(tied))
    assert w.max() < standardise(tied).max()
    assert np.all(np.argsort(w, kind="stable") == np.argsort(tied, kind="stable"))
