"""Hyperparameter range rules (C12–C15) and counting configurations (C7, C8).

Each `*_problems` function returns the problems it found; `orchestrator.controller.rules`
raises them.
"""

from __future__ import annotations

import math
import re

from orchestrator import sagemaker_model
from orchestrator.controller.rules_definitions import Definition

TUNING_OBJECTIVE_KEY = "_tuning_objective_metric"
RANGE_KINDS = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")
MAX_TUNABLE_HYPERPARAMETERS = 30  # C15 [DOC define-ranges]: across the three range lists

INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


# -- ranges (C12–C15) -----------------------------------------------------------------------


def range_problems(d: Definition) -> list[str]:
    problems = []
    kinds: dict[str, str] = {}
    for kind in (*RANGE_KINDS, "AutoParameters"):
        for r in d.ranges.get(kind, []):
            name = r["Name"]
            if name in kinds:
                problems.append(
                    f"{d.label}: hyperparameter {name} has more than one range "
                    f"({kinds[name]}, {kind}); give each tunable hyperparameter one range."
                )
            kinds[name] = kind
            problems += _bound_problems(d.label, kind, r)
    static = d.body.get("StaticHyperParameters", {})
    both = sorted(set(kinds) & set(static))
    if both:
        problems.append(
            f"{d.label}: hyperparameters cannot be both static and tunable; remove "
            f"{', '.join(both)} from StaticHyperParameters."
        )
    tunable = sum(len(d.ranges.get(k, [])) for k in RANGE_KINDS)
    if tunable > MAX_TUNABLE_HYPERPARAMETERS:
        problems.append(
            f"{d.label}: at most {MAX_TUNABLE_HYPERPARAMETERS} hyperparameters can be tuned; "
            f"the ranges name {tunable}."
        )
    if not kinds:
        problems.append(f"{d.label}: give at least one hyperparameter range to tune.")
    limit = sagemaker_model.shape("HyperParameters").metadata["max"]
    total = len(set(static) | set(kinds) | {TUNING_OBJECTIVE_KEY})
    if total > limit:
        problems.append(
            f"{d.label}: static plus tunable hyperparameters, including "
            f"{TUNING_OBJECTIVE_KEY}, must be at most {limit}; there are {total}."
        )
    return problems


def _bound_problems(label: str, kind: str, r: dict) -> list[str]:
    where = f"{label}: {kind} '{r['Name']}'"
    if kind == "CategoricalParameterRanges":
        values = r["Values"]
        dupes = sorted({v for v in values if values.count(v) > 1})
        return [f"{where} lists duplicate values: {', '.join(dupes)}."] if dupes else []
    if kind == "AutoParameters":
        return []
    integer = kind == "IntegerParameterRanges"
    low, high = _bounds(r, integer)
    if low is None or high is None:
        what = "integers" if integer else "numbers"
        return [
            f"{where}: MinValue and MaxValue must be {what} "
            f"(got '{r['MinValue']}' and '{r['MaxValue']}')."
        ]
    if not low < high:
        return [
            f"{where}: MinValue ({r['MinValue']}) must be less than MaxValue ({r['MaxValue']})."
        ]
    scaling = r.get("ScalingType", "Auto")
    if scaling == "Logarithmic" and low <= 0:
        return [f"{where}: Logarithmic scaling needs MinValue greater than 0."]
    if scaling == "ReverseLogarithmic" and (integer or not 0 <= low < high < 1):
        return [
            f"{where}: ReverseLogarithmic scaling is only for continuous ranges with "
            "0 <= MinValue < MaxValue < 1."
        ]
    return []


def _bounds(r: dict, integer: bool) -> tuple[float | None, float | None]:
    return _number(r["MinValue"], integer), _number(r["MaxValue"], integer)


def _number(text: str, integer: bool) -> float | None:
    text = text.strip()
    if integer:
        return int(text) if INT.fullmatch(text) else None
    if not _FLOAT.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


# -- counting configurations (C7, C8) -------------------------------------------------------


def grid_points(all_ranges: list[dict]) -> int:
    """Grid points over all definitions: Π |distinct Values| of each, summed."""
    return sum(
        math.prod(len(set(r["Values"])) for r in ranges.get("CategoricalParameterRanges", []))
        for ranges in all_ranges
    )


def discrete_combinations(all_ranges: list[dict]) -> int | None:
    """Distinct configurations over all definitions, or None if any range is continuous."""
    total = 0
    for ranges in all_ranges:
        if ranges.get("ContinuousParameterRanges") or ranges.get("AutoParameters"):
            return None
        sizes = [len(set(r["Values"])) for r in ranges.get("CategoricalParameterRanges", [])]
        for r in ranges.get("IntegerParameterRanges", []):
            low, high = _bounds(r, True)
            if low is None or high is None:
                return None
            sizes.append(max(0, int(high) - int(low) + 1))
        total += math.prod(sizes) if sizes else 0
    return total


def combination_problems(cfg: dict, definitions: list[Definition]) -> list[str]:
    """C8: a fully discrete space must hold at least MaxNumberOfTrainingJobs configurations."""
    given = cfg["ResourceLimits"].get("MaxNumberOfTrainingJobs")
    if cfg["Strategy"] == "Grid" or given is None or not definitions:
        return []
    combos = discrete_combinations([d.ranges for d in definitions])
    if combos is None or combos == 0 or combos >= given:
        return []
    # C8 [OBS amazon-sagemaker-operator-for-k8s#123]: the service's message, verbatim.
    return [
        "You don't have enough combinations of hyperparameter ranges. The total number of "
        f"hyperparameter combinations for the provided ranges [{float(combos)}] must be equal "
        f"or greater than the value of MaxNumberOfJobs, [{given}]. Provide additional ranges."
    ]
