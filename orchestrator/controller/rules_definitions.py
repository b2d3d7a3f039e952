"""The training job definitions of a tuning request (C2–C4) and what each must satisfy (C5,
C23–C26); the training-job rules also serve a standalone CreateTrainingJob (spec §2.7).

Each function returns the problems it found (messages that say what to fix); the caller in
`orchestrator.controller.rules` raises them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.controller.constants import DEFAULT_TRAINING_RUNTIME, MAX_TRAINING_RUNTIME


@dataclass(frozen=True)
class Definition:
    """One training job definition, with the objective and ranges that apply to it."""

    label: str
    body: dict
    objective: dict | None
    ranges: dict


# -- which definitions (C2, C3, C4) ---------------------------------------------------------


def definitions(request: dict, problems: list[str]) -> list[Definition]:
    """The request's definitions; appends to `problems` what is wrong with how they are given."""
    cfg = request["HyperParameterTuningJobConfig"]
    single, multi = request.get("TrainingJobDefinition"), request.get("TrainingJobDefinitions")
    if (single is None) == (multi is None):
        problems.append("Provide exactly one of TrainingJobDefinition and TrainingJobDefinitions.")
        return []
    if single is not None:
        return [_single_definition(request, cfg, single, problems)]
    return _multi_definitions(cfg, multi, problems)


def _single_definition(request: dict, cfg: dict, body: dict, problems: list[str]) -> Definition:
    objective = cfg.get("HyperParameterTuningJobObjective")
    if objective is None and "Autotune" not in request:
        problems.append(
            "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective is required "
            "with TrainingJobDefinition."
        )
    if "TuningObjective" in body or "HyperParameterRanges" in body:
        problems.append(
            "TuningObjective and HyperParameterRanges are for TrainingJobDefinitions entries; "
            "with TrainingJobDefinition use HyperParameterTuningJobConfig."
            "HyperParameterTuningJobObjective and ParameterRanges."
        )
    return Definition("TrainingJobDefinition", body, objective, cfg.get("ParameterRanges", {}))


def _multi_definitions(cfg: dict, bodies: list[dict], problems: list[str]) -> list[Definition]:
    if "HyperParameterTuningJobObjective" in cfg or "ParameterRanges" in cfg:
        problems.append(
            "With TrainingJobDefinitions, set TuningObjective and HyperParameterRanges in each "
            "definition, not HyperParameterTuningJobObjective or ParameterRanges in "
            "HyperParameterTuningJobConfig."
        )
    seen: set[str] = set()
    out = []
    for i, body in enumerate(bodies, start=1):
        name = body.get("DefinitionName")
        label = f"TrainingJobDefinitions[{name or i}]"
        if name is None:
            problems.append(f"{label}: DefinitionName is required with TrainingJobDefinitions.")
        elif name.lower() in seen:
            problems.append(f"{label}: DefinitionName must be unique; {name} is used twice.")
        else:
            seen.add(name.lower())
        for member in ("TuningObjective", "HyperParameterRanges"):
            if member not in body:
                problems.append(f"{label}: {member} is required with TrainingJobDefinitions.")
        out.append(
            Definition(
                label, body, body.get("TuningObjective"), body.get("HyperParameterRanges", {})
            )
        )
    return out


# -- per definition (C5, C23–C26) -----------------------------------------------------------


