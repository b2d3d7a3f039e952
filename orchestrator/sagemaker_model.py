"""botocore's SageMaker service model: the single source of shapes, enums and limits.

Nothing in smlocal re-types a SageMaker enum, pattern or limit; it asks this module.
"""

from __future__ import annotations

from enum import Enum
from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape


@cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def operation(name: str) -> OperationModel:
    return service_model().operation_model(name)


def shape(name: str) -> Shape:
    return service_model().shape_for(name)


def enum_values(shape_name: str) -> list[str]:
    return list(shape(shape_name).enum)


def str_enum(shape_name: str) -> type[Enum]:
    """A `str` Enum whose members are exactly the model's enum values (member name = value)."""
    return Enum(shape_name, {v: v for v in enum_values(shape_name)}, type=str)  # type: ignore[return-value]
