"""Bayesian strategy: legality, reproducibility, pending handling, failures, warm start."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orchestrator.strategies import Observation, SearchSpace, make_strategy
from orchestrator.strategies.bayesian import BayesianStrategy

BRANIN = {"ContinuousParameterRanges": [
    {"Name": "x1", "MinValue": "-5", "MaxValue": "10", "ScalingType": "Linear"},
    {"Name": "x2", "MinValue": "0", "MaxValue": "15", "ScalingType": "Linear"}]}
MIXED = {
    "ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "1e-5", "MaxValue": "1", "ScalingType": "Logarithmic"}],
    "IntegerParameterRanges": [{"Name": "k", "MinValue": "1", "MaxValue": "8"}],
    "CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "b", "c"]}]}


def branin(p: dict) -> float:
    x1, x2 = float(p["x1"]), float(p["x2"])
    return ((x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


def mixed(p: dict) -> float:
    return ((math.log10(float(p["lr"])) + 3) ** 2 + 0.3 * (int(p["k"]) - 5) ** 2
            + {"a": 1.0, "b": 0.0, "c": 2.0}[p["c"]])


def _run(strategy, f, n: int, batch: int = 1) -> list[Observation]:
    history: list[Observation] = []
    while len(history) < n:
        for p in strategy.suggest(history, [], batch):
            history.append(Observation(p, f(p), end_order=len(history)))
    return history


def test_beats_random_on_branin_and_is_reproducible():
    space = SearchSpace.from_parameter_ranges(BRANIN)
    bo = _run(make_strategy("Bayesian", space, maximize=False, seed=0), branin, 25)
    rs = _run(make_strategy("Random", space, maximize=False, seed=0), branin, 25)
    bo_best, rs_best = min(o.value for o in bo), min(o.value for o in rs)
    assert bo_best < 0.5 and bo_best < rs_best  # optimum 0.3979, random median ~1.5
    again = _run(make_strategy("Bayesian", space, maximize=False, seed=0), branin, 25)
    assert [o.params for o in again] == [o.params for o in bo]


def test_maximising_mixed_space_finds_the_region_and_values_are_legal():
    space = SearchSpace.from_parameter_ranges(MIXED)
    s = make_strategy("Bayesian", space, maximize=True, seed=2)
    hist = _run(s, lambda p: -mixed(p), 24, batch=4)
    for o in hist:
        assert 1 <= int(o.params["k"]) <= 8 and "." not in o.params["k"]
        assert 1e-5 <= float(o.params["lr"]) <= 1 and o.params["c"] in "abc"
    assert max(o.value for o in hist) > -0.5


def test_pending_points_spread_the_batch():
    space = SearchSpace.from_parameter_ranges(BRANIN)
    s = BayesianStrategy(space, maximize=False, seed=3)
    history = _run(s, branin, 12)
    batch = s.suggest(history, [], 4)
    X = space.to_unit_many(batch)
    dists = [np.linalg.norm(X[i] - X[j]) for i in range(4) for j in range(i)]
    assert len(batch) == 4 and min(dists) > 1e-3
    # a pending point is not proposed again
    again = s.suggest(history, batch[:1], 1)[0]
    assert np.linalg.norm(space.to_unit(again) - X[0]) > 1e-3


def test_failed_and_nonfinite_jobs_do_not_break_the_model():
    space = SearchSpace.from_parameter_ranges(BRANIN)
    s = make_strategy("Bayesian", space, maximize=False, seed=4)
    history = []
    for p in space.sample(np.random.default_rng(0), 10):
        value = None if float(p["x1"]) > 5 else branin(p)  # the right third always fails
        history.append(Observation(p, value, status="Failed" if value is None else "Completed"))
    history.append(Observation(space.sample(np.random.default_rng(1), 1)[0], math.inf))
    got = s.suggest(history, [], 3)
    assert len(got) == 3
    all_failed = [Observation(p, None) for p in space.sample(np.random.default_rng(2), 6)]
    assert len(s.suggest(all_failed, [], 2)) == 2


def test_warm_start_data_is_used_from_the_first_suggestion():
    space = SearchSpace.from_parameter_ranges(MIXED)
    parent_space = SearchSpace.from_parameter_ranges(MIXED)
    rng = np.random.default_rng(5)
    parents = [Observation(p, mixed(p), source="parent") for p in parent_space.sample(rng, 20)]
    # a related task: same shape, shifted and scaled objective, one hyperparameter missing
    transfer = [Observation({k: v for k, v in p.items() if k != "k"}, 100 + 10 * mixed(p),
                            source="transfer") for p in parent_space.sample(rng, 20)]
    for history in (parents, transfer, parents + transfer):
        s = make_strategy("Bayesian", space, maximize=False, seed=0)
        got = s.suggest(history, [], 2)
        assert len(got) == 2
        # model-based from the start: close to the optimum region in the categorical choice
    s = make_strategy("Bayesian", space, maximize=False, seed=0)
    best = [mixed(p) for p in s.suggest(parents, [], 3)]
    assert min(best) < min(o.value for o in parents) + 1.0


def test_out_of_range_parent_values_are_accepted():
    space = SearchSpace.from_parameter_ranges(MIXED)
    parents = [Observation({"lr": "5.0", "k": "40", "c": "zzz"}, 1.0, source="parent")] + [
        Observation(p, mixed(p), source="parent")
        for p in space.sample(np.random.default_rng(0), 5)]
    assert len(make_strategy("Bayesian", space, maximize=False, seed=0).suggest(
        parents, [], 1)) == 1


def test_falls_back_to_random_when_the_model_fails(monkeypatch):
    import orchestrator.strategies.bayesian.strategy as mod

    def boom(*args, **kwargs):
        raise np.linalg.LinAlgError("not positive definite")

    monkeypatch.setattr(mod, "fit_hyperparameters", boom)
    space = SearchSpace.from_parameter_ranges(BRANIN)
    history = [Observation(p, branin(p)) for p in space.sample(np.random.default_rng(0), 8)]
    got = make_strategy("Bayesian", space, maximize=False, seed=0).suggest(history, [], 3)
    assert len(got) == 3


def test_large_history_is_capped():
    space = SearchSpace.from_parameter_ranges(MIXED)
    history = [Observation(p, mixed(p), end_order=i)
               for i, p in enumerate(space.sample(np.random.default_rng(0), 1200))]
    s = BayesianStrategy(space, maximize=False, seed=0, max_points=120)
    from orchestrator.strategies.bayesian.strategy import build_data

    data = build_data(space, history, False, 120, np.random.default_rng(0))
    assert data is not None and data.X.shape[0] == 120
    assert len(s.suggest(history, [], 1)) == 1


@pytest.mark.parametrize("mode", ["fantasy", "kb", "none"])
def test_pending_modes(mode):
    space = SearchSpace.from_parameter_ranges(BRANIN)
    s = BayesianStrategy(space, maximize=False, seed=0, pending_mode=mode)
    history = [Observation(p, branin(p)) for p in space.sample(np.random.default_rng(0), 8)]
    pending = space.sample(np.random.default_rng(1), 2)
    assert len(s.suggest(history, pending, 2)) == 2


@pytest.mark.parametrize("options", [{"level_kernel": 1}, {"input_warp": 1},
                                     {"level_kernel": 1, "input_warp": 1, "bound_snap": 2},
                                     {"warp_outputs": 2}, {"warp_outputs": 1},
                                     {"batch_models": 1}, {"batch_models": 2},
                                     {"select_min": 0, "select_margin": 1.0},
                                     {"select_min": 0, "select_margin": 1.0, "mean_q": 0.9},
                                     {"n_theta": 3, "theta_burn": 1, "theta_thin": 1},
                                     {"select_min": 0, "select_margin": 1.0, "mean_q": 0.9,
                                      "mean_plain": 1},
                                     {"additive": 1}, {"additive": 1, "level_kernel": 1},
                                     {"ls_mode": 1.0}, {"ls_optuna": 1, "n_theta": 2,
                                                        "theta_burn": 1, "theta_thin": 1}])
def test_measured_options_run_end_to_end_with_pending_and_a_transfer_task(options, caplog):
    """The ablation options (off by default) through the whole strategy: fantasies over a
    pending batch, a transfer task column, legal unseen suggestions, and never the silent
    fallback to random sampling (a shape error in the model would end up there)."""
    space = SearchSpace.from_parameter_ranges(MIXED)
    s = BayesianStrategy(space, maximize=True, seed=2, **options)
    transfer = [Observation(p, -mixed(p) - 0.5, source="transfer")
                for p in space.sample(np.random.default_rng(5), 6)]
    with caplog.at_level("WARNING"):
        hist = _run(s, lambda p: -mixed(p), 24, batch=4)
        pending = space.sample(np.random.default_rng(6), 2)
        got = s.suggest(transfer + hist, pending, 3)
    assert not [r for r in caplog.records if "model failed" in r.getMessage()]
    assert max(o.value for o in hist) > -0.05  # random search: median best of 24 is -0.37
    keys = {space.key(o.params) for o in hist} | {space.key(p) for p in pending}
    assert len(got) == 3 and all(space.key(p) not in keys for p in got)
    assert all(1 <= int(p["k"]) <= 8 and p["c"] in "abc" for p in got)


def test_the_length_scale_prior_options_reach_the_fit():
    """`ls_mode` / `ls_optuna` (measured, off) change the prior theta is fitted under: the
    same 12 Branin points get longer fitted length scales under a prior centred on l = 3 than
    under the default N(log 0.5, 1), and Optuna's prior on 1/l^2 replaces the log-normal."""
    space = SearchSpace.from_parameter_ranges(BRANIN)
    history = [Observation(p, branin(p)) for p in space.sample(np.random.default_rng(0), 12)]

    def log_ls(**options) -> np.ndarray:
        s = BayesianStrategy(space, maximize=False, seed=0, **options)
        _, theta, _ = s._data_and_theta(history, np.random.default_rng(1))
        return theta[: space.dim]

    assert BayesianStrategy(space, maximize=False, seed=0).prior.ls_log_mean == math.log(0.5)
    assert log_ls(ls_mode=3.0, ls_sd=0.3).mean() > log_ls().mean() + 0.5
    assert BayesianStrategy(space, maximize=False, seed=0, ls_optuna=1).prior.ls_log_mean \
        is None


