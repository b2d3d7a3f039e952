"""Response shaping compiled once per output shape (issue 15, load).

`protocol._shape` walks botocore's shape objects for every response and builds the path of
every member as it goes (for its error message). A page of 100 training-job summaries is about
1,400 members, and that walk was half of ListTrainingJobsForHyperParameterTuningJob's server
time. `plan(shape)` turns a shape into nested closures once, with the same rules and the same
output, and no paths: when a member has the wrong type it raises `Mismatch`, and the caller
walks again with `protocol._shape` to raise the error that names the member.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any

from botocore.model import Shape

Shaper = Callable[[Any], Any]
_PLANS: dict[int, tuple[Shape, Shaper]] = {}  # id(shape) -> (the shape, kept alive; its plan)


class Mismatch(TypeError):
    """A member of the wrong type (the slow walk says which)."""


def plan(shape: Shape) -> Shaper:
    found = _PLANS.get(id(shape))
    if found is not None:
        return found[1]
    # Recursive shapes reach themselves while compiling: they get this trampoline meanwhile.
    compiled: list[Shaper] = []
    _PLANS[id(shape)] = (shape, lambda value: compiled[0](value))
    compiled.append(_compile(shape))
    _PLANS[id(shape)] = (shape, compiled[0])
    return compiled[0]


def _compile(shape: Shape) -> Shaper:
    kind = shape.type_name
    if kind == "structure":
        return _structure([(name, plan(member)) for name, member in shape.members.items()])
    if kind == "list":
        return _list(plan(shape.member))
    if kind == "map":
        return _map(plan(shape.value))
    if kind == "timestamp":
        from orchestrator.api.protocol import to_epoch  # protocol imports this module

        return to_epoch
    return _SCALARS.get(kind, _string)


def _structure(members: list[tuple[str, Shaper]]) -> Shaper:
    def shape_structure(value: Any) -> Any:
        if not isinstance(value, dict):
            raise Mismatch
        out = {}
        for name, member in members:
            item = value.get(name)
            if item is None:
                continue
            shaped = member(item)
            if shaped is not None:
                out[name] = shaped
        return out

    return shape_structure


def _list(member: Shaper) -> Shaper:
    def shape_list(value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise Mismatch
        items = (member(v) for v in value if v is not None)
        return [v for v in items if v is not None]

    return shape_list


def _map(member: Shaper) -> Shaper:
    def shape_map(value: Any) -> Any:
        if not isinstance(value, dict):
            raise Mismatch
        return {str(k): member(v) for k, v in value.items()}

    return shape_map


def _float(value: Any) -> Any:
    if not isinstance(value, (int, float, Decimal)):  # bool passes, as in protocol._expect
        raise Mismatch
    number = float(value)
    # JSON has no NaN/Infinity; an absent member is the honest encoding (spec Q5).
    return number if math.isfinite(number) else None


def _integer(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Mismatch
    return int(value)


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise Mismatch
    return value


def _string(value: Any) -> Any:
    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str):
        raise Mismatch
    return str(value)


_SCALARS: dict[str, Shaper] = {
    "float": _float, "double": _float, "integer": _integer,
    "long": _integer, "boolean": _boolean,
}
