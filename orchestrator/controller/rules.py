"""Cross-field rules of CreateHyperParameterTuningJob and CreateTrainingJob (spec §2.1, §2.7).

These run after `orchestrator.api.validation` has checked the request against botocore's input
shape, so every member here already has the right type, length, pattern and enum value. Only
what the model cannot express lives here; rule numbers are the spec's (C2..C26). Messages are
the real service's where the spec quotes one ([OBS]) and otherwise say what to fix.

One problem raises `ValidationError(message)` with that exact message (as AWS answers a semantic
error); several raise `ValidationError.from_problems`. Account quotas (C17) raise
`ResourceLimitExceeded`, after the validation rules passed.

This module holds the entry points and the quotas (C17, C22); the rules themselves, each
returning the problems it found, are in `rules_definitions` (C2–C5, C23–C26), `rules_builtin`
(built-in algorithm images: their own metrics instead of C5, what runs locally), `rules_strategy`
(C7, C9, C10, C21), `rules_ranges` (C8, C12–C15) and `rules_warm_start` (C18–C20).
"""

from __future__ import annotations

from orchestrator.config import Quotas
from orchestrator.controller.rules_builtin import builtin_problems, is_builtin
from orchestrator.controller.rules_definitions import (
    Definition,
    algorithm_problems,
    definitions,
    objective_problems,
    resource_problems,
    stopping_problems,
)
from orchestrator.controller.rules_ranges import (
    combination_problems,
    discrete_combinations,
    grid_points,
    range_problems,
)
from orchestrator.controller.rules_strategy import strategy_problems
from orchestrator.controller.rules_warm_start import warm_start_problems
from orchestrator.errors import ResourceLimitExceeded, ValidationError
from orchestrator.images import ImageResolver
from orchestrator.status import Strategy


def check_tuning_job_request(request: dict, quotas: Quotas,
                             images: ImageResolver | None = None) -> list[Definition]:
    """C2–C17, C21, C23–C26 for a shape-valid CreateHyperParameterTuningJob request; returns
    its definitions as parsed here, so the service builds the tuning spec without parsing the
    request again. `images`: whose image map may make a built-in algorithm without stand-in
    runnable (default: no map)."""
    images = images or ImageResolver()
    problems: list[str] = []
    if "Autotune" in request:
        # Spec §4.7 [INF]: AMT's Autotune choices are not public; guessing ranges and limits
        # would give results no one could compare with SageMaker's. Say so instead.
        _raise(["Autotune is not supported by smlocal: give HyperParameterTuningJobObjective, "
                "ParameterRanges and ResourceLimits explicitly (remove Autotune)"])
    found = definitions(request, problems)
    cfg = request["HyperParameterTuningJobConfig"]
    problems += strategy_problems(request, cfg, found)
    for definition in found:
        problems += algorithm_problems(definition.label, definition.body)
        # C5 is for custom images; built-in algorithms define their own metrics.
        problems += (builtin_problems(definition, images) if is_builtin(definition)
                     else objective_problems(definition))
        problems += range_problems(definition)
        problems += resource_problems(definition.label, definition.body)
    problems += combination_problems(cfg, found)
    _raise(problems)
    _check_tuning_quotas(request, found, quotas)
    return found


def check_training_job_request(request: dict) -> None:
    """Rules for a standalone CreateTrainingJob that runs a container locally (spec §2.7)."""
    problems = []
    for member in ("AlgorithmSpecification", "ResourceConfig", "StoppingCondition"):
        if member not in request:
            problems.append(
                f"{member} is required: smlocal runs training jobs as local containers "
                "(serverless training jobs are not supported)."
            )
    if "AlgorithmSpecification" in request:
        problems += algorithm_problems("CreateTrainingJob", request)
    if "StoppingCondition" in request:
        problems += stopping_problems("CreateTrainingJob", request)
    _raise(problems)


def check_warm_start(request: dict, parents: list[dict], quotas: Quotas | None = None) -> None:
    """C18–C20 (and C22 when `quotas` is given and parents carry `TrainingJobStatusCounters`).

    `parents`: the stored CreateHyperParameterTuningJob request of every parent found, each with
    its `HyperParameterTuningJobStatus`. A parent named in WarmStartConfig but absent from
    `parents` is reported as not found.
    """
    warm = request.get("WarmStartConfig")
    if not warm:
        return
    problems, found = warm_start_problems(request, warm, parents)
    _raise(problems)
    if quotas is not None:
        _check_parent_jobs_quota(request, found, quotas)


