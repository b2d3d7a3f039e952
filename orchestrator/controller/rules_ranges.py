"""Hyperparameter range rules (C12–C15) and counting configurations (C7, C8).

The ranges themselves are parsed and checked by the search space's one parser
(`strategies.space.range_problems`); this module words its findings as the service does and
adds the request-level rules (static vs tunable, counts).

Each `*_problems` function returns the problems it found; `orchestrator.controller.rules`
raises them.
"""

from __future__ import annotations

import math

from orchestrator import sagemaker_model
from orchestrator.controller.constants import TUNING_OBJECTIVE_KEY
from orchestrator.controller.rules_definitions import Definition
from orchestrator.status import Strategy
from orchestrator.strategies.space import RANGE_KINDS, RangeProblem, parse_bound
from orchestrator.strategies.space import range_problems as space_range_problems

MAX_TUNABLE_HYPERPARAMETERS = 30  # C15 [DOC define-ranges]: across the three range lists


# -- ranges (C12–C15) -----------------------------------------------------------------------


def range_problems(d: Definition) -> list[str]:
    problems = [_message(d.label, p)
                for p in space_range_problems(d.ranges, (*RANGE_KINDS, "AutoParameters"))]
    kinds = {r["Name"] for kind in (*RANGE_KINDS, "AutoParameters") for r in d.ranges.get(kind, [])}
    static = d.body.get("StaticHyperParameters", {})
    both = sorted(kinds & set(static))
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
    total = len(set(static) | kinds | {TUNING_OBJECTIVE_KEY})
    if total > limit:
        problems.append(
            f"{d.label}: static plus tunable hyperparameters, including "
            f"{TUNING_OBJECTIVE_KEY}, must be at most {limit}; there are {total}."
        )
    return problems


def _message(label: str, p: RangeProblem) -> str:
    """The service's words for a problem found by the search space's range parser."""
    r = p.range
    where = f"{label}: {p.kind} '{p.name}'"
    if p.code == "duplicate":
        return (f"{label}: hyperparameter {p.name} has more than one range "
                f"({p.other}, {p.kind}); give each tunable hyperparameter one range.")
    if p.code == "duplicate-values":
        return f"{where} lists duplicate values: {p.other}."
    if p.code == "numbers":
        what = "integers" if p.kind == "IntegerParameterRanges" else "numbers"
        return (f"{where}: MinValue and MaxValue must be {what} "
                f"(got '{r['MinValue']}' and '{r['MaxValue']}').")
    if p.code == "order":
        return f"{where}: MinValue ({r['MinValue']}) must be less than MaxValue ({r['MaxValue']})."
    if p.code == "log":
        return f"{where}: Logarithmic scaling needs MinValue greater than 0."
    if p.code in ("reverse-log-integer", "reverse-log-bounds"):
        return (f"{where}: ReverseLogarithmic scaling is only for continuous ranges with "
                "0 <= MinValue < MaxValue < 1.")
    # Names, Values and ScalingType are checked against botocore's model before the rules run.
    return f"{where}: invalid range ({p.code})."


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
            low, high = parse_bound(r["MinValue"], True), parse_bound(r["MaxValue"], True)
            if low is None or high is None:
                return None
            sizes.append(max(0, int(high) - int(low) + 1))
        total += math.prod(sizes) if sizes else 0
    return total


def combination_problems(cfg: dict, definitions: list[Definition]) -> list[str]:
    """C8: a fully discrete space must hold at least MaxNumberOfTrainingJobs configurations."""
    given = cfg["ResourceLimits"].get("MaxNumberOfTrainingJobs")
    if cfg["Strategy"] == Strategy.Grid or given is None or not definitions:
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
