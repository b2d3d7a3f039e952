"""Maximise the acquisition over legal configurations: many cheap candidates, then L-BFGS-B.

Candidates (encoded, already legal): uniform draws in the box (respecting each scale), plus
Gaussian perturbations of the best observed points at several radii (categoricals resampled
with small probability), plus (issue 14):
- per-level candidates: the best observed points with each level of each categorical (and
  of each integer with few values) put in, so every level is scored near the incumbents;
- bound-snapped candidates: the best candidates with each numeric coordinate near a bound
  moved exactly onto it (a random or perturbed draw lands on a bound with probability 0, and
  optima on a range's bound are common: "more epochs is better"); with snap=3 (the default)
  not onto a bound the incumbent already sits on: that bound has been tried, and snapping to
  it again holds the search there when the optimum is near it but inside.
Small discrete spaces are scored exhaustively instead. The best few candidates, the best
candidate of each of the best categorical combinations and of each categorical level, are
refined jointly by L-BFGS-B over the numeric coordinates (integers relaxed, categoricals held),
snapped back to legal points, and rescored; the best configuration not seen before wins.
`fixed` = (parameter, level) restricts the search to one level (the exploration floor).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

from orchestrator.strategies.base import Params
from orchestrator.strategies.bayesian.acquisition import Ensemble, log_ei, log_ei_with_grad
from orchestrator.strategies.bayesian.gp import Posterior
from orchestrator.strategies.space import SearchSpace

EXHAUSTIVE_LIMIT = 4096
N_RANDOM = 1000
N_LOCAL_CENTERS = 5
N_PER_CENTER = 60
N_REFINE = 3
RADII = (0.01, 0.05, 0.2)
N_COMBOS = 8
N_SNAP_TOP = 10  # best candidates whose near-bound coordinates are snapped
SNAP_WITHIN = 0.25  # a coordinate this close (unit scale) to a bound is snapped onto it
N_LEVEL_CENTERS = 3  # best observed points copied into every level

Penalty = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # X -> log value, gradient


def _score(post: Posterior | Ensemble, best: np.ndarray, X: np.ndarray,
           penalty: Penalty | None) -> np.ndarray:
    val = post.log_ei(X) if isinstance(post, Ensemble) else log_ei(*post.predict(X), best)
    return val if penalty is None else val + penalty(X)[0]


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


def _level_candidates(space: SearchSpace, centers: np.ndarray, rng: np.random.Generator,
                      ranked: np.ndarray | None = None) -> np.ndarray:
    """The best observed points, as they are and slightly perturbed, with each level of each
    few-level parameter put in; and perturbations of the best observed point of each
    categorical level with that level held (`ranked`: observed points, best first), so a
    level whose good region was glimpsed once is searched there, not only at its corners."""
    if centers.shape[0] == 0:
        return np.empty((0, space.dim))
    base = np.vstack([centers, _local_candidates(space, centers, rng, 2)])
    out = [space.set_level(base, j, level) for j in space.level_params()
           for level in range(space.n_levels(j))]
    if ranked is not None and ranked.shape[0]:
        for j in space.level_params(max_levels=0):
            lv = space.level_of(ranked, j)
            for level in range(space.n_levels(j)):
                hit = np.flatnonzero(lv == level)
                if hit.size:
                    around = _local_candidates(space, ranked[hit[:1]], rng, N_PER_CENTER // 2)
                    out.append(space.set_level(around, j, level))
    return np.vstack(out) if out else np.empty((0, space.dim))


def _snapped(space: SearchSpace, X: np.ndarray, joint: bool = True,
             occupied: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Copies of X with, in turn, each near-bound numeric coordinate moved onto its bound,
    and (`joint`) one copy with all of them moved at once. (Moving every coordinate onto both bounds
    measured worse on the boundary problem: benchmarks/strategy-notes.md.) `occupied` =
    (at lower, at upper) per numeric column: bounds the incumbent already sits on, which are
    not snapped to (bound_snap=3)."""
    cols = space.numeric_cols
    if cols.size == 0 or X.shape[0] == 0:
        return np.empty((0, space.dim))
    out = []
    V = X[:, cols]
    near = (V < SNAP_WITHIN) | (V > 1.0 - SNAP_WITHIN)
    target = np.where(V < 0.5, 0.0, 1.0)
    if occupied is not None:
        near &= ~np.where(V < 0.5, occupied[0][None, :], occupied[1][None, :])
    for k, c in enumerate(cols):
        rows = near[:, k]
        if rows.any():
            Y = X[rows].copy()
            Y[:, c] = target[rows, k]
            out.append(Y)
    rows = near.any(axis=1) & joint
    if rows.any():
        Y = X[rows].copy()
        Y[:, cols] = np.where(near[rows], target[rows], V[rows])
        out.append(Y)
    return space.project(np.vstack(out)) if out else np.empty((0, space.dim))


