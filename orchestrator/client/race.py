"""`smlocal race FILE.json --strategies Bayesian,Random,Grid,Hyperband`: the same request run
once per strategy with the same budget (MaxNumberOfTrainingJobs) and MaxParallelTrainingJobs,
then `compare` over the runs.

The runs go **one after another**, not at the same time: concurrent runs would compete for the
machine's cores and for Docker, so a strategy's wall time would depend on what the others
were doing, and "best so far against wall time" would compare the machine's load rather than
the strategies. Each run's times are measured from its own creation.

What each strategy needs from the one request (`variants`):
- **Grid** takes only categorical ranges (`rules_strategy`, as AMT) and as many training jobs
  as its grid has points. Integer and continuous ranges are cut into evenly spaced levels (in
  the range's scale: log for Logarithmic) so that the grid has as many points as the budget
  allows without exceeding it (`grid_levels`); the run says how many that is. When the
  categorical ranges alone exceed the budget, Grid cannot run with that budget: an error.
- **Hyperband** needs `StrategyConfig.HyperbandStrategyConfig` (the request's, else
  `--hyperband-min-resource/--hyperband-max-resource`, else MaxResource inferred by the
  server from an epochs hyperparameter) and early stopping Off (it stops jobs itself).
- The other strategies drop `StrategyConfig` (it belongs to Hyperband).
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
import time
from collections.abc import Callable
from typing import Any

from orchestrator.status import Strategy

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
NAME_MAX = 32
EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")  # spec C10


class RaceError(ValueError):
    """Bad input for a race, said so that the user can fix it."""


def strategies_from(text: str) -> list[str]:
    known = {s.value.lower(): s.value for s in Strategy}
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n.lower() not in known]
    if bad or not names:
        raise RaceError(f"unknown strategy {', '.join(bad) or '(none)'}; choose from "
                        f"{', '.join(known.values())}")
    out = [known[n.lower()] for n in names]
    if len(set(out)) != len(out):
        raise RaceError("a strategy is named twice")
    return out


def run_names(prefix: str, strategies: list[str]) -> dict[str, str]:
    names = {s: f"{prefix}-{s.lower()}" for s in strategies}
    longest = max(names.values(), key=len)
    if len(longest) > NAME_MAX or not NAME_PATTERN.match(longest):
        raise RaceError(f"--name-prefix {prefix!r} makes the tuning job name {longest!r}, which "
                        f"is not a valid name (at most {NAME_MAX} letters, digits and hyphens)")
    return names


# -- Grid ------------------------------------------------------------------------------------
def _count(r: dict[str, Any], kind: str, budget: int) -> int:
    if kind == "Integer":
        return max(1, int(float(r["MaxValue"])) - int(float(r["MinValue"])) + 1)
    return budget  # continuous: as many levels as the budget could use


def grid_levels(caps: list[int], limit: int) -> list[int]:
    """Levels per dimension (1 ≤ n_i ≤ caps[i]) with the largest product ≤ `limit`; among
    those, the most balanced (largest smallest n_i). Exhaustive: the products ≤ limit are few."""
    best: tuple[int, int, list[int]] = (0, 0, [])

    def walk(i: int, chosen: list[int], product: int) -> None:
        nonlocal best
        if i == len(caps):  # ties: more levels for the earlier ranges (integers first)
            key = (product, min(chosen, default=0), chosen)
            if key > best:
                best = key
            return
        for n in range(1, min(caps[i], limit // product) + 1):
            walk(i + 1, [*chosen, n], product * n)

    walk(0, [], 1)
    return list(best[2])


def _levels(r: dict[str, Any], kind: str, n: int) -> list[str]:
    lo, hi = float(r["MinValue"]), float(r["MaxValue"])
    log = r.get("ScalingType") == "Logarithmic" and lo > 0
    a, b = (math.log(lo), math.log(hi)) if log else (lo, hi)
    points = [(a + b) / 2] if n == 1 else [a + (b - a) * k / (n - 1) for k in range(n)]
    values = [math.exp(p) if log else p for p in points]
    if kind == "Integer":
        return list(dict.fromkeys(str(round(v)) for v in values))
    return list(dict.fromkeys(f"{v:.6g}" for v in values))


def grid_ranges(ranges: dict[str, Any], budget: int) -> dict[str, Any]:
    """The request's ranges as categorical ones whose grid has at most `budget` points."""
    if ranges.get("AutoParameters"):
        raise RaceError("Grid cannot race a request with AutoParameters")
    cats = [dict(r) for r in ranges.get("CategoricalParameterRanges") or []]
    cat_points = math.prod(len(set(r["Values"])) for r in cats)
    if cat_points > budget:
        raise RaceError(f"Grid: the categorical ranges alone have {cat_points} combinations, "
                        f"more than the budget of {budget} training jobs; raise "
                        "MaxNumberOfTrainingJobs or leave Grid out of --strategies")
    numeric = [(r, kind) for kind in ("Integer", "Continuous")
               for r in ranges.get(f"{kind}ParameterRanges") or []]
    counts = grid_levels([_count(r, kind, budget) for r, kind in numeric], budget // cat_points)
    for (r, kind), n in zip(numeric, counts, strict=True):
        cats.append({"Name": r["Name"], "Values": _levels(r, kind, n)})
    return {"CategoricalParameterRanges": cats}


def grid_size(ranges: dict[str, Any]) -> int:
    return math.prod(len(set(r["Values"])) for r in ranges["CategoricalParameterRanges"])


# -- the variants ----------------------------------------------------------------------------
def budget_of(body: dict[str, Any]) -> int:
    config = body["HyperParameterTuningJobConfig"]
    given = config.get("ResourceLimits", {}).get("MaxNumberOfTrainingJobs")
    if given is not None:
        return int(given)
    if config.get("Strategy") == Strategy.Grid.value:
        return grid_size(config["ParameterRanges"])
    raise RaceError("the request has no ResourceLimits.MaxNumberOfTrainingJobs: a race needs "
                    "the budget every strategy gets")


def _hyperband_config(body: dict[str, Any], min_resource: int | None,
                      max_resource: int | None) -> dict[str, Any]:
    given = (body["HyperParameterTuningJobConfig"].get("StrategyConfig") or {}).get(
        "HyperbandStrategyConfig") or {}
    hb = dict(given)
    if min_resource is not None:
        hb["MinResource"] = min_resource
    if max_resource is not None:
        hb["MaxResource"] = max_resource
    static = body["TrainingJobDefinition"].get("StaticHyperParameters") or {}
    if "MaxResource" not in hb and not any(k in static for k in EPOCH_KEYS):
        raise RaceError("Hyperband needs a MaxResource: give --hyperband-max-resource N (the "
                        "number of objective metric values a full training job reports), or "
                        "StrategyConfig.HyperbandStrategyConfig in the request")
    return hb


def variants(body: dict[str, Any], strategies: list[str], prefix: str,
             min_resource: int | None = None, max_resource: int | None = None
             ) -> dict[str, dict[str, Any]]:
    """Strategy → the request body its run submits."""
    if "TrainingJobDefinitions" in body or "TrainingJobDefinition" not in body:
        raise RaceError("race takes a request with one TrainingJobDefinition (multi-algorithm "
                        "requests are not supported)")
    if "HyperParameterTuningJobConfig" not in body:
        raise RaceError("the request has no HyperParameterTuningJobConfig")
    budget = budget_of(body)
    names = run_names(prefix, strategies)
    out = {}
    for strategy in strategies:
        v = copy.deepcopy(body)
        v["HyperParameterTuningJobName"] = names[strategy]
        config = v["HyperParameterTuningJobConfig"]
        config["Strategy"] = strategy
        config.pop("StrategyConfig", None)
        config.setdefault("ResourceLimits", {})["MaxNumberOfTrainingJobs"] = budget
        if strategy == Strategy.Grid.value:
            config["ParameterRanges"] = grid_ranges(config.get("ParameterRanges") or {}, budget)
            config["ResourceLimits"]["MaxNumberOfTrainingJobs"] = grid_size(
                config["ParameterRanges"])
        if strategy == Strategy.Hyperband.value:
            config["StrategyConfig"] = {"HyperbandStrategyConfig": _hyperband_config(
                body, min_resource, max_resource)}
            config["TrainingJobEarlyStoppingType"] = "Off"
        out[strategy] = v
    return out


def default_prefix() -> str:
    return time.strftime("race-%m%d-%H%M%S")


def run_one(sm: Any, body: dict[str, Any], watch: Callable[[Any, str], dict[str, Any]]
            ) -> dict[str, Any]:
    """Create one run and watch it to its end; Ctrl-C stops it (a race cannot be resumed)."""
    from botocore.exceptions import ClientError

    name = body["HyperParameterTuningJobName"]
    sm.create_hyper_parameter_tuning_job(**body)
    try:
        return watch(sm, name)
    except KeyboardInterrupt:
        with contextlib.suppress(ClientError):
            sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        raise


def race_summary(plan: dict[str, dict[str, Any]], result: dict[str, Any]) -> dict[str, Any]:
    """The race's own keys in `--json`: how it ran, and the jobs each strategy needed to reach
    each other strategy's best (`compare`'s jobs_to_reach, keyed by strategy)."""
    name = {s: v["HyperParameterTuningJobName"] for s, v in plan.items()}
    limits = {s: v["HyperParameterTuningJobConfig"]["ResourceLimits"] for s, v in plan.items()}
    reach = result["jobs_to_reach"]
    return {
        "order": "sequential",
        "runs": name,
        "budget": {s: lim["MaxNumberOfTrainingJobs"] for s, lim in limits.items()},
        "parallel": {s: lim["MaxParallelTrainingJobs"] for s, lim in limits.items()},
        "jobs_to_reach": {a: {b: reach[name[a]][name[b]] for b in plan if b != a}
                          for a in plan},
    }
