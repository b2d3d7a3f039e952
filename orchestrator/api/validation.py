"""Server-side validation of a decoded request against botocore's input shape.

botocore validates client-side only `required`, types and `min` (anchors §4); it skips `max`,
`pattern` and `enum`, and other clients (curl, other SDKs) validate nothing. This walker checks
all of them, in the visitor style of `botocore.validate.ParamValidator` (`_visit_<type_name>`),
and words every problem the way AWS does (spec §0):

    Value 'x' at 'hyperParameterTuningJobConfig.strategy' failed to satisfy constraint:
    Member must satisfy enum value set: [Bayesian, Random, Hyperband, Grid]

Paths are lowerCamel member names joined by '.', list items as `<list>.<1-based index>.member`,
map entries reported once per map for keys and once for values (AWS: "Map value must satisfy
constraint: [...]"). All problems of a request are reported together. botocore's own
`ParamValidator` then runs as a cross-check: if it finds something the walker missed, its report
is used rather than letting the request through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from botocore.model import Shape
from botocore.utils import parse_to_aware_datetime
from botocore.validate import ParamValidator

from orchestrator import sagemaker_model
from orchestrator.api.patterns import matches
from orchestrator.errors import ValidationError

# Coral's integer types are Java int and long.
_INT_BOUNDS = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_JSON_TYPE = {
    "structure": "a JSON object",
    "map": "a JSON object",
    "list": "a JSON array",
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "boolean": "a boolean",
    "timestamp": "a timestamp (epoch seconds)",
    "blob": "a base64 string",
}
_MAX_RENDERED = 200


def validate_request(operation: str, request: dict) -> None:
    """Raise `ValidationError` listing every problem of `request`, or return None."""
    validate_shape(request, sagemaker_model.operation(operation).input_shape)


def validate_shape(request: dict, shape: Shape | None) -> None:
    """`validate_request` for any input shape (smlocal's extension operations too)."""
    problems = _Walker().problems(request, shape)
    if not problems and shape is not None:
        report = ParamValidator().validate(_drop_nulls(request), shape)
        if report.has_errors():
            problems = report.generate_report().splitlines()
    if problems:
        raise ValidationError.from_problems(problems)


def _drop_nulls(value: Any) -> Any:
    """JSON `null` members mean "absent" to AWS; botocore's validator would call them a type error."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def aws_path(path: tuple[str, ...]) -> str:
    return ".".join(path) if path else "input"


def render(value: Any) -> str:
    """Java-`toString`-like rendering of a value, as AWS echoes it in messages (truncated)."""
    text = _render(value)
    return text if len(text) <= _MAX_RENDERED else text[: _MAX_RENDERED - 3] + "..."


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    return str(value)


def _member_name(name: str) -> str:
    return name[:1].lower() + name[1:]


def _java_length(text: str) -> int:
    """Java's String.length(): UTF-16 code units, so astral characters count twice."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


class _Walker:
    def __init__(self) -> None:
        self._problems: list[str] = []

    def problems(self, params: Any, shape: Shape | None) -> list[str]:
        if shape is None:
            if params:
                self._problems.append("This operation takes no parameters")
        else:
            self._visit(params, shape, ())
        return self._problems

    def _fail(self, value: Any, path: tuple[str, ...], constraint: str) -> None:
        shown = "null" if value is None else f"'{render(value)}'"
        self._problems.append(
            f"Value {shown} at '{aws_path(path)}' failed to satisfy constraint: {constraint}"
        )

    def _visit(self, value: Any, shape: Shape, path: tuple[str, ...]) -> None:
        if value is None:
            self._fail(None, path, "Member must not be null")
            return
        getattr(self, f"_visit_{shape.type_name}")(value, shape, path)

    def _type_ok(self, value: Any, shape: Shape, path: tuple[str, ...], types: tuple) -> bool:
        if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
            return True
        self._fail(value, path, f"Member must be {_JSON_TYPE[shape.type_name]}")
        return False

    # -- containers ---------------------------------------------------------------------------

    def _visit_structure(self, value: Any, shape: Shape, path: tuple[str, ...]) -> None:
        if not self._type_ok(value, shape, path, (dict,)):
            return
        members = shape.members
        for name in shape.required_members:
            if value.get(name) is None:
                self._fail(None, (*path, _member_name(name)), "Member must not be null")
        for name in value:
            if name not in members:
                where = f"at '{aws_path(path)}'" if path else "in input"
                self._problems.append(
                    f"Unknown parameter '{name}' {where}: must be one of: {', '.join(members)}"
                )
        for name, member in members.items():
            if value.get(name) is not None:
                self._visit(value[name], member, (*path, _member_name(name)))

    def _visit_list(self, value: Any, shape: Shape, path: tuple[str, ...]) -> None:
        if not self._type_ok(value, shape, path, (list,)):
            return
        self._check_bounds(value, len(value), shape, path, "length")
        for i, item in enumerate(value, start=1):
            self._visit(item, shape.member, (*path, str(i), "member"))

    def _visit_map(self, value: Any, shape: Shape, path: tuple[str, ...]) -> None:
        if not self._type_ok(value, shape, path, (dict,)):
            return
        self._check_bounds(value, len(value), shape, path, "length")
        if any(not _string_ok(k, shape.key) for k in value):
            self._fail(value, path, f"Map keys must satisfy constraint: [{_describe(shape.key)}]")
        if shape.value.type_name in ("structure", "list", "map"):
            for k, v in value.items():
                self._visit(v, shape.value, (*path, str(k)))
        elif any(not _scalar_ok(v, shape.value) for v in value.values()):
            self._fail(
                value, path, f"Map value must satisfy constraint: [{_describe(shape.value)}]"
            )

    # -- scalars ------------------------------------------------------------------------------

    def _visit_string(self, value: Any, shape: Shape, path: tuple[str, ...]) -> None:
        if not self._type_ok(value, shape, path, (str,)):
            return
        self._check_bounds(value, _java_length(value), shape, path, "length")
        pattern = shape.metadata.get("pattern")
        if pattern is not None and not matches(pattern, value):
            self._fail(value, path, f"Member must satisfy regular expression pattern: {pattern}")
        if shape.enum and value not in shape.enum:
            self._fail(
                value, path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
            )

    def _visit_integer(self, value: Any, shape: Shape, path: tuple[str, ...]) -> None:
        if not self._type_ok(value, shape, path, (int,)):
            return
        lo, hi = _INT_BOUNDS[shape.type_name]
        if not self._check_bounds(value, value, shape, path, "value"):
            return
        if value < lo:
            self._fail(value, path, f"Member must have value greater than or equal to {lo}")
        elif value > hi:
            self._fail(value, path, f"Member must have value less than or equal to {hi}")

    _visit_long = _visit_integer

    def _visit_double(self, value: Any, shape: Shape, path: tuple[str, ...]) -> None:
        if not self._type_ok(value, shape, path, (int, float)):
            return
        if isinstance(value, float) and not math.isfinite(value):
            self._fail(value, path, "Member must be a finite number")
            return
        self._check_bounds(value, value, shape, path, "value")

    _visit_float = _visit_double

    def _visit_boolean(self, value: Any, shape: Shape, path: tuple[str, ...]) -> None:
        self._type_ok(value, shape, path, (bool,))

    def _visit_timestamp(self, value: Any, shape: Shape, path: tuple[str, ...]) -> None:
        if not _timestamp_ok(value):
            self._fail(value, path, f"Member must be {_JSON_TYPE['timestamp']}")

    def _visit_blob(self, value: Any, shape: Shape, path: tuple[str, ...]) -> None:
        self._type_ok(value, shape, path, (str,))

    def _check_bounds(
        self, value: Any, size: float, shape: Shape, path: tuple[str, ...], what: str
    ) -> bool:
        meta = shape.metadata
        if "max" in meta and size > meta["max"]:
            self._fail(value, path, f"Member must have {what} less than or equal to {meta['max']}")
            return False
        if "min" in meta and size < meta["min"]:
            self._fail(
                value, path, f"Member must have {what} greater than or equal to {meta['min']}"
            )
            return False
        return True


def _timestamp_ok(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    if isinstance(value, str):
        try:
            parse_to_aware_datetime(value)
        except (TypeError, ValueError, AttributeError, OverflowError):
            return False
        return True
    return False


def _string_ok(value: Any, shape: Shape) -> bool:
    return _Walker().problems(value, shape) == []


def _scalar_ok(value: Any, shape: Shape) -> bool:
    return value is not None and _Walker().problems(value, shape) == []


def _describe(shape: Shape) -> str:
    """All constraints of a scalar shape, in AWS's order (max, min, pattern, enum)."""
    meta: Mapping[str, Any] = shape.metadata
    what = "length" if shape.type_name == "string" else "value"
    parts = []
    if "max" in meta:
        parts.append(f"Member must have {what} less than or equal to {meta['max']}")
    if "min" in meta:
        parts.append(f"Member must have {what} greater than or equal to {meta['min']}")
    if "pattern" in meta:
        parts.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    if shape.enum:
        parts.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    parts.append("Member must not be null")
    return ", ".join(parts)
