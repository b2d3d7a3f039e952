"""Model data of the Bayesian strategy: observations -> unit-cube inputs and standardised
(optionally warped) losses, per task; see strategy.py's docstring, step 1."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from orchestrator.strategies.base import Observation
from orchestrator.strategies.bayesian.warp import standardise, warp_outputs_and_log_jacobian
from orchestrator.strategies.objective import loss
from orchestrator.strategies.space import SearchSpace


@dataclass
class ModelData:
    X: np.ndarray  # [n, dim (+1 task column when transfer data is present)]
    y: np.ndarray  # [n] standardised losses
    n_task_cols: int  # 0 or 1
    n_self: int  # the first n_self rows are this task's (self + parent)
    log_jac: np.ndarray | None = None  # [n] log dy/dz of the output warp (warp.py)
    warp: tuple | None = None  # this task's (lambda, mean, sd) when warped
    z: np.ndarray | None = None  # [n] standardised losses before the warp (= y without one)
    shift: float = 0.0  # subtracted from y (a prior mean of `shift` instead of 0; mean_q)

    def unwarped(self) -> ModelData:
        """The same observations with the plain standardised losses as targets."""
        assert self.z is not None
        return ModelData(self.X, self.z, self.n_task_cols, self.n_self, np.zeros(self.z.size),
                         None, self.z)


def _task_losses(space: SearchSpace, obs: list[Observation], maximize: bool,
                 warp: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple | None, np.ndarray] | None:
    vals = np.array([math.nan if o.value is None else float(o.value) for o in obs])
    vals = np.where(np.isfinite(vals), vals, math.nan)
    losses = loss(vals, maximize)
    ok = np.isfinite(losses)
    if not ok.any():
        return None
    losses[~ok] = losses[ok].max()  # failed jobs: as bad as the worst seen
    z = standardise(losses)
    if warp:
        y, log_jac, params = warp_outputs_and_log_jacobian(losses, plateau_only=warp == 2)
    else:
        y, log_jac, params = z, np.zeros(losses.size), None
    return space.to_unit_many([o.params for o in obs]), y, log_jac, params, z


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
    Xs, ys, jacs, zs = [], [], [], []
    for (X, y, log_jac, _, z), task in parts:
        Xs.append(np.hstack([X, np.full((X.shape[0], n_task), task)]))
        ys.append(y)
        jacs.append(log_jac)
        zs.append(z)
    n_self = own[1].size if own is not None else 0
    return ModelData(np.vstack(Xs), np.concatenate(ys), n_task, n_self, np.concatenate(jacs),
                     own[3] if own is not None else None, np.concatenate(zs))
