"""Gaussian-process regression with a Matérn-5/2 ARD kernel, fitted by MAP type-II likelihood.

Notation (Rasmussen & Williams 2006, "GPML"; shapes in brackets):
- X [n, d] inputs in the unit cube, y [n] standardised targets (zero prior mean).
- theta = (log l_1..l_d, log s_f^2, log s_n^2): length scales, signal and noise variance.
- r = || (x - x') / l ||, k(x, x') = s_f^2 (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r)   (GPML 4.17)
- K = k(X, X) + (s_n^2 + jitter) I = L L^T, alpha = K^-1 y.
- G(r) = s_f^2 5/3 (1 + sqrt5 r) exp(-sqrt5 r), so that dk/dx_i = -G (x_i - x'_i) / l_i^2 and
  dk/dlog l_i = G (x_i - x'_i)^2 / l_i^2 (the 1/r of dr cancels: no singularity at r = 0).
- Negative log posterior of theta: 1/2 y^T alpha + sum log L_ii + n/2 log 2pi - log p(theta);
  its gradient is -1/2 tr((alpha alpha^T - K^-1) dK/dtheta) - dlog p/dtheta (GPML 5.9).
Priors: see `Prior`; all parameters also stay within box bounds (`bounds`).

Level kernel (optional, `Levels`; issue 14 trap 1): with categorical one-hot columns C and the
other ("numeric") columns N,
  k(x, x') = s_f^2 [ m(r) + w m(r_N) S(x, x') ],   S = <x_C, x'_C> / J   (J categoricals),
m the Matérn-5/2 shape above, r_N the scaled distance over N alone (same length scales) and
S the fraction of categoricals on which x and x' agree (a sum of J PSD "same level" kernels).
The second term is a function of the numeric inputs that is *separate per level*: a level
seen only in one region is uncertain elsewhere, instead of inheriting the other levels'
shape through a long categorical length scale (Adam's learning-rate optimum is not SGD's).
theta then ends with log w; dK/dlog w = the second term, and the length-scale gradient gets
the second term's G_N S (x_i - x'_i)^2 / l_i^2 on numeric columns.

Additive term (optional, `Additive`; issue 14 trap 1): with groups g of columns (each numeric
hyperparameter; the one-hot columns of each categorical; any task column), G of them,
  k(x, x') += s_f^2 v / G sum_g m(r_g),   r_g the scaled distance over group g alone,
the first-order terms of Duvenaud et al. 2011's additive kernels beside the full product. A
point far from the data in *every* hyperparameter (a corner of the box) then still inherits
each hyperparameter's main effect from the points that share its value there, instead of
reverting to the prior mean: main effects explain most of the variance of hyperparameter
response surfaces (Hutter, Hoos & Leyton-Brown 2014, fANOVA). theta then ends with log v
(after log w); dK/dlog v = the additive term, and log l_g gets G_g sqdiff_g / l_g^2 from it.

Input warping (optional, `warp_cols`): those columns enter every kernel term through the
Kumaraswamy CDF F_c (warp.py); theta then ends with log a_c (all c), log b_c (all c). With
D = F(x_i) - F(x_j) and dk/d(sqdiff_g) = -G / (2 l_g^2), the gradient of the negative log
posterior is dF-weighted: d/dlog a_c = (1 / l_c^2) sum_i dF_i/dlog a_c sum_j (W G D)_ij.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular
from scipy.linalg.lapack import dpotrf, dpotri, dpotrs
from scipy.optimize import minimize

from orchestrator.strategies.bayesian.warp import LOG_AB_BOUNDS, LOG_AB_VAR, kumaraswamy

SQRT5 = math.sqrt(5.0)
JITTER = 1e-8
# a fantasy's noise, relative to the signal variance: small enough that a pending point's
# posterior variance collapses, large enough for a Cholesky factor of near-duplicate rows
EXACT_NOISE = 1e-6
LOG_LS_BOUNDS = (math.log(1e-2), math.log(1e3))
LOG_SF2_BOUNDS = (math.log(5e-2), math.log(20.0))
LOG_SN2_BOUNDS = (math.log(1e-6), math.log(1.0))
LOG_W_BOUNDS = (math.log(1e-3), math.log(10.0))
LOG_W_PRIOR = (math.log(0.25), 1.0)  # mean, variance of log w
LOG_V_BOUNDS = (math.log(1e-3), math.log(100.0))
LOG_V_PRIOR = (0.0, 1.0)  # mean, variance of log v: the additive term as strong as the product


@dataclass(frozen=True)
class Levels:
    """The categorical (one-hot) columns of the inputs and the number of categoricals."""

    cat_cols: np.ndarray
    n_cat: int

    def same(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """S [m, n]: the fraction of categoricals on which rows of A and B agree."""
        return A[:, self.cat_cols] @ B[:, self.cat_cols].T / self.n_cat

    def numeric(self, d: int) -> np.ndarray:
        mask = np.ones(d, dtype=bool)
        mask[self.cat_cols] = False
        return mask


@dataclass(frozen=True)
class Prior:
    """Energies (negative log densities up to constants) of theta's components.

    Length scales (unit-cube inputs): log l ~ N(log 0.5, 1), i.e. a median of half the range
    and a factor e either way at one standard deviation. Signal and noise variance: log-normal,
    N(0, 1) on log s_f^2 (standardised data) and N(-4, 1) on log s_n^2 (BoTorch's noise prior).
    Alternatives measured on Branin/Hartmann6/mixed (benchmarks/strategy-notes.md): Optuna's
    prior on the inverse squared length scale lambda = 1/l^2, E = 0.1/lambda + 0.1 lambda
    (`ls_log_mean=None`: mode l = 1) over-smooths and gets stuck on Branin's x1 = 10 wall; the
    dimension-scaled log-normal of Hvarfner et al. 2024 (median ~4 sqrt(d)) is worse still on
    Hartmann6 at 50 evaluations.
    """

    sf2_mean: float = 0.0
    sf2_var: float = 1.0
    sn2_mean: float = -4.0
    sn2_var: float = 1.0
    ls_log_mean: float | None = math.log(0.5)  # None: Optuna's inverse-squared prior
    ls_log_var: float = 1.0

    def mode(self, d: int) -> np.ndarray:
        ls = 0.0 if self.ls_log_mean is None else self.ls_log_mean
        return np.r_[np.full(d, ls), self.sf2_mean, self.sn2_mean]

    def spread(self, d: int) -> np.ndarray:
        """Standard deviations used to draw random restarts around the mode."""
        return np.r_[np.full(d, 1.0), math.sqrt(self.sf2_var), math.sqrt(self.sn2_var)]

    def neg_log_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta.size - 2
        t = theta[:d]
        grad = np.empty_like(theta)
        if self.ls_log_mean is not None:
            diff = t - self.ls_log_mean
            val = float(np.sum(0.5 * diff * diff / self.ls_log_var))
            grad[:d] = diff / self.ls_log_var
        else:
            e2, em2 = np.exp(2 * t), np.exp(-2 * t)
            val = float(np.sum(0.1 * e2 + 0.1 * em2))
            grad[:d] = 0.2 * e2 - 0.2 * em2
        for i, (mean, var) in ((d, (self.sf2_mean, self.sf2_var)),
                               (d + 1, (self.sn2_mean, self.sn2_var))):
            diff = theta[i] - mean
            val += 0.5 * diff * diff / var
            grad[i] = diff / var
        return val, grad


@dataclass(frozen=True)
class Additive:
    """The additive term's groups: `groups[i]` is column i's group (the strategy's tied length
    scales); columns beyond them (a task column) are groups of their own."""

    groups: np.ndarray

    def of(self, d: int) -> np.ndarray:
        extra = d - self.groups.size
        if extra <= 0:
            return self.groups
        return np.r_[self.groups, self.groups.max() + 1 + np.arange(extra)]


def bounds(d: int, levels: bool = False, n_warp: int = 0,
           additive: bool = False) -> list[tuple[float, float]]:
    return ([LOG_LS_BOUNDS] * d + [LOG_SF2_BOUNDS, LOG_SN2_BOUNDS] + [LOG_W_BOUNDS] * levels
            + [LOG_V_BOUNDS] * additive + [LOG_AB_BOUNDS] * (2 * n_warp))


def _matern_and_g(r: np.ndarray, sf2: float) -> tuple[np.ndarray, np.ndarray]:
    e = np.exp(-SQRT5 * r)
    k = sf2 * (1.0 + SQRT5 * r + (5.0 / 3.0) * r * r) * e
    g = sf2 * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e
    return k, g


def _scaled_dist(A: np.ndarray, B: np.ndarray, ls: np.ndarray) -> np.ndarray:
    As, Bs = A / ls, B / ls
    r2 = (As * As).sum(1)[:, None] + (Bs * Bs).sum(1)[None, :] - 2.0 * As @ Bs.T
    return np.sqrt(np.maximum(r2, 0.0))


def _cholesky(K: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of K. LAPACK's potrf directly: scipy.linalg.cholesky calls
    the same routine (the same bits) through ~10 us of checks per call, and a fit makes
    hundreds of calls."""
    L, info = dpotrf(K, lower=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"the kernel matrix is not positive definite ({info})")
    return L


def _cho_solve(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """K^-1 B from K's lower Cholesky factor (potrs, as scipy.linalg.cho_solve)."""
    X, info = dpotrs(L, B, lower=1)
    if info != 0:
        raise ValueError(f"potrs: illegal argument {-info}")
    return X


def _weighted(w: np.ndarray, sqdiff: np.ndarray) -> np.ndarray:
    """sum_i w_i sqdiff[i] [n, n]: np.tensordot(w, sqdiff, axes=1) without its Python
    overhead (the same reshape and dot, so the same bits; ~50 us a call, hundreds of calls
    per fit)."""
    return np.dot(w.reshape(1, -1), sqdiff.reshape(w.size, -1)).reshape(sqdiff.shape[1:])


def _contract(sqdiff: np.ndarray, M: np.ndarray) -> np.ndarray:
    """[d]: sum_jk sqdiff[:, j, k] M[j, k], as np.tensordot(sqdiff, M, axes=([1, 2], [0, 1]))."""
    return np.dot(sqdiff.reshape(sqdiff.shape[0], -1), M.reshape(-1, 1)).reshape(-1)


def _contract_each(sqdiff: np.ndarray, M: np.ndarray) -> np.ndarray:
    """[d]: sum_jk sqdiff[i, j, k] M[i, j, k] for each i."""
    return np.einsum("ijk,ijk->i", sqdiff, M)


def neg_log_posterior(theta: np.ndarray, X: np.ndarray, y: np.ndarray, prior: Prior,
                      sqdiff: np.ndarray | None = None,
                      level: tuple[np.ndarray, np.ndarray] | None = None,
                      warp: tuple[np.ndarray, np.ndarray] | None = None,
                      additive: bool = False) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus negative log prior of theta, and its gradient.
    `sqdiff` [d, n, n] = (X_i - X_i')^2 may be passed precomputed (it only depends on X); d is
    then its first dimension (a sum of columns per group: length scales tied within groups).
    `level` = (S [n, n], numeric mask [d] over sqdiff's first dimension) adds the level
    kernel's second term; theta then ends with log w. `warp` = (X columns, their rows in
    sqdiff) warps those columns; theta then ends with their log a, then log b. `additive` adds
    the additive term over sqdiff's first dimension (its groups); theta then has log v after
    log w (not together with `warp`)."""
    n, d = X.shape[0], X.shape[1] if sqdiff is None else sqdiff.shape[0]
    ls, sf2, sn2 = np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1])
    if sqdiff is None:
        sqdiff = (X.T[:, :, None] - X.T[:, None, :]) ** 2
    iv = d + 2 + (level is not None)  # index of log v
    off = iv + additive
    if warp is not None and additive:
        raise ValueError("the additive term does not take input warping")
    if warp is not None:
        cols, rows = warp
        c = cols.size
        F, _, dFa, dFb = kumaraswamy(X[:, cols], theta[off:off + c], theta[off + c:off + 2 * c])
        D = F.T[:, :, None] - F.T[:, None, :]  # [c, n, n]
        sqdiff = sqdiff.copy()
        sqdiff[rows] = D * D
    r = np.sqrt(np.maximum(_weighted(1.0 / ls**2, sqdiff), 0.0))
    Kf, G = _matern_and_g(r, sf2)
    if level is not None:
        S, num = level
        w = math.exp(theta[d + 2])
        rn = np.sqrt(np.maximum(_weighted(1.0 / ls[num] ** 2, sqdiff[num]), 0.0))
        K2, G2 = _matern_and_g(rn, sf2 * w)
        K2, G2 = K2 * S, G2 * S
    K = Kf + (sn2 + JITTER) * np.eye(n) + (K2 if level is not None else 0.0)
    if additive:
        v = math.exp(theta[iv])
        Ka, Ga = _matern_and_g(np.sqrt(sqdiff / (ls * ls)[:, None, None]), sf2 * v / d)
        K3 = Ka.sum(0)
        K = K + K3
    try:
        L = _cholesky(K)
    except np.linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    alpha = _cho_solve(L, y)
    # K^-1 from the Cholesky factor (LAPACK potri fills one triangle)
    Kinv, info = dpotri(L, lower=1)
    if info != 0:
        return 1e25, np.zeros_like(theta)
    Kinv += np.tril(Kinv, -1).T  # potri left the upper triangle as L's: zeros (clean)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(L)).sum()) + 0.5 * n * math.log(2 * math.pi)
    W = np.outer(alpha, alpha) - Kinv  # GPML 5.9: dlogp/dtheta = 1/2 tr(W dK/dtheta)
    grad = np.empty_like(theta)
    dls = _contract(sqdiff, W * G)
    grad[d] = -0.5 * float(np.sum(W * Kf))
    grad[d + 1] = -0.5 * sn2 * float(np.trace(W))
    p_val, p_grad = prior.neg_log_and_grad(theta[: d + 2])
    if level is not None:
        dls[num] += _contract(sqdiff[num], W * G2)
        grad[d + 2] = -0.5 * float(np.sum(W * K2))
        grad[d] += grad[d + 2]
        diff = theta[d + 2] - LOG_W_PRIOR[0]
        p_val += 0.5 * diff * diff / LOG_W_PRIOR[1]
        p_grad = np.r_[p_grad, diff / LOG_W_PRIOR[1]]
    if additive:
        dls += _contract_each(sqdiff, W[None] * Ga)
        grad[iv] = -0.5 * float(np.sum(W * K3))
        grad[d] += grad[iv]
        diff = theta[iv] - LOG_V_PRIOR[0]
        p_val += 0.5 * diff * diff / LOG_V_PRIOR[1]
        p_grad = np.r_[p_grad, diff / LOG_V_PRIOR[1]]
    grad[:d] = -0.5 * dls / ls**2
    if warp is not None:
        WG = W * G + (W * G2 if level is not None else 0.0)
        inner = np.einsum("ij,cij->ic", WG, D) / ls[rows] ** 2  # [n, c]
        grad[off:off + c] = (dFa * inner).sum(0)
        grad[off + c:off + 2 * c] = (dFb * inner).sum(0)
        t = theta[off:off + 2 * c]
        p_val += 0.5 * float(t @ t) / LOG_AB_VAR
        p_grad = np.r_[p_grad, t / LOG_AB_VAR]
    return nll + p_val, grad + p_grad


@dataclass(frozen=True)
class ThetaObjective:
    """The negative log posterior of theta as optimisers and samplers see it: over *grouped*
    theta (one length scale per group of tied columns), within the box [lo, hi]; `mode` and
    `sd` describe the prior (starts of the fit)."""

    X: np.ndarray
    y: np.ndarray
    prior: Prior
    sqdiff: np.ndarray
    level: tuple[np.ndarray, np.ndarray] | None
    warp: tuple[np.ndarray, np.ndarray] | None
    additive: bool
    groups: np.ndarray | None
    lo: np.ndarray
    hi: np.ndarray
    mode: np.ndarray
    sd: np.ndarray

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        return neg_log_posterior(theta, self.X, self.y, self.prior, self.sqdiff, self.level,
                                 self.warp, self.additive)

    def expand(self, theta: np.ndarray) -> np.ndarray:
        """Grouped theta -> one length scale per column (as Posterior takes it)."""
        if self.groups is None:
            return theta
        d = self.sqdiff.shape[0]
        return np.r_[theta[:d][self.groups], theta[d:]]

    def compress(self, theta: np.ndarray) -> np.ndarray:
        """One length scale per column -> grouped theta (the first column of each group)."""
        n_cols = self.X.shape[1]
        if self.groups is None:
            return theta
        first = np.unique(self.groups, return_index=True)[1]
        return np.r_[theta[:n_cols][first], theta[n_cols:]]


def theta_objective(X: np.ndarray, y: np.ndarray, prior: Prior | None = None,
                    groups: np.ndarray | None = None, levels: Levels | None = None,
                    warp_cols: np.ndarray | None = None,
                    additive: bool = False) -> ThetaObjective:
    """`groups[i]` (0..G-1) ties the length scales of columns with equal group (the one-hot
    columns of one categorical). `levels` adds the level kernel (theta ends with log w),
    `additive` the additive term over the groups (then log v), `warp_cols` input warping of
    those columns (then log a, log b per column)."""
    prior = prior or Prior()
    sqdiff = (X.T[:, :, None] - X.T[:, None, :]) ** 2
    num = None if levels is None else levels.numeric(X.shape[1])
    if groups is not None:
        member = np.eye(int(groups.max()) + 1)[groups].T  # [G, d] column membership
        sqdiff = np.tensordot(member, sqdiff, axes=1)
        if num is not None:
            num = (member[:, num].sum(1) > 0) & (member[:, ~num].sum(1) == 0)
    level = None if levels is None else (levels.same(X, X), num)
    n_warp = 0 if warp_cols is None else warp_cols.size
    warp = None
    if n_warp:
        warp = (warp_cols, warp_cols if groups is None else groups[warp_cols])
    d = sqdiff.shape[0]
    bnds = bounds(d, levels is not None, n_warp, additive)
    lo, hi = np.array([b[0] for b in bnds]), np.array([b[1] for b in bnds])
    mode = np.r_[prior.mode(d), [LOG_W_PRIOR[0]] * (levels is not None),
                 [LOG_V_PRIOR[0]] * additive, np.zeros(2 * n_warp)]
    sd = np.r_[prior.spread(d), [math.sqrt(LOG_W_PRIOR[1])] * (levels is not None),
               [math.sqrt(LOG_V_PRIOR[1])] * additive, np.full(2 * n_warp, math.sqrt(LOG_AB_VAR))]
    return ThetaObjective(X, y, prior, sqdiff, level, warp, additive, groups, lo, hi, mode,
                          sd)


def fit_hyperparameters(X: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                        n_restarts: int = 2, maxiter: int = 100,
                        prior: Prior | None = None, groups: np.ndarray | None = None,
                        levels: Levels | None = None,
                        warp_cols: np.ndarray | None = None,
                        init: np.ndarray | None = None, additive: bool = False) -> np.ndarray:
    """MAP theta by multi-start L-BFGS-B: the prior mode (or `init`, a theta as returned
    here), then `n_restarts` draws from the prior. If every start fails, the prior mode is
    returned (a usable, if vague, model). The returned theta has one length scale per column
    (see `theta_objective` for `groups`, `levels`, `warp_cols`)."""
    obj = theta_objective(X, y, prior, groups, levels, warp_cols, additive)
    lo, hi, mode = obj.lo, obj.hi, obj.mode
    starts = [mode if init is None else obj.compress(init)]
    for _ in range(n_restarts):
        starts.append(np.clip(mode + obj.sd * rng.standard_normal(mode.size) * 0.5, lo, hi))
    best_theta, best_val = np.clip(mode, lo, hi), math.inf
    bnds = list(zip(lo, hi, strict=True))
    for theta0 in starts:
        try:
            res = minimize(obj, np.clip(theta0, lo, hi), jac=True, method="L-BFGS-B",
                           bounds=bnds, options={"maxiter": maxiter})
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            continue
        if np.isfinite(res.fun) and res.fun < best_val:
            best_theta, best_val = res.x, float(res.fun)
    return obj.expand(best_theta)


class Posterior:
    """GP posterior for fixed theta, with several target columns sharing one Cholesky factor
    (fantasies: same inputs, different fantasised values for the pending points). With
    `levels`, theta ends with log w (the level kernel); with `additive`, then log v."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, theta: np.ndarray,
                 levels: Levels | None = None, warp_cols: np.ndarray | None = None,
                 additive: Additive | None = None, n_exact: int = 0) -> None:
        """`n_exact`: the last rows are values of the latent function, not noisy
        observations (a batch's fantasies, strategy.py step 4): their noise is `EXACT_NOISE`
        times the signal variance instead of the fitted s_n^2."""
        n, d = X.shape
        self.warp = None
        iv = d + 2 + (levels is not None)
        self.add_groups: np.ndarray | None = None
        if additive is not None:
            self.add_groups = additive.of(d)
            self.n_groups = int(self.add_groups.max()) + 1
            self.v = math.exp(theta[iv])
        if warp_cols is not None and warp_cols.size:
            off, c = iv + (additive is not None), warp_cols.size
            self.warp = (warp_cols, theta[off:off + c], theta[off + c:off + 2 * c])
        X = self._warped(X)[0]
        self.X = X
        self.ls = np.exp(theta[:d])
        self.sf2 = math.exp(theta[d])
        self.sn2 = math.exp(theta[d + 1])
        self.levels = levels
        if levels is not None:
            self.w = math.exp(theta[d + 2])
            self.num = levels.numeric(d)
        Kf = self._full_kernel(X)
        noise = np.full(n, self.sn2 + JITTER)
        noise[n - n_exact:] = EXACT_NOISE * self.sf2
        self.L = _cholesky(Kf + np.diag(noise))  # GPML Alg. 2.1 line 2
        Y = Y.reshape(n, -1)
        self.A = _cho_solve(self.L, Y)  # alpha, one column per target

    def _warped(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Xq with the warped columns through F, and dF/dx there ([m, c]; None unwarped)."""
        if self.warp is None:
            return Xq, None
        cols, la, lb = self.warp
        F, dx, _, _ = kumaraswamy(Xq[:, cols], la, lb)
        out = Xq.copy()
        out[:, cols] = F
        return out, dx

    def _kernel(self, Xq: np.ndarray, B: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """k(Xq, B) (B = the data by default), its G, and the level term's G_N S."""
        B = self.X if B is None else B
        k, g = _matern_and_g(_scaled_dist(Xq, B, self.ls), self.sf2)
        if self.levels is None:
            return k, g, None
        num = self.num
        k2, g2 = _matern_and_g(_scaled_dist(Xq[:, num], B[:, num], self.ls[num]),
                               self.sf2 * self.w)
        S = self.levels.same(Xq, B)
        return k + k2 * S, g, g2 * S

    def _group_dist(self, Xq: np.ndarray, B: np.ndarray) -> np.ndarray:
        """r_g(Xq, B) [m, n, G]: the scaled distance over each group's columns."""
        D = (Xq[:, None, :] - B[None, :, :]) / self.ls
        if self.n_groups == self.add_groups.size:  # one column per group
            return np.abs(D)
        member = np.eye(self.n_groups)[self.add_groups]  # [d, G]
        return np.sqrt((D * D) @ member)

    def _additive(self, Xq: np.ndarray, B: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray] | None:
        """The additive term k_add(Xq, B) [m, n] and each group's G [m, n, G], or None."""
        if self.add_groups is None:
            return None
        B = self.X if B is None else B
        k, g = _matern_and_g(self._group_dist(Xq, B), self.sf2 * self.v / self.n_groups)
        return k.sum(-1), g

    def _full_kernel(self, Xq: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
        """k(Xq, B) with the additive term, summed one group at a time in place ([m, n, G]
        temporaries measured twice as slow: memory traffic, not the exponentials)."""
        k = self._kernel(Xq, B)[0]
        if self.add_groups is None:
            return k
        B = self.X if B is None else B
        sf2 = self.sf2 * self.v / self.n_groups
        for g in range(self.n_groups):
            cols = np.flatnonzero(self.add_groups == g)
            if cols.size == 1:
                c = cols[0]
                s = np.abs(Xq[:, c, None] - B[None, :, c])
                s *= SQRT5 / self.ls[c]
            else:
                s = SQRT5 * _scaled_dist(Xq[:, cols], B[:, cols], self.ls[cols])
            e = np.exp(-s)
            s *= 1.0 + s / 3.0  # Matern-5/2 with s = sqrt5 r: (1 + s + s^2 / 3) e^-s
            s += 1.0
            s *= e
            k += sf2 * s
        return k

    def prior_var(self, Xq: np.ndarray) -> np.ndarray:
        """k(x, x) [m]: s_f^2, plus the level term's s_f^2 w S(x, x), plus the additive
        term's s_f^2 v."""
        v = self.v if self.add_groups is not None else 0.0
        if self.levels is None:
            return np.full(Xq.shape[0], self.sf2 * (1.0 + v))
        Xc = Xq[:, self.levels.cat_cols]
        return self.sf2 * (1.0 + v + self.w * (Xc * Xc).sum(1) / self.levels.n_cat)

    def predict(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean [m, F] and latent variance [m] at query points Xq [m, d]."""
        Xq = self._warped(Xq)[0]
        Kq = self._full_kernel(Xq)
        mean = Kq @ self.A  # GPML Alg. 2.1 line 4
        V = solve_triangular(self.L, Kq.T, lower=True, check_finite=False)  # line 5
        var = np.maximum(self.prior_var(Xq) - (V * V).sum(0), 1e-12)  # line 6
        return mean, var

    def predict_with_grad(self, Xq: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean [m, F], variance [m] and their gradients [m, F, d], [m, d] w.r.t. Xq. With the
        level kernel, the gradient is with respect to the numeric columns (categorical
        columns are held fixed wherever it is used; their entries omit S's derivative)."""
        Xq, dF = self._warped(Xq)
        Kq, G, G2 = self._kernel(Xq)
        diff = (Xq[:, None, :] - self.X[None, :, :]) / self.ls**2  # [m, n, d]
        dK = -G[:, :, None] * diff  # dk(x_a, X_j)/dx_a  [m, n, d]
        if G2 is not None:
            dK[:, :, self.num] -= G2[:, :, None] * diff[:, :, self.num]
        add = self._additive(Xq)
        if add is not None:
            Kq = Kq + add[0]
            dK -= add[1][:, :, self.add_groups] * diff
        mean = Kq @ self.A
        dmean = np.einsum("mnd,nf->mfd", dK, self.A)
        V = _cho_solve(self.L, Kq.T)  # K^-1 k_*  [n, m]
        var = np.maximum(self.prior_var(Xq) - (Kq * V.T).sum(1), 1e-12)
        dvar = -2.0 * np.einsum("mnd,nm->md", dK, V)
        if dF is not None:  # chain rule through the warp
            cols = self.warp[0]  # type: ignore[index]
            dmean[:, :, cols] *= dF[:, None, :]
            dvar[:, cols] *= dF
        return mean, var, dmean, dvar

    def loo(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-out predictive mean and log density of each observation [n] (targets
        y, the first column this posterior was built on), in closed form (GPML 5.10-5.12):
        with K^-1 = L^-T L^-1,
          mu_-i = y_i - alpha_i / [K^-1]_ii,  s_-i^2 = 1 / [K^-1]_ii,
          log p(y_i | y_-i) = -1/2 log s_-i^2 - (y_i - mu_-i)^2 / (2 s_-i^2) - 1/2 log 2pi,
        the last = -1/2 log(2pi) + 1/2 log [K^-1]_ii - alpha_i^2 / (2 [K^-1]_ii)."""
        Linv = solve_triangular(self.L, np.eye(self.L.shape[0]), lower=True,
                                check_finite=False)
        kinv_diag = (Linv * Linv).sum(0)
        a = self.A[:, 0]
        log_p = -0.5 * math.log(2 * math.pi) + 0.5 * np.log(kinv_diag) - a * a / (2 * kinv_diag)
        return y - a / kinv_diag, log_p

    def prequential(self, y: np.ndarray) -> np.ndarray:
        """One-step-ahead log density of each observation given the ones before it in row
        order [n]: with K = L L^T and z = L^-1 y, y_i | y_<i ~ N(y_i - L_ii z_i, L_ii^2)
        (the chain rule of the marginal likelihood)."""
        z = solve_triangular(self.L, y, lower=True, check_finite=False)
        return -0.5 * math.log(2 * math.pi) - np.log(np.diag(self.L)) - 0.5 * z * z

    def joint(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean [m, F] and latent covariance [m, m] at Xq (for sampling fantasies)."""
        Xq = self._warped(Xq)[0]
        Kq = self._full_kernel(Xq)
        Kqq = self._full_kernel(Xq, Xq)
        V = solve_triangular(self.L, Kq.T, lower=True, check_finite=False)
        return Kq @ self.A, Kqq - V.T @ V
