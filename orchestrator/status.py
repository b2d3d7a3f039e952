"""Status values: botocore's enum strings, defined once (DEVELOPERS.md style rule 3)."""

from __future__ import annotations

from orchestrator.sagemaker_model import str_enum

TrainingJobStatus = str_enum("TrainingJobStatus")
SecondaryStatus = str_enum("SecondaryStatus")
TuningJobStatus = str_enum("HyperParameterTuningJobStatus")
ObjectiveStatus = str_enum("ObjectiveStatus")
Strategy = str_enum("HyperParameterTuningJobStrategyType")
ObjectiveType = str_enum("HyperParameterTuningJobObjectiveType")
ScalingType = str_enum("HyperParameterScalingType")
EarlyStoppingType = str_enum("TrainingJobEarlyStoppingType")
WarmStartType = str_enum("HyperParameterTuningJobWarmStartType")

TRAINING_TERMINAL = frozenset(
    {TrainingJobStatus.Completed, TrainingJobStatus.Failed, TrainingJobStatus.Stopped}
)
TUNING_TERMINAL = frozenset(
    {TuningJobStatus.Completed, TuningJobStatus.Failed, TuningJobStatus.Stopped}
)


def training_is_terminal(status: str) -> bool:
    return status in TRAINING_TERMINAL


def tuning_is_terminal(status: str) -> bool:
    return status in TUNING_TERMINAL
