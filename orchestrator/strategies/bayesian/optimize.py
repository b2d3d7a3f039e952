"""Maximise the acquisition over legal configurations: many cheap candidates, then L-BFGS-B.

Candidates (encoded, already legal): uniform draws in the box (respecting each scale), plus
Gaussian perturbations of the best observed points at several radii (categoricals resampled
with small probability). Small discrete spaces are scored exhaustively instead. The best few
candidates, and the best candidate of each of the best categorical combinations, are refined
jointly by L-BFGS-B over the numeric coordinates (integers relaxed, categoricals held),
snapped back to legal points, and rescored; the best configuration not seen before wins.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

from orchestrator.strategies.base import Params
from orchestrator.strategies.bayesian.acquisition import log_ei, log_ei_with_grad
from orchestrator.strategies.bayesian.gp import Posterior
from orchestrator.strategies.space import SearchSpace

EXHAUSTIVE_LIMIT = 4096
N_RANDOM = 1000
N_LOCAL_CENTERS = 5
N_PER_CENTER = 60
N_REFINE = 3
RADII = (0.01, 0.05, 0.2)
N_COMBOS = 8

AcqFn = Callable[[np.ndarray], np.ndarray]


def _local_candidates(space: SearchSpace, centers: np.ndarray, rng: np.random.Generator,
                      per_center: int) -> np.ndarray:
    if centers.shape[0] == 0:
        return np.empty((0, space.dim))
    B = np.repeat(space.unit_to_box(centers), per_center, axis=0)
    radius = rng.choice(RADII, size=(B.shape[0], 1))
    B = B + radius * rng.standard_normal(B.shape)
    cat = space.categorical_mask()
    if cat.any():
        flip = (rng.random(B.shape) < 1.0 / max(2, len(space.names))) & cat[None, :]
        B[flip] = rng.random(int(flip.sum()))
    # reflect at the walls: clipping would put a lump of candidates exactly on the boundary,
    # where the posterior variance (and so EI) is inflated, and drag the search to the walls
    B = np.abs(B)
    B = 1.0 - np.abs(1.0 - np.mod(B, 2.0))
    return space.box_to_unit(B)


def _refine(space: SearchSpace, post: Posterior, best: np.ndarray,
            starts: np.ndarray) -> np.ndarray:
    """L-BFGS-B on the numeric columns of all starts at once (the objective is a sum over
    starts, so the problems stay independent); categoricals are held fixed."""
    cols = space.numeric_cols
    if cols.size == 0 or starts.shape[0] == 0:
        return starts
    m = starts.shape[0]
    X = starts.copy()

    def f(z: np.ndarray) -> tuple[float, np.ndarray]:
        X[:, cols] = z.reshape(m, cols.size)
        val, grad = log_ei_with_grad(*post.predict_with_grad(X), best)
        return -float(val.sum()), -grad[:, cols].ravel()

    try:
        res = minimize(f, starts[:, cols].ravel(), jac=True, method="L-BFGS-B",
                       bounds=[(0.0, 1.0)] * (m * cols.size), options={"maxiter": 60})
        X[:, cols] = np.clip(res.x, 0.0, 1.0).reshape(m, cols.size)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        return starts
    return space.project(X)


def _starts(space: SearchSpace, C: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices of the refinement starts: the N_REFINE best candidates, plus the best one of
    each of the N_COMBOS best categorical combinations. The numeric optimum often moves with
    a categorical (Adam wants another learning rate than SGD): a switch only looks good once
    its numeric values are re-optimised, which random flips of the best points never do."""
    order = np.argsort(-scores)
    chosen = list(order[:N_REFINE])
    cat_cols = np.setdiff1d(np.arange(space.dim), space.numeric_cols)
    if cat_cols.size and N_COMBOS:
        seen_combos: set[bytes] = set()
        for i in order:
            combo = C[i, cat_cols].tobytes()
            if combo not in seen_combos:
                seen_combos.add(combo)
                chosen.append(i)
                if len(seen_combos) >= N_COMBOS:
                    break
    return np.array(sorted(set(chosen)))


def maximize_acquisition(space: SearchSpace, post: Posterior, best: np.ndarray,
                         rng: np.random.Generator, seen: set[tuple],
                         centers: np.ndarray, exhaustive: list[Params] | None = None
                         ) -> Params | None:
    """The unseen legal configuration with the highest log-EI found, or None."""
    if exhaustive is not None:
        free = [c for c in exhaustive if space.key(c) not in seen]
        if not free:
            return None
        scores = log_ei(*post.predict(space.to_unit_many(free)), best)
        return free[int(np.argmax(scores))]
    C = np.vstack([
        space.box_to_unit(rng.random((N_RANDOM, len(space.names)))),
        _local_candidates(space, centers[:N_LOCAL_CENTERS], rng, N_PER_CENTER),
    ])
    scores = log_ei(*post.predict(C), best)
    R = _refine(space, post, best, C[_starts(space, C, scores)])
    C = np.vstack([C, R])
    scores = np.r_[scores, log_ei(*post.predict(R), best)]
    for i in np.argsort(-scores):
        config = space.from_unit(C[i])
        if space.key(config) not in seen:
            return config
    return None