def test_plateau_output_warp_needs_tied_worst_values():
    """`warp_outputs=2` (measured, off) leaves a spread of distinct losses standardised and
    warps once the worst loss is shared (here by a failed job, which gets the worst loss of
    its task); `warp_outputs=1` (the default until issue 14's fifth session; the default now
    chooses between 1 and none per history) warps any long bad tail."""
    from orchestrator.strategies.bayesian.strategy import build_data
    from orchestrator.strategies.bayesian.warp import standardise

    space = SearchSpace.from_parameter_ranges(BRANIN)
    pts = space.sample(np.random.default_rng(0), 12)
    history = [Observation(p, branin(p), end_order=i) for i, p in enumerate(pts)]
    losses = np.array([o.value for o in history])
    rng = np.random.default_rng(0)
    plain = build_data(space, history, False, 300, rng, warp=2)
    np.testing.assert_allclose(plain.y, standardise(losses))
    skew = build_data(space, history, False, 300, rng, warp=1)
    assert not np.allclose(skew.y, standardise(losses))
    failed = history + [Observation(space.sample(np.random.default_rng(1), 1)[0], None,
                                    end_order=12)]
    warped = build_data(space, failed, False, 300, rng, warp=2)
    assert not np.allclose(warped.y, standardise(np.r_[losses, losses.max()]))
    assert warped.y[-1] == pytest.approx(warped.y.max())
