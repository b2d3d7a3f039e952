"""Bayesian optimisation: GP surrogate + log-EI, asynchronous (pending-aware), warm-startable.

One `suggest` call, from scratch (the strategy keeps no state between calls):
1. Model data (`build_data`): every observation with its objective turned into a loss
   (sign flipped when maximising). Failed jobs (None / non-finite) get the worst loss of their
   task, so the model learns to avoid regions that fail. Tasks: "self" and warm-start "parent"
   (IdenticalDataAndAlgorithm) share one task; "transfer" (TransferLearning) is a related task
   whose values are standardised on their own (removing its offset and scale) and which gets
   an extra input column (0 = this task, 1 = transfer) so the GP learns how related the tasks
   are through that column's length scale. Each task's losses are standardised, then
   power-transformed when a long bad tail would dominate (warp.py; `warp_outputs=1`).
   Measured and off (issue 14, third session): `warp_outputs=0` (never) and 2 (only a bad
   tail that ends in a plateau, its worst value shared by two or more observations): they
   fix the mixed and boundary traps (corners stay informative) but cost sgd_digits ~20
   points (benchmarks/strategy-notes.md).
   Above `max_points` observations the GP keeps the best third, the most recent third and a
   seeded random third (bounded memory and time for 10,000 observations).
2. Initial design: until `n_init` observations (warm-start ones included) have a value,
   configurations are random (as AMT, Syne Tune and Optuna do), the i-th launched one drawn
   from (seed, i) and deduplicated; n_init = min(max(3, #hyperparameters + 1), 10). With 4
   parallel slots the first call already launches 4. `init="sobol"` takes a scrambled Sobol
   sequence instead; on fresh seeds (100-109) it measured the same as random.
3. Fit theta (MAP, multi-start L-BFGS-B, gp.py), with one length scale per hyperparameter:
   the one-hot columns of a categorical share theirs (measured on the mixed benchmark
   problem: median best after 50 evaluations 0.004 tied vs 0.116 with a length scale per
   column, which learnt "this category is irrelevant" from a handful of points).
   Measured and off by default (benchmarks/strategy-notes.md): `level_kernel` (a numeric
   term of its own per categorical level, gp.Levels) and `input_warp` (Kumaraswamy CDF per
   numeric column, warp.py).
4. Pending jobs and earlier picks of the same call are handled by fantasies: F joint draws of
   their outcomes from the posterior; the acquisition is log of the mean EI over fantasies
   (Snoek et al. 2012). "kb" (kriging believer: one fantasy equal to the posterior mean) is
   the cheaper alternative, chosen with `pending_mode`; "lp" / "fantasy+lp" add local
   penalisation (acquisition.LocalPenalty), which measured worse (strategy-notes.md).
5. Maximise log-EI (optimize.py) over unseen configurations, with bound-snapped and
   per-level candidates (`bound_snap`, `per_level`; issue 14). With `floor` > 0 a categorical
   level launched less than `floor` / k of the time gets the next suggestion (off by
   default: it never bound on the benchmark). On any numerical failure, or when nothing
   unseen is found, fall back to seeded random sampling (never raise).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from orchestrator.strategies._common import derive_rng, launched_count, sample_unseen, seen_keys
from orchestrator.strategies.base import Observation, Params, RunningJob
from orchestrator.strategies.bayesian.acquisition import LocalPenalty
from orchestrator.strategies.bayesian.gp import Levels, Posterior, fit_hyperparameters
from orchestrator.strategies.bayesian.optimize import EXHAUSTIVE_LIMIT, maximize_acquisition
from orchestrator.strategies.bayesian.warp import standardise, warp_outputs
from orchestrator.strategies.objective import loss
from orchestrator.strategies.space import SearchSpace

log = logging.getLogger(__name__)
# NOTE: GP matrices here are small (n <= a few hundred): multi-threaded BLAS only adds
# contention (measured 10x slower per likelihood evaluation on 2 busy cores), so suggestions
# run single-threaded.
_BLAS = ThreadpoolController()


@dataclass
class ModelData:
    X: np.ndarray  # [n, dim (+1 task column when transfer data is present)]
    y: np.ndarray  # [n] standardised losses
    n_task_cols: int  # 0 or 1
    n_self: int  # the first n_self rows are this task's (self + parent)


def _task_losses(space: SearchSpace, obs: list[Observation], maximize: bool,
                 warp: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    vals = np.array([math.nan if o.value is None else float(o.value) for o in obs])
    vals = np.where(np.isfinite(vals), vals, math.nan)
    losses = loss(vals, maximize)
    ok = np.isfinite(losses)
    if not ok.any():
        return None
    losses[~ok] = losses[ok].max()  # failed jobs: as bad as the worst seen
    y = warp_outputs(losses, plateau_only=warp == 2) if warp else standardise(losses)
    return space.to_unit_many([o.params for o in obs]), y


def _cap(obs: list[Observation], maximize: bool, max_points: int,
         rng: np.random.Generator) -> list[Observation]:
    if len(obs) <= max_points:
        return obs
    losses = [loss(o.value, maximize) if o.value is not None and math.isfinite(o.value)
              else math.inf for o in obs]
    third = max_points // 3
    keep = set(np.argsort(losses, kind="stable")[:third].tolist())
    keep |= set(range(len(obs) - third, len(obs)))  # history order = recency
    rest = [i for i in range(len(obs)) if i not in keep]
    keep |= set(rng.choice(rest, size=max_points - len(keep), replace=False).tolist())
    return [obs[i] for i in sorted(keep)]


def build_data(space: SearchSpace, history: Sequence[Observation], maximize: bool,
               max_points: int, rng: np.random.Generator, warp: int = 0
               ) -> ModelData | None:
    same = [o for o in history if o.source != "transfer"]
    transfer = [o for o in history if o.source == "transfer"]
    same = _cap(same, maximize, max_points, rng)
    transfer = _cap(transfer, maximize, max(0, max_points - len(same)), rng) if transfer else []
    own = _task_losses(space, same, maximize, warp)
    parts = [(own, 0.0)] if own is not None else []
    if transfer:
        t = _task_losses(space, transfer, maximize, warp)
        if t is not None:
            parts.append((t, 1.0))
    if not parts:
        return None
    n_task = 1 if any(task == 1.0 for _, task in parts) else 0
    Xs, ys = [], []
    for (X, y), task in parts:
        Xs.append(np.hstack([X, np.full((X.shape[0], n_task), task)]))
        ys.append(y)
    n_self = own[1].size if own is not None else 0
    return ModelData(np.vstack(Xs), np.concatenate(ys), n_task, n_self)


class _Padded(Posterior):
    """A posterior over [encoding, task column]; queries are on this task (column = 0)."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, theta: np.ndarray, n_pad: int,
                 levels: Levels | None = None, warp_cols: np.ndarray | None = None) -> None:
        super().__init__(X, Y, theta, levels, warp_cols)
        self.n_pad = n_pad

    def _pad(self, Xq: np.ndarray) -> np.ndarray:
        return np.hstack([Xq, np.zeros((Xq.shape[0], self.n_pad))]) if self.n_pad else Xq

    def predict(self, Xq):  # type: ignore[no-untyped-def]
        return super().predict(self._pad(Xq))

    def predict_with_grad(self, Xq):  # type: ignore[no-untyped-def]
        m, v, dm, dv = super().predict_with_grad(self._pad(Xq))
        if self.n_pad:
            dm, dv = dm[..., : -self.n_pad], dv[..., : -self.n_pad]
        return m, v, dm, dv

    def joint(self, Xq):  # type: ignore[no-untyped-def]
        return super().joint(self._pad(Xq))


