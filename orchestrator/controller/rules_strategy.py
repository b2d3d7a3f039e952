"""Strategy rules of a tuning request (C7, C9, C10, C21).

Each function returns the problems it found; `orchestrator.controller.rules` raises them.
"""

from __future__ import annotations

from orchestrator.controller.rules_definitions import Definition
from orchestrator.controller.rules_ranges import INT, grid_points

# C10 [DOC API_HyperbandStrategyConfig]: where MaxResource is inferred from, in this order.
HYPERBAND_EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
HYPERBAND_MAX_RESOURCE = 20_000


def strategy_problems(request: dict, cfg: dict, definitions: list[Definition]) -> list[str]:
    problems = []
    strategy = cfg["Strategy"]
    early = cfg.get("TrainingJobEarlyStoppingType", "Off")
    if "TrainingJobDefinitions" in request and (early == "Auto" or "WarmStartConfig" in request):
        problems.append(
            "WarmStartConfig and TrainingJobEarlyStoppingType=Auto can be used only with "
            "TrainingJobDefinition, not with TrainingJobDefinitions."
        )
    if strategy == "Grid":
        problems += _grid_problems(cfg, definitions)
    if strategy == "Hyperband":
        if early == "Auto":
            problems.append(
                "TrainingJobEarlyStoppingType must be Off with the Hyperband strategy: "
                "Hyperband stops under-performing training jobs itself."
            )
        problems += _hyperband_problems(cfg, definitions)
    return problems


def _grid_problems(cfg: dict, definitions: list[Definition]) -> list[str]:
    problems = []
    for d in definitions:
        names = [
            r["Name"]
            for kind in ("IntegerParameterRanges", "ContinuousParameterRanges")
            for r in d.ranges.get(kind, [])
        ]
        names += [r["Name"] for r in d.ranges.get("AutoParameters", [])]
        if names:
            problems.append(
                f"{d.label}: the Grid strategy supports only CategoricalParameterRanges; "
                f"make these categorical or use another strategy: {', '.join(names)}."
            )
    given = cfg["ResourceLimits"].get("MaxNumberOfTrainingJobs")
    size = grid_points([d.ranges for d in definitions])
    if not problems and given is not None and given != size:
        problems.append(
            f"With the Grid strategy, MaxNumberOfTrainingJobs must equal the number of "
            f"combinations of the categorical values ({size}), or be omitted; it is {given}."
        )
    return problems


def _hyperband_problems(cfg: dict, definitions: list[Definition]) -> list[str]:
    hb = cfg.get("StrategyConfig", {}).get("HyperbandStrategyConfig", {})
    low = hb.get("MinResource", 1)
    high = hb.get("MaxResource")
    problems = []
    if high is None:
        for d in definitions:
            inferred, problem = _inferred_max_resource(d)
            if problem:
                problems.append(problem)
            elif inferred is not None:
                high = inferred if high is None else min(high, inferred)
    if high is not None and high > HYPERBAND_MAX_RESOURCE:
        problems.append(
            f"HyperbandStrategyConfig.MaxResource must be at most {HYPERBAND_MAX_RESOURCE}; "
            f"it is {high}."
        )
    if high is not None and low > high:
        problems.append(
            f"HyperbandStrategyConfig.MinResource ({low}) must not exceed MaxResource ({high})."
        )
    return problems


def _inferred_max_resource(d: Definition) -> tuple[int | None, str | None]:
    static = d.body.get("StaticHyperParameters", {})
    key = next((k for k in HYPERBAND_EPOCH_KEYS if k in static), None)
    if key is None:
        return None, (
            f"{d.label}: Hyperband needs HyperbandStrategyConfig.MaxResource, or a static "
            f"hyperparameter to infer it from ({', '.join(HYPERBAND_EPOCH_KEYS)})."
        )
    value = static[key].strip()
    if not INT.fullmatch(value) or int(value) < 1:
        return None, (
            f"{d.label}: static hyperparameter {key}='{static[key]}' must be a positive integer "
            "to serve as Hyperband's MaxResource."
        )
    return int(value), None
