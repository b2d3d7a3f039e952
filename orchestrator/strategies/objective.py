"""Objective direction, decided in one place.

Everything that compares objective values (strategies, the median and ASHA stopping rules,
completion criteria, Describe's best training job) works on *losses*: lower is better. `loss`
is the one function that flips a maximised objective's values into losses; `maximizes` is the
one place that reads the objective type.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from orchestrator.status import ObjectiveType

T = TypeVar("T", float, np.ndarray)


def maximizes(objective_type: str | None) -> bool:
    """True when higher objective values are better (HyperParameterTuningJobObjective.Type)."""
    return objective_type == ObjectiveType.Maximize


def loss(value: T, maximize: bool) -> T:
    """The value (a float or an array of them) as a loss: lower is better."""
    return -value if maximize else value