def _occupied(space: SearchSpace, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per numeric column of x (an encoded point): is it on its lower / upper bound? (An
    integer on its bound is encoded at its cell's centre, so compare with the projection.)"""
    cols = space.numeric_cols
    ends = np.repeat(x[None, :], 2, axis=0)
    ends[0, cols], ends[1, cols] = 0.0, 1.0
    ends = space.project(ends)
    return (np.abs(x[cols] - ends[0, cols]) < 1e-12, np.abs(x[cols] - ends[1, cols]) < 1e-12)


def _refine(space: SearchSpace, post: Posterior | Ensemble, best: np.ndarray,
            starts: np.ndarray, penalty: Penalty | None = None) -> np.ndarray:
    """L-BFGS-B on the numeric columns of all starts at once (the objective is a sum over
    starts, so the problems stay independent); categoricals are held fixed."""
    cols = space.numeric_cols
    if cols.size == 0 or starts.shape[0] == 0:
        return starts
    m = starts.shape[0]
    X = starts.copy()

    def f(z: np.ndarray) -> tuple[float, np.ndarray]:
        X[:, cols] = z.reshape(m, cols.size)
        if isinstance(post, Ensemble):
            val, grad = post.log_ei_with_grad(X)
        else:
            val, grad = log_ei_with_grad(*post.predict_with_grad(X), best)
        if penalty is not None:
            pv, pg = penalty(X)
            val, grad = val + pv, grad + pg
        return -float(val.sum()), -grad[:, cols].ravel()

    try:
        res = minimize(f, starts[:, cols].ravel(), jac=True, method="L-BFGS-B",
                       bounds=[(0.0, 1.0)] * (m * cols.size), options={"maxiter": 60})
        X[:, cols] = np.clip(res.x, 0.0, 1.0).reshape(m, cols.size)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        return starts
    return space.project(X)


def _starts(space: SearchSpace, C: np.ndarray, scores: np.ndarray,
            per_level: bool = True) -> np.ndarray:
    """Indices of the refinement starts: the N_REFINE best candidates, plus the best one of
    each of the N_COMBOS best categorical combinations (and, with `per_level`, of each level
    of each categorical). The numeric optimum often moves with a categorical (Adam wants
    another learning rate than SGD): a switch only looks good once its numeric values are
    re-optimised, which random flips of the best points never do."""
    order = np.argsort(-scores)
    chosen = list(order[:N_REFINE])
    if per_level:
        for j in space.level_params(max_levels=0):  # categoricals only
            lv = space.level_of(C[order], j)
            for level in range(space.n_levels(j)):
                hit = np.flatnonzero(lv == level)
                if hit.size:
                    chosen.append(order[hit[0]])
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


def maximize_acquisition(space: SearchSpace, post: Posterior | Ensemble, best: np.ndarray,
                         rng: np.random.Generator, seen: set[tuple],
                         centers: np.ndarray, exhaustive: list[Params] | None = None,
                         *, per_level: bool = True, snap: int = 1,
                         fixed: tuple[int, int] | None = None,
                         penalty: Penalty | None = None) -> Params | None:
    """The unseen legal configuration with the highest log-EI found, or None."""
    if exhaustive is not None:
        free = [c for c in exhaustive if space.key(c) not in seen]
        if fixed is not None:
            j, level = fixed
            X = space.to_unit_many(free) if free else np.empty((0, space.dim))
            free = [c for c, lv in zip(free, space.level_of(X, j), strict=True) if lv == level]
        if not free:
            return None
        scores = _score(post, best, space.to_unit_many(free), penalty)
        return free[int(np.argmax(scores))]
    parts = [space.box_to_unit(rng.random((N_RANDOM, len(space.names)))),
             _local_candidates(space, centers[:N_LOCAL_CENTERS], rng, N_PER_CENTER)]
    if per_level:
        parts.append(_level_candidates(space, centers[:N_LEVEL_CENTERS], rng, centers))
    C = np.vstack(parts)
    if fixed is not None:
        C = space.set_level(C, *fixed)
    scores = _score(post, best, C, penalty)
    occupied = None
    if snap == 3 and centers.shape[0]:
        occupied = _occupied(space, centers[0])
    if snap:
        S = _snapped(space, C[np.argsort(-scores)[:N_SNAP_TOP]], snap != 2, occupied)
        C = np.vstack([C, S])
        scores = np.r_[scores, _score(post, best, S, penalty)]
    R = _refine(space, post, best, C[_starts(space, C, scores, per_level)], penalty)
    if snap:
        R = np.vstack([R, _snapped(space, R, snap != 2, occupied)])
    C = np.vstack([C, R])
    scores = np.r_[scores, _score(post, best, R, penalty)]
    for i in np.argsort(-scores):
        config = space.from_unit(C[i])
        if space.key(config) not in seen:
            return config
    return None
