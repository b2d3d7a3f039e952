"""The compiled response shaping (`api.shape_plan`) returns what the member-by-member walk
(`protocol._shape`) returns, and fails where it fails, with the walk's message."""

from __future__ import annotations

import datetime as dt
import enum
import math
import random
from decimal import Decimal
from typing import Any

import pytest
from botocore.model import Shape
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import sagemaker_model
from orchestrator.api import protocol, shape_plan
from orchestrator.controller.service import SageMakerService

OUTPUTS = sorted(SageMakerService.supported_operations)


class Color(enum.Enum):
    RED = "Red"


def value_for(shape: Shape, rng: random.Random, depth: int = 0) -> Any:
    """A value for `shape`: mostly right, sometimes absent, None, of a wrong or edge type."""
    roll = rng.random()
    if roll < 0.03:
        return rng.choice([None, "x", 3, 2.5, True, [], {}, Color.RED])
    kind = shape.type_name
    if kind == "structure":
        if depth > 6:
            return {}
        out = {name: value_for(m, rng, depth + 1) for name, m in shape.members.items()
               if rng.random() < 0.7}
        if rng.random() < 0.2:
            out["NotAMember"] = "dropped"
        return out
    if kind == "list":
        items = [value_for(shape.member, rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return tuple(items) if rng.random() < 0.2 else items
    if kind == "map":
        return {f"k{i}": value_for(shape.value, rng, depth + 1) for i in range(rng.randint(0, 3))}
    if kind == "timestamp":
        return rng.choice([1_700_000_000.25, 1_700_000_000, dt.datetime(2024, 1, 2, 3, 4, 5),
                           "2024-01-02T03:04:05Z"])
    if kind in ("float", "double"):
        return rng.choice([0.5, 3, Decimal("1.25"), math.inf, math.nan, True, -0.0])
    if kind in ("integer", "long"):
        return rng.choice([7, 7.0, 2**40, False])
    if kind == "boolean":
        return rng.choice([True, False])
    if shape.enum:
        return rng.choice(list(shape.enum))
    return rng.choice(["text", Color.RED])


def walk(value: Any, shape: Shape) -> Any:
    try:
        return protocol._shape(value, shape, shape.name)
    except (TypeError, ValueError) as exc:
        return (type(exc).__name__, str(exc))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(OUTPUTS), st.integers(0, 2**32))
def test_compiled_shaping_equals_the_walk(operation, seed):
    shape = sagemaker_model.operation(operation).output_shape
    if shape is None:
        return
    value = value_for(shape, random.Random(seed))
    expected = walk(value, shape)
    try:
        got = protocol.shape_output(value, shape)
    except (TypeError, ValueError) as exc:
        got = (type(exc).__name__, str(exc))
    assert repr(got) == repr(expected)


def test_a_wrong_member_is_named_as_before():
    shape = sagemaker_model.operation("DescribeHyperParameterTuningJob").output_shape
    with pytest.raises(TypeError, match=r"TrainingJobStatusCounters\.Completed has type str"):
        protocol.shape_output({"TrainingJobStatusCounters": {"Completed": "1"}}, shape)
    with pytest.raises(shape_plan.Mismatch):
        shape_plan.plan(shape)({"TrainingJobStatusCounters": {"Completed": "1"}})