def default_max_jobs(request: dict, default: int = 100,
                     found: list[Definition] | None = None) -> int:
    """MaxNumberOfTrainingJobs when the request omits it (C6, spec Q1).

    Grid: the number of grid points (Π |Values| per definition, summed). Otherwise `default`
    (100, `Settings.default_max_training_jobs`), capped at the number of distinct
    configurations when the space is fully discrete, since the service never repeats one (C8).
    `found`: the request's definitions when already parsed.
    """
    cfg = request["HyperParameterTuningJobConfig"]
    given = cfg.get("ResourceLimits", {}).get("MaxNumberOfTrainingJobs")
    if given is not None:
        return given
    if found is None:
        found = definitions(request, [])
    ranges = [d.ranges for d in found]
    if cfg["Strategy"] == Strategy.Grid:
        return grid_points(ranges)
    combos = discrete_combinations(ranges)
    return default if combos is None else max(1, min(default, combos))


def check_concurrent_tuning_jobs(in_progress: int, quotas: Quotas) -> None:
    """C17: one more InProgress tuning job must fit the account quota (100 on AWS)."""
    _quota(
        "Number of concurrent hyperparameter tuning jobs",
        quotas.max_concurrent_tuning_jobs,
        in_progress,
        1,
        "Jobs",
        "max_concurrent_tuning_jobs",
    )


def _raise(problems: list[str]) -> None:
    if len(problems) == 1:
        raise ValidationError(problems[0])
    if problems:
        raise ValidationError.from_problems(problems)


# -- quotas (C17, C22) ----------------------------------------------------------------------


def _check_tuning_quotas(request: dict, found: list[Definition], quotas: Quotas) -> None:
    cfg = request["HyperParameterTuningJobConfig"]
    limits = cfg["ResourceLimits"]
    _quota(
        "Maximum number of parallel training jobs per hyperparameter tuning job",
        quotas.max_parallel_training_jobs,
        0,
        limits["MaxParallelTrainingJobs"],
        "Jobs",
        "max_parallel_training_jobs",
    )
    if cfg["Strategy"] == Strategy.Grid:
        _quota(
            "Maximum number of Grid search combinations per hyperparameter tuning job",
            quotas.max_grid_combinations,
            0,
            grid_points([d.ranges for d in found]),
            "Combinations",
            "max_grid_combinations",
        )
    _check_training_jobs_quota(request, quotas, found=found)


def _check_parent_jobs_quota(request: dict, parents: list[dict], quotas: Quotas) -> None:
    counters = [
        p["TrainingJobStatusCounters"] for p in parents if "TrainingJobStatusCounters" in p
    ]
    if not counters:
        return
    used = sum(sum(c.values()) for c in counters)
    _check_training_jobs_quota(
        request, quotas, used, scope=", including the training jobs of its warm start parents"
    )


def _check_training_jobs_quota(
    request: dict, quotas: Quotas, used: int = 0, scope: str = "",
    found: list[Definition] | None = None,
) -> None:
    """The request's training jobs (MaxNumberOfTrainingJobs, or its default) on top of `used`;
    `scope` completes the quota's name."""
    if request["HyperParameterTuningJobConfig"]["Strategy"] == Strategy.Random:
        field, limit = "max_training_jobs_random", quotas.max_training_jobs_random
    else:
        field, limit = "max_training_jobs", quotas.max_training_jobs
    _quota(
        f"Maximum number of training jobs per hyperparameter tuning job{scope}",
        limit,
        used,
        default_max_jobs(request, found=found),
        "Jobs",
        field,
    )


def _quota(name: str, limit: int, used: int, delta: int, unit: str, field: str) -> None:
    if used + delta <= limit:
        return
    # C17 [OBS amazon-sagemaker-examples#1543]: the service's template, then the local remedy.
    raise ResourceLimitExceeded(
        f"The account-level service limit '{name}' is {limit} {unit}, with current utilization "
        f"of {used} {unit} and a request delta of {delta} {unit}. Please contact AWS support to "
        f"request an increase for this limit. (smlocal: raise it locally with the environment "
        f"variable SMLOCAL_QUOTA_{field.upper()} when starting smlocal.)"
    )
