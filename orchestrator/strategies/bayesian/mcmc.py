"""Slice sampling of the GP hyperparameters, to marginalise them in the acquisition (issue 14;
Snoek et al. 2012, "Practical Bayesian Optimization of Machine Learning Algorithms", sec. 3.2,
and AMT: Perrone et al. 2020, "Amazon SageMaker Automatic Model Tuning", use slice sampling).

Notation: t the (grouped) theta of `gp.ThetaObjective`, l(t) = -U(t) its log posterior (U the
objective), -inf outside the box [lo, hi]. One sweep updates every coordinate i, in a random
order, by univariate slice sampling with stepping out and shrinkage (Neal 2003, "Slice
sampling", Ann. Statist. 31(3), figs. 3 and 5):
  u = l(t) - E, E ~ Exp(1)                       (the slice's level, in log space)
  [a, b] of width w placed uniformly around t_i, each end stepped out by w while l > u
  (`max_steps` - 1 steps split at random between the ends; never beyond the box);
  t_i' ~ U[a, b], accepted if l(t with t_i') > u, else [a, b] shrinks to t_i' on its side.
The chain starts at the MAP estimate, so a short burn-in suffices.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from orchestrator.strategies.bayesian.gp import ThetaObjective

LogDensity = Callable[[np.ndarray], float]


def slice_sweep(logp: LogDensity, t: np.ndarray, lp: float, lo: np.ndarray, hi: np.ndarray,
                rng: np.random.Generator, width: float = 1.0, max_steps: int = 6
                ) -> tuple[np.ndarray, float]:
    """One sweep over all coordinates; returns the new point and its log density."""
    t = t.copy()
    for i in rng.permutation(t.size):
        level = lp - rng.exponential()
        x0 = t[i]
        a = x0 - width * rng.random()
        b = a + width
        left = int(max_steps * rng.random())  # Neal's J and K: a random split of the steps
        for _ in range(left):                 # keeps the move reversible
            if a <= lo[i]:
                break
            t[i] = a
            if logp(t) <= level:
                break
            a -= width
        for _ in range(max_steps - 1 - left):
            if b >= hi[i]:
                break
            t[i] = b
            if logp(t) <= level:
                break
            b += width
        a, b = max(a, lo[i]), min(b, hi[i])
        while True:
            t[i] = a + (b - a) * rng.random()
            new = logp(t)
            if new > level:
                lp = new
                break
            if t[i] < x0:
                a = t[i]
            else:
                b = t[i]
            if b - a < 1e-10:  # numerically collapsed onto x0 (l(x0) > level always)
                t[i] = x0
                break
    return t, lp


def sample_thetas(obj: ThetaObjective, theta: np.ndarray, rng: np.random.Generator,
                  n_samples: int, burn: int = 4, thin: int = 2) -> list[np.ndarray]:
    """`n_samples` thetas (one length scale per column, as `theta` and Posterior take them)
    from the posterior of `obj`, by a chain started at `theta` (the MAP estimate): `burn`
    sweeps, then one sample every `thin` sweeps."""
    def logp(t: np.ndarray) -> float:
        if np.any(t < obj.lo) or np.any(t > obj.hi):
            return -math.inf
        val = obj(t)[0]
        return -val if val < 1e24 else -math.inf  # 1e25: the Cholesky factor failed

    t = np.clip(obj.compress(theta), obj.lo, obj.hi)
    lp = logp(t)
    if not math.isfinite(lp):
        return [theta]
    out = []
    for sweep in range(burn + n_samples * thin):
        t, lp = slice_sweep(logp, t, lp, obj.lo, obj.hi, rng)
        if sweep >= burn and (sweep - burn) % thin == thin - 1:
            out.append(obj.expand(t))
    return out
