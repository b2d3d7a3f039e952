"""Bound tests: one batch pick in four tries the incumbent with a hyperparameter moved onto a
range bound, when the model finds that hyperparameter nearly irrelevant (issue 14, trap 3;
strategy option `bound_tests`, T = 1.0 by default since the nineteenth session, `inf` turns
it off: strategy-notes.md, seventeenth and nineteenth sessions).

Notation: x* the incumbent (encoded in the unit cube), l_j the GP's fitted length scale of
numeric column j (unit-cube units, so l_j = 1 is the whole range), T the threshold
(strategy option `bound_tests`), N = `NEAR`.

Why. A stationary GP learns a hyperparameter's effect from its whole range. An effect that
lives only at one end ("no dropout", "the most epochs", an optimum exactly on a bound past a
ridge) is seen by few points, so the likelihood prefers a long length scale and explains the
rest as a slow trend. The model then predicts the bound as it predicts x*, with little
variance, and expected improvement never asks for it; random and perturbed candidates land
on a bound with probability 0, and bound snapping (optimize.py) only moves candidates that EI
already ranks high. On the boundary benchmark problem (strategy-notes.md) the fitted length
scales of its two hyperparameters with walls at a bound grow to 1-6 while those walls are
unseen, and what parallel runs lost to Optuna's GP was the late discovery of the walls.
Testing a bound costs one evaluation; a hyperparameter the model finds irrelevant costs little
to move.

Rule. For the numeric columns j with l_j >= T and x*_j not on a bound, longest first, and for
each the bound farther from x*_j first (the nearer one's neighbourhood is closer to what was
observed): the point x* with x_j on that bound, unless a launched point (observed or running)
already lies on that bound with every other numeric coordinate within N of x* and the same
categorical levels. None when every such (column, bound) has been tried near x*.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from orchestrator.strategies.base import Params
from orchestrator.strategies.bayesian.optimize import _occupied
from orchestrator.strategies.space import SearchSpace

NEAR = 0.1  # unit-cube distance per coordinate within which a launched point tests x*'s bound
SLOT = 2  # launch index mod probes.PERIOD of the batch pick a test may take (a leader's slot)


def bound_test(space: SearchSpace, incumbent: np.ndarray, length_scales: np.ndarray,
               launched: Sequence[Params], seen: set[tuple], threshold: float
               ) -> Params | None:
    """The next bound test (module docstring) or None. `length_scales`: l_j per numeric
    column (space.numeric_cols)."""
    cols = space.numeric_cols
    if cols.size == 0:
        return None
    at_lower, at_upper = _occupied(space, incumbent)
    L = space.to_unit_many(list(launched)) if launched else np.empty((0, space.dim))
    cat = np.setdiff1d(np.arange(space.dim), cols)
    for k in np.argsort(-length_scales, kind="stable"):
        if length_scales[k] < threshold or at_lower[k] or at_upper[k]:
            continue
        c, others = cols[k], np.delete(cols, k)
        for end in ((1.0, 0.0) if incumbent[c] < 0.5 else (0.0, 1.0)):
            x = incumbent.copy()
            x[c] = end
            x = space.project(x[None, :])[0]  # an integer's bound is its end cell's centre
            tried = (np.abs(L[:, c] - x[c]) < 1e-9) \
                & np.all(np.abs(L[:, others] - x[others]) <= NEAR, axis=1) \
                & np.all(L[:, cat] == x[cat], axis=1)
            config = space.from_unit(x)
            if not tried.any() and space.key(config) not in seen:
                return config
    return None
