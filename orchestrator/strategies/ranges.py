"""The one range parser: SageMaker `ParameterRanges` checked range by range.

The service's rules (controller/rules_ranges.py) and the search space (space.py) share these
checks; each caller renders a `RangeProblem` in its own words (the service's exact messages
there, `parameter_range_problems` here for the space's own callers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.status import ScalingType

SCALINGS = tuple(s.value for s in ScalingType)
RANGE_KINDS = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def parse_bound(text: object, integer: bool) -> float | None:
    """A MinValue/MaxValue string as a number, or None. Integers take digits only ("1.0" is not
    an integer bound); continuous bounds any finite decimal ("1e-05" is legal, spec P4)."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if integer:
        return float(int(text)) if _INT.fullmatch(text) else None
    if not _FLOAT.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class RangeProblem:
    """Why one range cannot be part of a search space. `code` is one of: "name" (no Name),
    "duplicate" (`other` holds the kind that named it first), "values" (categorical Values not
    non-empty strings), "duplicate-values" (`other`: the repeated values, comma-separated),
    "numbers" (bounds not numbers / integers), "order" (not MinValue < MaxValue), "scaling"
    (unknown ScalingType), "log" (Logarithmic with MinValue <= 0), "reverse-log-integer",
    "reverse-log-bounds" (ReverseLogarithmic outside 0 <= MinValue < MaxValue < 1)."""

    code: str
    kind: str
    name: str
    range: dict
    other: str = ""


def _numeric_problem(kind: str, r: dict) -> str | None:
    integer = kind == "IntegerParameterRanges"
    low, high = parse_bound(r.get("MinValue"), integer), parse_bound(r.get("MaxValue"), integer)
    if low is None or high is None:
        return "numbers"
    if not low < high:
        return "order"
    scaling = r.get("ScalingType", ScalingType.Auto.value)
    if scaling not in SCALINGS:
        return "scaling"
    if scaling == ScalingType.Logarithmic and low <= 0:
        return "log"
    if scaling == ScalingType.ReverseLogarithmic:
        if integer:
            return "reverse-log-integer"
        if not 0 <= low < high < 1:
            return "reverse-log-bounds"
    return None


def _categorical_problem(r: dict) -> tuple[str, str] | None:
    values = r.get("Values")
    if not values or not all(isinstance(v, str) for v in values):
        return "values", ""
    dupes = sorted({v for v in values if values.count(v) > 1})
    return ("duplicate-values", ", ".join(dupes)) if dupes else None


def range_problems(ranges: dict, kinds: Sequence[str] = RANGE_KINDS) -> list[RangeProblem]:
    """Every problem of every range in `ranges`, in request order (the first per range).
    `kinds`: the range lists to read; the service adds "AutoParameters" for name clashes."""
    problems: list[RangeProblem] = []
    first_kind: dict[str, str] = {}
    for kind in kinds:
        for r in ranges.get(kind) or []:
            name = r.get("Name")
            if not isinstance(name, str) or not name:
                problems.append(RangeProblem("name", kind, "", r))
                continue
            if name in first_kind:
                problems.append(RangeProblem("duplicate", kind, name, r, first_kind[name]))
            first_kind.setdefault(name, kind)
            if kind == "CategoricalParameterRanges":
                found = _categorical_problem(r)
                if found:
                    problems.append(RangeProblem(found[0], kind, name, r, found[1]))
            elif kind in ("IntegerParameterRanges", "ContinuousParameterRanges"):
                code = _numeric_problem(kind, r)
                if code:
                    problems.append(RangeProblem(code, kind, name, r))
    return problems


def _space_message(p: RangeProblem) -> str:
    kind = {"IntegerParameterRanges": "Integer", "ContinuousParameterRanges": "Continuous",
            "CategoricalParameterRanges": "Categorical"}.get(p.kind, p.kind)
    where = f"{kind} range '{p.name}'"
    integer = p.kind == "IntegerParameterRanges"
    return {
        "name": f"{p.kind}: every range needs a Name",
        "duplicate": f"Hyperparameter '{p.name}' appears in more than one range",
        "values": f"{where}: Values must be non-empty strings",
        "numbers": f"{where}: MinValue and MaxValue must be {'integers' if integer else 'numbers'}",
        "order": f"{where}: MinValue must not exceed MaxValue, nor equal it",
        "scaling": f"{where}: ScalingType must be one of {list(SCALINGS)}",
        "log": f"{where}: Logarithmic scaling needs MinValue > 0",
        "reverse-log-integer": f"{where}: ReverseLogarithmic is not allowed",
        "reverse-log-bounds": f"{where}: ReverseLogarithmic needs 0 <= MinValue < MaxValue < 1",
    }[p.code]


def parameter_range_problems(ranges: dict) -> list[str]:
    """Every reason `ranges` cannot be a search space (empty list when it can)."""
    # A repeated categorical value is harmless here (the space keeps one of each); the service
    # rejects it (C12), so the space's own callers may repeat, the service's may not.
    problems = [_space_message(p) for p in range_problems(ranges)
                if p.code != "duplicate-values"]
    if not any(ranges.get(k) for k in RANGE_KINDS):
        problems.append("ParameterRanges must define at least one hyperparameter range")
    return problems
