"""Choosing the output warp per history by leave-one-out (LOO) cross-validation.

Notation: n observations of this task, z [n] their standardised losses, y [n] the GP's
targets (z itself, or the Yeo-Johnson warp of z, warp.py), log J_i = log dy_i/dz_i.
For a GP fitted to y, GPML 5.10-5.12 give each observation's LOO predictive mean mu_-i and
log density log p(y_i | y_-i) in closed form (gp.Posterior.loo_log_density / loo_mean).
Criteria (higher is better), compared between the warped and the plain GP:
- "density": sum_i log p(y_i | y_-i) + log J_i, the LOO log density of z (the Jacobian puts
  both GPs on z's scale); GPML 5.4.2's LOO pseudo-likelihood.
- "density_best": the same over the best quarter of the observations only.
- "rank": Spearman's rank correlation between mu_-i and z_i. The warp is monotone, so both
  GPs are judged on the same ranks, and only the order of configurations matters to a
  minimiser; unlike the density it does not reward the warp for stretching the good end of
  the scale (measured: the density prefers the warp on every problem, strategy-notes.md).
"""

from __future__ import annotations

import numpy as np

CRITERIA = ("density", "density_best", "rank")


def average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of a, ties sharing their mean rank."""
    order = np.argsort(a, kind="stable")
    s = a[order]
    ranks = np.empty(a.size)
    start = 0
    for end in np.r_[np.flatnonzero(np.diff(s) != 0) + 1, a.size]:
        ranks[order[start:end]] = 0.5 * (start + end - 1)
        start = end
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho (Pearson correlation of average ranks); 0 when either is constant."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum()) / den if den > 0 else 0.0


def loo_score(criterion: str, log_density: np.ndarray, mean: np.ndarray,
              log_jac: np.ndarray, z: np.ndarray) -> float:
    """The criterion's value for one GP, over this task's n observations (arrays [n])."""
    if criterion == "rank":
        return spearman(mean, z)
    lp = log_density + log_jac
    if criterion == "density_best":
        lp = lp[np.argsort(z, kind="stable")[: max(3, z.size // 4)]]
    return float(lp.sum())
