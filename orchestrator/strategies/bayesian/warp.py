"""Output warping: standardised losses, power-transformed when a long bad tail would dominate.

Notation: losses v [n]; z = (v - mean v) / sd v. Yeo-Johnson (Yeo & Johnson 2000) with
parameter lambda maps each z to
  psi(z) = ((1 + z)^lambda - 1) / lambda          z >= 0, lambda != 0  (log1p z at lambda = 0)
  psi(z) = -((1 - z)^(2 - lambda) - 1) / (2 - lambda)   z < 0, lambda != 2  (-log1p(-z) at 2)
and lambda maximises the normal profile log-likelihood
  llf(lambda) = -n/2 log var(psi(z)) + (lambda - 1) sum sign(z) log1p |z|
over the bracket scipy.stats.yeojohnson_normmax uses (the one where psi neither over- nor
underflows), with the same bounded scalar search. Written out here because scipy's version
costs ~27 ms per call (array-API and nan-policy wrappers around 17 tiny evaluations), half of
a suggestion's 50 ms budget; the result is the same lambda (tested against scipy).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import fminbound

_EPS = float(np.finfo(float).eps)


def standardise(v: np.ndarray) -> np.ndarray:
    sd = float(v.std())
    return (v - v.mean()) / (sd if sd > 1e-12 else 1.0)


def yeojohnson(z: np.ndarray, lam: float) -> np.ndarray:
    pos = z >= 0
    out = np.empty_like(z, dtype=float)
    zp, zn = z[pos], z[~pos]
    out[pos] = np.log1p(zp) if abs(lam) < _EPS else np.expm1(lam * np.log1p(zp)) / lam
    out[~pos] = (-np.log1p(-zn) if abs(lam - 2) < _EPS
                 else -np.expm1((2 - lam) * np.log1p(-zn)) / (2 - lam))
    return out


def _neg_llf(lam: float, z: np.ndarray, jac: float) -> float:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        var = float(np.var(yeojohnson(z, lam)))
        val = -0.5 * z.size * math.log(var) if var > 0 and math.isfinite(var) else -math.inf
    val += (lam - 1.0) * jac
    return -val if math.isfinite(val) else math.inf


def yeojohnson_lambda(z: np.ndarray) -> float:
    """The maximum-likelihood lambda (scipy.stats.yeojohnson_normmax's bracket and search)."""
    if np.all(z == 0):
        return 1.0
    log1p_max = math.log1p(20 * float(np.max(np.abs(z))))
    tiny, huge = np.finfo(float).tiny, np.finfo(float).max
    lb = (math.log(tiny) - math.log(_EPS)) / 2 / log1p_max
    ub = (math.log(huge) + math.log(_EPS)) / 2 / log1p_max
    if np.all(z < 0):
        lb, ub = 2 - ub, 2 - lb
    elif np.any(z < 0):
        lb, ub = max(2 - ub, lb), min(2 - lb, ub)
    jac = float(np.sum(np.sign(z) * np.log1p(np.abs(z))))
    return float(fminbound(_neg_llf, lb, ub, args=(z, jac), xtol=1.48e-08))


def plateau(v: np.ndarray, ties: int = 2) -> bool:
    """Whether the worst loss is shared by at least `ties` observations: a plateau of failed
    or saturated configurations (failed jobs get the worst loss; a classifier that predicts
    the majority class scores the same accuracy everywhere)."""
    worst = float(v.max())
    return int(np.sum(v >= worst - 1e-12 * max(1.0, abs(worst)))) >= ties


def warp_outputs(v: np.ndarray, plateau_only: bool = False) -> np.ndarray:
    return warp_outputs_and_log_jacobian(v, plateau_only)[0]


def yeojohnson_inverse(w: np.ndarray, lam: float) -> np.ndarray:
    """z with psi(z) = w (psi is increasing; values beyond psi's range are clipped to it,
    and a bad tail that overflows becomes +inf, which callers clip)."""
    out = np.empty_like(w, dtype=float)
    pos = w >= 0
    wp, wn = w[pos], w[~pos]
    with np.errstate(over="ignore"):
        if abs(lam) < _EPS:
            out[pos] = np.expm1(wp)
        else:  # (1 + z)^lam = 1 + lam w; for lam < 0, w < -1/lam
            out[pos] = np.expm1(np.log(np.maximum(1.0 + lam * wp, 1e-300)) / lam)
        if abs(lam - 2) < _EPS:
            out[~pos] = -np.expm1(-wn)
        else:
            g = 2.0 - lam
            out[~pos] = -np.expm1(np.log(np.maximum(1.0 - g * wn, 1e-300)) / g)
    return out


def warp_outputs_and_log_jacobian(v: np.ndarray, plateau_only: bool = False
                                  ) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """Standardise, then, when the losses have a long *bad* tail (positive skew: a diverging
    run among good ones), a Yeo-Johnson power transform with its maximum-likelihood lambda
    (as HEBO, Cowen-Rivers et al. 2022) so that those few values do not dominate the fit.
    A long *good* tail (negative skew) is left alone: compressing it would blur the very
    region the search is after (measured: worse on Hartmann6). With `plateau_only`, only a
    bad tail that ends in a plateau is warped: a step between working and failing
    configurations that a stationary GP cannot fit otherwise (SVM breast cancer: no warp
    costs ~12 points); a smooth spread of bad values is information (how bad a corner is)
    that the warp would flatten (benchmarks/strategy-notes.md, issue 14 third session).
    Also returns log dy/dz per point (z = standardised v, y = the output): 0 without a warp,
    else (lambda - 1) sign(z) log1p|z| - log sd(psi(z)) (psi' as in the module docstring),
    so that densities of y and of z can be compared (strategy.py's LOO warp choice), and
    (lambda, mean psi(z), sd psi(z)) when warped, else None (y -> z: yeojohnson_inverse)."""
    z = standardise(v)
    none = (z, np.zeros_like(z), None)
    if plateau_only and not plateau(v):
        return none
    if v.size < 4 or np.ptp(z) < 1e-12 or float(np.mean(z**3)) <= 0.0:
        return none
    try:
        lam = yeojohnson_lambda(z)
        w = yeojohnson(z, lam)
    except (ValueError, FloatingPointError):
        return none
    sd = float(w.std())
    if not np.all(np.isfinite(w)) or sd <= 1e-12:
        return none
    log_jac = (lam - 1.0) * np.sign(z) * np.log1p(np.abs(z)) - math.log(sd)
    return (w - w.mean()) / sd, log_jac, (lam, float(w.mean()), sd)


# ----- input warping --------------------------------------------------------------------
# Kumaraswamy CDF per numeric unit column (Snoek et al. 2014, "Input Warping for Bayesian
# Optimization of Non-Stationary Functions"; AMT warps its inputs the same way):
#   F(x) = 1 - (1 - x^a)^b,  a, b > 0,  fitted with the GP (theta holds log a, log b).
# Derivatives: dF/dx = a b x^(a-1) (1 - x^a)^(b-1);
#   dF/dlog a = a b (1 - x^a)^(b-1) x^a log x;  dF/dlog b = -b (1 - x^a)^b log(1 - x^a).
# x is clipped to [EDGE, 1 - EDGE] so that log x and x^(a-1) stay finite at the bounds.
EDGE = 1e-6
LOG_AB_VAR = 0.75  # log a, log b ~ N(0, 0.75) (BoTorch's prior on the concentrations)
LOG_AB_BOUNDS = (math.log(0.2), math.log(5.0))


def kumaraswamy(x: np.ndarray, log_a: np.ndarray, log_b: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """F(x), dF/dx, dF/dlog a, dF/dlog b, column by column (x [n, c], log_a / log_b [c])."""
    a, b = np.exp(log_a), np.exp(log_b)
    x = np.clip(x, EDGE, 1.0 - EDGE)
    xa = x**a
    one = np.maximum(1.0 - xa, 1e-300)
    oneb1 = one ** (b - 1.0)
    F = 1.0 - one * oneb1
    dx = a * b * xa / x * oneb1
    da = a * b * oneb1 * xa * np.log(x)
    db = -b * one * oneb1 * np.log(one)
    return F, dx, da, db