class BayesianStrategy:
    def __init__(self, space: SearchSpace, *, maximize: bool, seed: int | None,
                 n_init: int | None = None, pending_mode: str = "fantasy",
                 n_fantasies: int = 16, max_points: int = 300, fit_points: int = 90,
                 n_restarts: int = 2, warp_outputs: int = 1,
                 init: str = "random", tie_categorical: bool = True,
                 xi: float = 0.0, per_level: int = 1, bound_snap: int = 1,
                 floor: float = 0.0, lp_scale: float = 1.0, level_kernel: int = 0,
                 input_warp: int = 0) -> None:
        self.space = space
        self.maximize = maximize
        self.seed = seed
        self.n_init = n_init if n_init is not None else min(max(3, len(space.names) + 1), 10)
        self.pending_mode = pending_mode
        self.n_fantasies = n_fantasies
        self.max_points = max_points
        self.fit_points = fit_points
        self.n_restarts = n_restarts
        self.warp_outputs = warp_outputs
        self.init = init
        self.tie_categorical = tie_categorical
        self.xi = xi
        self.per_level = bool(per_level)
        self.bound_snap = int(bound_snap)
        self.floor = floor
        self.lp_scale = lp_scale
        n_cat = int(space.categorical_mask().sum())
        cat_cols = np.setdiff1d(np.arange(space.dim), space.numeric_cols)
        self.levels = Levels(cat_cols, n_cat) if level_kernel and n_cat else None
        self.warp_cols = space.numeric_cols if input_warp and space.numeric_cols.size else None
        size = space.size()
        self._exhaustive = space.enumerate() if size is not None and size <= EXHAUSTIVE_LIMIT \
            else None

    # ----- Strategy protocol -------------------------------------------------------------
    def suggest(self, history: Sequence[Observation], pending: Sequence[Params],
                n: int) -> list[Params]:
        if n <= 0:
            return []
        with _BLAS.limit(limits=1, user_api="blas"):
            return self._suggest(history, pending, n)

    def _suggest(self, history: Sequence[Observation], pending: Sequence[Params],
                 n: int) -> list[Params]:
        rng = derive_rng(self.seed, "bayes", len(history), len(pending))
        seen = seen_keys(self.space, history, pending)
        n_valued = sum(1 for o in history if o.value is not None and math.isfinite(o.value))
        if n_valued < self.n_init:
            return self._initial(history, pending, n, seen, rng)
        try:
            return self._model_based(history, pending, n, seen, rng)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            log.warning("Bayesian model failed (%s); sampling at random instead", exc)
            return sample_unseen(self.space, rng, n, seen)

    def should_stop(self, job: RunningJob, history: Sequence[Observation],
                    running: Sequence[RunningJob]) -> bool:
        return False

    # ----- internals ------------------------------------------------------------------
    def _initial(self, history: Sequence[Observation], pending: Sequence[Params], n: int,
                 seen: set[tuple], rng: np.random.Generator) -> list[Params]:
        start = launched_count(history, pending)
        if self.init == "random":
            out = []
            for i in range(n):
                got = sample_unseen(self.space, derive_rng(self.seed, "init", start + i), 1, seen)
                seen.update(self.space.key(g) for g in got)
                out += got
            return out
        from scipy.stats import qmc  # importing scipy.stats costs ~1 s: only when needed

        sobol = qmc.Sobol(len(self.space.names), scramble=True,
                          seed=derive_rng(self.seed, "init"))
        B = sobol.random(2 ** max(4, math.ceil(math.log2(start + n + 1))))[start:start + n]
        out: list[Params] = []
        for config in (self.space.from_unit(x) for x in self.space.box_to_unit(B)):
            k = self.space.key(config)
            if k not in seen:
                seen.add(k)
                out.append(config)
        return out + sample_unseen(self.space, rng, n - len(out), seen)

    def _model_based(self, history: Sequence[Observation], pending: Sequence[Params], n: int,
                     seen: set[tuple], rng: np.random.Generator) -> list[Params]:
        data = build_data(self.space, history, self.maximize, self.max_points, rng,
                          self.warp_outputs)
        if data is None:
            return sample_unseen(self.space, rng, n, seen)
        theta = self._fit(data, rng)
        base = _Padded(data.X, data.y, theta, data.n_task_cols, self.levels, self.warp_cols)
        # all observed points, best first: the first N_LOCAL_CENTERS are perturbed, and the
        # best of each categorical level is searched around with its level held (per_level)
        order = np.argsort(data.y[: data.n_self])
        centers = data.X[order, : self.space.dim]
        P = [self.space.to_unit(p) for p in pending]
        out: list[Params] = []
        launched = [o.params for o in history if o.source == "self"] + list(pending)
        lipschitz = None
        for _ in range(n):
            post, best = self._with_pending(base, data, theta, np.array(P), rng)
            penalty = None
            if self.pending_mode.endswith("lp") and P:
                if lipschitz is None:
                    lipschitz = self._lipschitz(base, data, rng)
                penalty = self._penalty(base, data, np.array(P), lipschitz)
            config = maximize_acquisition(
                self.space, post, best - self.xi, rng, seen, centers, self._exhaustive,
                per_level=self.per_level, snap=self.bound_snap,
                fixed=self._under_floor(launched), penalty=penalty)
            if config is None:
                config = next(iter(sample_unseen(self.space, rng, 1, seen)), None)
                if config is None:
                    break
            seen.add(self.space.key(config))
            P.append(self.space.to_unit(config))
            out.append(config)
            launched.append(config)
        return out

    def _lipschitz(self, base: _Padded, data: ModelData, rng: np.random.Generator) -> float:
        """L of local penalisation: the largest norm of the posterior mean's gradient over
        the data and 500 random points (González et al. 2016, section 3.2)."""
        X = np.vstack([data.X[: data.n_self, : self.space.dim],
                       self.space.box_to_unit(rng.random((500, len(self.space.names))))])
        _, _, dmean, _ = base.predict_with_grad(X)
        return self.lp_scale * float(np.sqrt((dmean[:, 0, :] ** 2).sum(-1)).max())

    def _penalty(self, base: _Padded, data: ModelData, P: np.ndarray,
                 lipschitz: float) -> LocalPenalty:
        own = data.y[: data.n_self] if data.n_self else data.y
        mean, var = base.predict(P)
        return LocalPenalty(P, mean[:, 0], np.sqrt(var + base.sn2), float(own.min()),
                            lipschitz)

    def _under_floor(self, launched: list[Params]) -> tuple[int, int] | None:
        """(parameter, level) of the categorical level furthest below its floor share
        (`floor` / k of the launched configurations, k levels), or None. Forcing the next
        suggestion into that level (at its best acquisition value there) keeps a level that
        looked average early from being starved (issue 14 trap 2)."""
        if self.floor <= 0 or not launched:
            return None
        X = self.space.to_unit_many(launched)
        worst, deficit = None, 0.0
        for j in self.space.level_params(max_levels=0):
            k = self.space.n_levels(j)
            counts = np.bincount(self.space.level_of(X, j), minlength=k)
            need = self.floor * len(launched) / k - counts
            if need.max() >= 1.0 and need.max() > deficit:
                worst, deficit = (j, int(np.argmax(need))), float(need.max())
        return worst

    def _fit(self, data: ModelData, rng: np.random.Generator) -> np.ndarray:
        """MAP theta, on a seeded random subset of at most `fit_points` rows (the likelihood
        costs O(n^3) per evaluation; theta is well determined long before that). 90 rows, one
        start: 41-47 ms CPU per suggestion at 100 observations (10 dims) against 56 ms with
        150 rows (issue 14); the benchmark's 50-evaluation runs never reach the cap."""
        n = data.X.shape[0]
        idx = np.arange(n)
        if n > self.fit_points:
            idx = np.sort(rng.choice(n, size=self.fit_points, replace=False))
        # restarts are cheap while n is small; beyond ~100 points the posterior of theta is
        # sharp and one start from the prior mode suffices (keeps a suggestion under 50 ms)
        if idx.size < 50:
            restarts = self.n_restarts
        else:
            restarts = min(self.n_restarts, 1) if idx.size < 90 else 0
        groups = None
        if self.tie_categorical:
            groups = self.space.column_groups()
            if data.n_task_cols:
                groups = np.r_[groups, groups.max() + 1]
        return fit_hyperparameters(data.X[idx], data.y[idx], rng, n_restarts=restarts,
                                   groups=groups, levels=self.levels,
                                   warp_cols=self.warp_cols)

    def _with_pending(self, base: _Padded, data: ModelData, theta: np.ndarray,
                      P: np.ndarray, rng: np.random.Generator) -> tuple[_Padded, np.ndarray]:
        """Posterior conditioned on fantasised outcomes of the pending points P, and the
        incumbent of each fantasy."""
        own = data.y[: data.n_self] if data.n_self else data.y
        if P.shape[0] == 0 or self.pending_mode in ("none", "lp"):
            return base, np.array([own.min()])
        mean, cov = base.joint(P)
        mean = mean[:, 0]
        if self.pending_mode.startswith("kb"):
            fant = mean[:, None]
        else:
            noise = (base.sn2 + 1e-9) * np.eye(P.shape[0])
            chol = np.linalg.cholesky(cov + noise)
            fant = mean[:, None] + chol @ rng.standard_normal((P.shape[0], self.n_fantasies))
        Xp = np.hstack([P, np.zeros((P.shape[0], data.n_task_cols))])
        X = np.vstack([data.X, Xp])
        Y = np.vstack([np.repeat(data.y[:, None], fant.shape[1], axis=1), fant])
        best = np.minimum(own.min(), fant.min(axis=0))
        return _Padded(X, Y, theta, data.n_task_cols, self.levels, self.warp_cols), best