def algorithm_problems(label: str, body: dict) -> list[str]:
    """C23, C26, and what cannot run locally (built-in algorithms, Pipe mode)."""
    spec = body["AlgorithmSpecification"]
    image, algorithm = spec.get("TrainingImage"), spec.get("AlgorithmName")
    problems = []
    if image and algorithm:
        problems.append(
            f"{label}: specify either AlgorithmSpecification.TrainingImage or AlgorithmName, "
            "not both."
        )
    elif algorithm:
        problems.append(
            f"{label}: AlgorithmName '{algorithm}' is not supported by smlocal: built-in and "
            "AWS Marketplace algorithms cannot run locally. Set AlgorithmSpecification."
            "TrainingImage to a Docker image available on this machine."
        )
    elif not image:
        problems.append(f"{label}: AlgorithmSpecification.TrainingImage is required.")
    modes = {spec["TrainingInputMode"]} | {
        c["InputMode"] for c in body.get("InputDataConfig", []) if "InputMode" in c
    }
    if "Pipe" in modes:
        problems.append(
            f"{label}: Pipe input mode is not supported locally; use File or FastFile "
            "(AlgorithmSpecification.TrainingInputMode and InputDataConfig[].InputMode)."
        )
    for metric in spec.get("MetricDefinitions", []):
        try:
            re.compile(metric["Regex"])
        except re.error as exc:
            problems.append(
                f"{label}: the Regex of metric '{metric['Name']}' is not a valid regular "
                f"expression ({exc})."
            )
    return problems


def objective_problems(d: Definition) -> list[str]:
    """C5: the objective metric must be one of the definition's MetricDefinitions."""
    spec = d.body["AlgorithmSpecification"]
    if d.objective is None or spec.get("AlgorithmName"):
        return []
    names = {m["Name"] for m in spec.get("MetricDefinitions", [])}
    if d.objective["MetricName"] in names:
        return []
    # C5 [OBS sagemaker-python-sdk#3932]: the service's message, verbatim (prefixed with the
    # definition's name when there are several).
    prefix = "" if d.label == "TrainingJobDefinition" else f"{d.label}: "
    return [
        f"{prefix}A metric is required for this hyperparameter tuning job objective. "
        "Provide a metric in the metric definitions."
    ]


def resource_problems(label: str, body: dict) -> list[str]:
    """C24, then the stopping condition (C25)."""
    problems = []
    plain, tuning = body.get("ResourceConfig"), body.get("HyperParameterTuningResourceConfig")
    if plain is not None and tuning is not None:
        problems.append(
            f"{label}: specify either ResourceConfig or HyperParameterTuningResourceConfig, "
            "not both."
        )
    elif plain is None and tuning is None:
        problems.append(f"{label}: ResourceConfig is required.")
    if tuning and tuning.get("InstanceConfigs"):
        extra = [k for k in ("InstanceType", "InstanceCount", "VolumeSizeInGB") if k in tuning]
        if extra:
            problems.append(
                f"{label}: with HyperParameterTuningResourceConfig.InstanceConfigs, do not set "
                f"{', '.join(extra)}."
            )
    return problems + stopping_problems(label, body)


def stopping_problems(label: str, body: dict) -> list[str]:
    """C25 and the runtime limit of StoppingCondition."""
    stop = body["StoppingCondition"]
    runtime = stop.get("MaxRuntimeInSeconds", DEFAULT_TRAINING_RUNTIME)
    wait = stop.get("MaxWaitTimeInSeconds")
    spot = body.get("EnableManagedSpotTraining", False)
    problems = []
    if runtime > MAX_TRAINING_RUNTIME:
        problems.append(
            f"{label}: StoppingCondition.MaxRuntimeInSeconds must be at most "
            f"{MAX_TRAINING_RUNTIME} (28 days); it is {runtime}."
        )
    if wait is not None and not spot:
        problems.append(
            f"{label}: StoppingCondition.MaxWaitTimeInSeconds is only for managed spot "
            "training; set EnableManagedSpotTraining or remove it."
        )
    elif spot and wait is None:
        problems.append(
            f"{label}: managed spot training needs StoppingCondition.MaxWaitTimeInSeconds."
        )
    elif spot and wait < runtime:
        problems.append(
            f"{label}: StoppingCondition.MaxWaitTimeInSeconds ({wait}) must be greater than or "
            f"equal to MaxRuntimeInSeconds ({runtime})."
        )
    return problems
