"""Strategy rules of a tuning request (C7, C9, C10, C21).

Each function returns the problems it found; `orchestrator.controller.rules` raises them.
"""

from __future__ import annotations

from orchestrator.controller.rules_definitions import Definition
from orchestrator.controller.rules_ranges import grid_points
from orchestrator.controller.spec import (
    HYPERBAND_EPOCH_KEYS,
    inferred_max_resource,
)
from orchestrator.status import EarlyStoppingType, Strategy

HYPERBAND_MAX_RESOURCE = 20_000


def strategy_problems(request: dict, cfg: dict, definitions: list[Definition]) -> list[str]:
    problems = []
    strategy = cfg["Strategy"]
    early = cfg.get("TrainingJobEarlyStoppingType", EarlyStoppingType.Off.value)
    if "TrainingJobDefinitions" in request and (early == EarlyStoppingType.Auto or "WarmStartConfig" in request):
        problems.append(
            "WarmStartConfig and TrainingJobEarlyStoppingType=Auto can be used only with "
            "TrainingJobDefinition, not with TrainingJobDefinitions."
        )
    if strategy == Strategy.Grid:
        problems += _grid_problems(cfg, definitions)
    if strategy == Strategy.Hyperband:
        if early == EarlyStoppingType.Auto:
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
    problems = []
    low, high = hb.get("MinResource", 1), hb.get("MaxResource")
    if high is None:
        for d in definitions:
            problem = _inference_problem(d)
            if problem:
                problems.append(problem)
        # the smallest over the definitions that allow it, as `spec.hyperband_resource` infers
        inferred = [inferred_max_resource(d.body)[1] for d in definitions]
        high = min((v for v in inferred if v is not None), default=None)
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


def _inference_problem(d: Definition) -> str | None:
    """Why MaxResource cannot be inferred from `d`'s static hyperparameters (C10), or None."""
    key, value = inferred_max_resource(d.body)
    if key is None:
        return (
            f"{d.label}: Hyperband needs HyperbandStrategyConfig.MaxResource, or a static "
            f"hyperparameter to infer it from ({', '.join(HYPERBAND_EPOCH_KEYS)})."
        )
    if value is None:
        return (
            f"{d.label}: static hyperparameter {key}='{d.body['StaticHyperParameters'][key]}' "
            "must be a positive integer to serve as Hyperband's MaxResource."
        )
    return None
