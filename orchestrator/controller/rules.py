"""Cross-field rules of CreateHyperParameterTuningJob and CreateTrainingJob (spec §2.1, §2.7).

These run after `orchestrator.api.validation` has checked the request against botocore's input
shape, so every member here already has the right type, length, pattern and enum value. Only
what the model cannot express lives here; rule numbers are the spec's (C2..C26). Messages are
the real service's where the spec quotes one ([OBS]) and otherwise say what to fix.

One problem raises `ValidationError(message)` with that exact message (as AWS answers a semantic
error); several raise `ValidationError.from_problems`. Account quotas (C17) raise
`ResourceLimitExceeded`, after the validation rules passed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from orchestrator import sagemaker_model
from orchestrator.config import Quotas
from orchestrator.errors import ResourceLimitExceeded, ValidationError

TUNING_OBJECTIVE_KEY = "_tuning_objective_metric"
RANGE_KINDS = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")
# C10 [DOC API_HyperbandStrategyConfig]: where MaxResource is inferred from, in this order.
HYPERBAND_EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
HYPERBAND_MAX_RESOURCE = 20_000
MAX_TUNABLE_HYPERPARAMETERS = 30  # C15 [DOC define-ranges]: across the three range lists
MAX_TRAINING_RUNTIME = 28 * 24 * 3600  # [API doc] StoppingCondition.MaxRuntimeInSeconds
DEFAULT_TRAINING_RUNTIME = 86_400
# C20 [OBS sagemaker-python-sdk#3693]
WARM_START_MUTABLE = (
    "AlgorithmSpecification",
    "InputDataConfig",
    "OutputDataConfig",
    "StaticHyperParameters",
    "RoleArn",
    "ResourceConfig",
    "StoppingCondition",
    "VpcConfig",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
)
MAX_WARM_START_CHANGES = 10  # C19 [DOC warm-start restrictions]
TERMINAL_TUNING_STATUSES = ("Completed", "Stopped", "Failed")

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class _Definition:
    label: str
    body: dict
    objective: dict | None
    ranges: dict


def check_tuning_job_request(request: dict, quotas: Quotas) -> None:
    """C2–C17, C21, C23–C26 for a shape-valid CreateHyperParameterTuningJob request."""
    problems: list[str] = []
    definitions = _definitions(request, problems)
    cfg = request["HyperParameterTuningJobConfig"]
    problems += _strategy_problems(request, cfg, definitions)
    for definition in definitions:
        problems += _algorithm_problems(definition.label, definition.body)
        problems += _objective_problems(definition)
        problems += _range_problems(definition)
        problems += _resource_problems(definition.label, definition.body)
    problems += _combination_problems(cfg, definitions)
    _raise(problems)
    _check_tuning_quotas(request, definitions, quotas)


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
        problems += _algorithm_problems("CreateTrainingJob", request)
    if "StoppingCondition" in request:
        problems += _stopping_problems("CreateTrainingJob", request)
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
    by_name = {p["HyperParameterTuningJobName"].lower(): p for p in parents}
    problems: list[str] = []
    seen: set[str] = set()
    found = []
    for entry in warm["ParentHyperParameterTuningJobs"]:
        name = entry.get("HyperParameterTuningJobName")
        if name is None:  # optional in the model, needed here
            problems.append(
                "Each ParentHyperParameterTuningJobs entry needs a HyperParameterTuningJobName."
            )
            continue
        if name.lower() in seen:
            problems.append(f"Parent tuning job {name} is listed more than once.")
            continue
        seen.add(name.lower())
        parent = by_name.get(name.lower())
        if parent is None:
            problems.append(
                f"Amazon SageMaker can't find a tuning job called {name}. Type another name."
            )
        else:
            problems += _parent_problems(request, parent, warm["WarmStartType"])
            found.append(parent)
    _raise(problems)
    if quotas is not None:
        _check_parent_jobs_quota(request, found, quotas)


def default_max_jobs(request: dict, default: int = 100) -> int:
    """MaxNumberOfTrainingJobs when the request omits it (C6, spec Q1).

    Grid: the number of grid points (Π |Values| per definition, summed). Otherwise `default`
    (100, `Settings.default_max_training_jobs`), capped at the number of distinct
    configurations when the space is fully discrete, since the service never repeats one (C8).
    """
    cfg = request["HyperParameterTuningJobConfig"]
    given = cfg.get("ResourceLimits", {}).get("MaxNumberOfTrainingJobs")
    if given is not None:
        return given
    ranges = [d.ranges for d in _definitions(request, [])]
    if cfg["Strategy"] == "Grid":
        return sum(_grid_size(r) for r in ranges)
    combos = _discrete_combinations(ranges)
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


# -- definitions (C2, C3, C4) ---------------------------------------------------------------


def _definitions(request: dict, problems: list[str]) -> list[_Definition]:
    cfg = request["HyperParameterTuningJobConfig"]
    single, multi = request.get("TrainingJobDefinition"), request.get("TrainingJobDefinitions")
    if (single is None) == (multi is None):
        problems.append("Provide exactly one of TrainingJobDefinition and TrainingJobDefinitions.")
        return []
    if single is not None:
        return [_single_definition(request, cfg, single, problems)]
    return _multi_definitions(cfg, multi, problems)


def _single_definition(request: dict, cfg: dict, body: dict, problems: list[str]) -> _Definition:
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
    return _Definition("TrainingJobDefinition", body, objective, cfg.get("ParameterRanges", {}))


def _multi_definitions(cfg: dict, bodies: list[dict], problems: list[str]) -> list[_Definition]:
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
            _Definition(
                label, body, body.get("TuningObjective"), body.get("HyperParameterRanges", {})
            )
        )
    return out


# -- strategy (C7, C9, C10, C21) ------------------------------------------------------------


def _strategy_problems(request: dict, cfg: dict, definitions: list[_Definition]) -> list[str]:
    problems = []
    strategy = cfg["Strategy"]
    early = cfg.get("TrainingJobEarlyStoppingType", "Off")
    if "TrainingJobDefinitions" in request and (early == "Auto" or "WarmStartConfig" in request):
        problems.append(
            "WarmStartConfig and TrainingJobEarlyStoppingType=Auto can be used only with "
            "TrainingJobDefinition, not with TrainingJobDefinitions."
        )
    if strategy == "Grid":
        problems += _grid_problems(cfg, definitions)
    if strategy == "Hyperband":
        if early == "Auto":
            problems.append(
                "TrainingJobEarlyStoppingType must be Off with the Hyperband strategy: "
                "Hyperband stops under-performing training jobs itself."
            )
        problems += _hyperband_problems(cfg, definitions)
    return problems


def _grid_problems(cfg: dict, definitions: list[_Definition]) -> list[str]:
    problems = []
    for d in definitions:
        names = [
            r["Name"]
            for kind in ("IntegerParameterRanges", "ContinuousParameterRanges")
            for r in d.ranges.get(kind, [])
        ]
        names += [r["Name"] for r in d.ranges.get("AutoParameters", [])]
        if names:
            problems.append(
                f"{d.label}: the Grid strategy supports only CategoricalParameterRanges; "
                f"make these categorical or use another strategy: {', '.join(names)}."
            )
    given = cfg["ResourceLimits"].get("MaxNumberOfTrainingJobs")
    size = sum(_grid_size(d.ranges) for d in definitions)
    if not problems and given is not None and given != size:
        problems.append(
            f"With the Grid strategy, MaxNumberOfTrainingJobs must equal the number of "
            f"combinations of the categorical values ({size}), or be omitted; it is {given}."
        )
    return problems


def _hyperband_problems(cfg: dict, definitions: list[_Definition]) -> list[str]:
    hb = cfg.get("StrategyConfig", {}).get("HyperbandStrategyConfig", {})
    low = hb.get("MinResource", 1)
    high = hb.get("MaxResource")
    problems = []
    if high is None:
        for d in definitions:
            inferred, problem = _inferred_max_resource(d)
            if problem:
                problems.append(problem)
            elif inferred is not None:
                high = inferred if high is None else min(high, inferred)
    if high is not None and high > HYPERBAND_MAX_RESOURCE:
        problems.append(
            f"HyperbandStrategyConfig.MaxResource must be at most {HYPERBAND_MAX_RESOURCE}; "
            f"it is {high}."
        )
    if high is not None and low > high:
        problems.append(
            f"HyperbandStrategyConfig.MinResource ({low}) must not exceed MaxResource ({high})."
        )
    return problems


def _inferred_max_resource(d: _Definition) -> tuple[int | None, str | None]:
    static = d.body.get("StaticHyperParameters", {})
    key = next((k for k in HYPERBAND_EPOCH_KEYS if k in static), None)
    if key is None:
        return None, (
            f"{d.label}: Hyperband needs HyperbandStrategyConfig.MaxResource, or a static "
            f"hyperparameter to infer it from ({', '.join(HYPERBAND_EPOCH_KEYS)})."
        )
    value = static[key].strip()
    if not _INT.fullmatch(value) or int(value) < 1:
        return None, (
            f"{d.label}: static hyperparameter {key}='{static[key]}' must be a positive integer "
            "to serve as Hyperband's MaxResource."
        )
    return int(value), None


# -- per definition (C5, C12–C15, C23–C26) --------------------------------------------------


def _algorithm_problems(label: str, body: dict) -> list[str]:
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


def _objective_problems(d: _Definition) -> list[str]:
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


def _range_problems(d: _Definition) -> list[str]:
    problems = []
    kinds: dict[str, str] = {}
    for kind in (*RANGE_KINDS, "AutoParameters"):
        for r in d.ranges.get(kind, []):
            name = r["Name"]
            if name in kinds:
                problems.append(
                    f"{d.label}: hyperparameter {name} has more than one range "
                    f"({kinds[name]}, {kind}); give each tunable hyperparameter one range."
                )
            kinds[name] = kind
            problems += _bound_problems(d.label, kind, r)
    static = d.body.get("StaticHyperParameters", {})
    both = sorted(set(kinds) & set(static))
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
    total = len(set(static) | set(kinds) | {TUNING_OBJECTIVE_KEY})
    if total > limit:
        problems.append(
            f"{d.label}: static plus tunable hyperparameters, including "
            f"{TUNING_OBJECTIVE_KEY}, must be at most {limit}; there are {total}."
        )
    return problems


def _bound_problems(label: str, kind: str, r: dict) -> list[str]:
    where = f"{label}: {kind} '{r['Name']}'"
    if kind == "CategoricalParameterRanges":
        values = r["Values"]
        dupes = sorted({v for v in values if values.count(v) > 1})
        return [f"{where} lists duplicate values: {', '.join(dupes)}."] if dupes else []
    if kind == "AutoParameters":
        return []
    integer = kind == "IntegerParameterRanges"
    low, high = _number(r["MinValue"], integer), _number(r["MaxValue"], integer)
    if low is None or high is None:
        what = "integers" if integer else "numbers"
        return [
            f"{where}: MinValue and MaxValue must be {what} "
            f"(got '{r['MinValue']}' and '{r['MaxValue']}')."
        ]
    if not low < high:
        return [
            f"{where}: MinValue ({r['MinValue']}) must be less than MaxValue ({r['MaxValue']})."
        ]
    scaling = r.get("ScalingType", "Auto")
    if scaling == "Logarithmic" and low <= 0:
        return [f"{where}: Logarithmic scaling needs MinValue greater than 0."]
    if scaling == "ReverseLogarithmic" and (integer or not 0 <= low < high < 1):
        return [
            f"{where}: ReverseLogarithmic scaling is only for continuous ranges with "
            "0 <= MinValue < MaxValue < 1."
        ]
    return []


def _number(text: str, integer: bool) -> float | None:
    text = text.strip()
    if integer:
        return int(text) if _INT.fullmatch(text) else None
    if not _FLOAT.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _resource_problems(label: str, body: dict) -> list[str]:
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
    return problems + _stopping_problems(label, body)


def _stopping_problems(label: str, body: dict) -> list[str]:
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


# -- counting configurations (C7, C8) -------------------------------------------------------


def _grid_size(ranges: dict) -> int:
    return math.prod(len(set(r["Values"])) for r in ranges.get("CategoricalParameterRanges", []))


def _discrete_combinations(all_ranges: list[dict]) -> int | None:
    """Distinct configurations over all definitions, or None if any range is continuous."""
    total = 0
    for ranges in all_ranges:
        if ranges.get("ContinuousParameterRanges") or ranges.get("AutoParameters"):
            return None
        sizes = [len(set(r["Values"])) for r in ranges.get("CategoricalParameterRanges", [])]
        for r in ranges.get("IntegerParameterRanges", []):
            low, high = _number(r["MinValue"], True), _number(r["MaxValue"], True)
            if low is None or high is None:
                return None
            sizes.append(max(0, int(high) - int(low) + 1))
        total += math.prod(sizes) if sizes else 0
    return total


def _combination_problems(cfg: dict, definitions: list[_Definition]) -> list[str]:
    given = cfg["ResourceLimits"].get("MaxNumberOfTrainingJobs")
    if cfg["Strategy"] == "Grid" or given is None or not definitions:
        return []
    combos = _discrete_combinations([d.ranges for d in definitions])
    if combos is None or combos == 0 or combos >= given:
        return []
    # C8 [OBS amazon-sagemaker-operator-for-k8s#123]: the service's message, verbatim.
    return [
        "You don't have enough combinations of hyperparameter ranges. The total number of "
        f"hyperparameter combinations for the provided ranges [{float(combos)}] must be equal "
        f"or greater than the value of MaxNumberOfJobs, [{given}]. Provide additional ranges."
    ]


# -- quotas (C17, C22) ----------------------------------------------------------------------


def _check_tuning_quotas(request: dict, definitions: list[_Definition], quotas: Quotas) -> None:
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
    if cfg["Strategy"] == "Grid":
        size = sum(_grid_size(d.ranges) for d in definitions)
        _quota(
            "Maximum number of Grid search combinations per hyperparameter tuning job",
            quotas.max_grid_combinations,
            0,
            size,
            "Combinations",
            "max_grid_combinations",
        )
    field, limit = _jobs_quota(cfg, quotas)
    _quota(
        "Maximum number of training jobs per hyperparameter tuning job",
        limit,
        0,
        default_max_jobs(request),
        "Jobs",
        field,
    )


def _check_parent_jobs_quota(request: dict, parents: list[dict], quotas: Quotas) -> None:
    counters = [
        p["TrainingJobStatusCounters"] for p in parents if "TrainingJobStatusCounters" in p
    ]
    if not counters:
        return
    used = sum(sum(c.values()) for c in counters)
    field, limit = _jobs_quota(request["HyperParameterTuningJobConfig"], quotas)
    _quota(
        "Maximum number of training jobs per hyperparameter tuning job, including the "
        "training jobs of its warm start parents",
        limit,
        used,
        default_max_jobs(request),
        "Jobs",
        field,
    )


def _jobs_quota(cfg: dict, quotas: Quotas) -> tuple[str, int]:
    if cfg["Strategy"] == "Random":
        return "max_training_jobs_random", quotas.max_training_jobs_random
    return "max_training_jobs", quotas.max_training_jobs


def _quota(name: str, limit: int, used: int, delta: int, unit: str, field: str) -> None:
    if used + delta <= limit:
        return
    # C17 [OBS amazon-sagemaker-examples#1543]: the service's template, then the local remedy.
    raise ResourceLimitExceeded(
        f"The account-level service limit '{name}' is {limit} {unit}, with current utilization "
        f"of {used} {unit} and a request delta of {delta} {unit}. Please contact AWS support to "
        f"request an increase for this limit. (smlocal: raise the local quota Quotas.{field}.)"
    )


# -- warm start (C18–C20) -------------------------------------------------------------------


def _parent_problems(request: dict, parent: dict, warm_type: str) -> list[str]:
    name = parent["HyperParameterTuningJobName"]
    status = parent.get("HyperParameterTuningJobStatus")
    if status not in TERMINAL_TUNING_STATUSES:
        return [
            f"Parent tuning job {name} is {status}; warm start needs parents that ended "
            f"({', '.join(TERMINAL_TUNING_STATUSES)})."
        ]
    if "TrainingJobDefinition" not in parent or "TrainingJobDefinition" not in request:
        return [
            f"Parent tuning job {name} uses TrainingJobDefinitions; warm start supports "
            "single-algorithm tuning jobs only."
        ]
    problems = _parent_objective_problems(request, parent, name)
    problems += _parent_hyperparameter_problems(request, parent, name)
    if warm_type == "IdenticalDataAndAlgorithm":
        problems += _identical_definition_problems(request, parent)
    return problems


def _parent_objective_problems(request: dict, parent: dict, name: str) -> list[str]:
    mine = request["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective")
    theirs = parent["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective")
    if mine == theirs or not mine or not theirs:
        return []
    return [
        f"The objective of a warm start job must be its parent's: {name} "
        f"{theirs['Type'].lower()}s {theirs['MetricName']}."
    ]


def _tunable_kinds(job: dict) -> dict[str, str]:
    ranges = job["HyperParameterTuningJobConfig"].get("ParameterRanges", {})
    return {r["Name"]: kind for kind in RANGE_KINDS for r in ranges.get(kind, [])}


def _parent_hyperparameter_problems(request: dict, parent: dict, name: str) -> list[str]:
    my_static = request["TrainingJobDefinition"].get("StaticHyperParameters", {})
    their_static = parent["TrainingJobDefinition"].get("StaticHyperParameters", {})
    mine, theirs = _tunable_kinds(request), _tunable_kinds(parent)
    ignore = {TUNING_OBJECTIVE_KEY}
    if (set(my_static) | set(mine)) - ignore != (set(their_static) | set(theirs)) - ignore:
        # C19 [OBS amazon-sagemaker-examples#861]: the service's message, verbatim.
        return [
            "The set of tunable plus static HyperParameter names is not the same across "
            "current and parent tuning jobs. Please ensure this set is constant when warm "
            "starting. Note that previously static HyperParameters can be tuned in warm "
            "start jobs and vice versa."
        ]
    problems = [
        f"Hyperparameter {hp} is {mine[hp]} here but {theirs[hp]} in parent {name}; warm start "
        "cannot change the range type of a tunable hyperparameter."
        for hp in sorted(set(mine) & set(theirs))
        if mine[hp] != theirs[hp]
    ]
    frozen = [hp for hp in theirs if hp in my_static]
    changed = [hp for hp in my_static if hp in their_static and my_static[hp] != their_static[hp]]
    if len(frozen) + len(changed) > MAX_WARM_START_CHANGES:
        problems.append(
            f"Warm start allows at most {MAX_WARM_START_CHANGES} changes of static "
            f"hyperparameters relative to parent {name} (tunable made static plus static "
            f"values changed); there are {len(frozen) + len(changed)}."
        )
    return problems


def _identical_definition_problems(request: dict, parent: dict) -> list[str]:
    mine, theirs = request["TrainingJobDefinition"], parent["TrainingJobDefinition"]
    keys = (set(mine) | set(theirs)) - set(WARM_START_MUTABLE)
    if all(mine.get(k) == theirs.get(k) for k in keys):
        return []
    # C20 [OBS sagemaker-python-sdk#3693]: the service's message, verbatim.
    allowed = ", ".join(k[:1].lower() + k[1:] for k in WARM_START_MUTABLE)
    return [
        f"Only the following fields in TrainingJobDefinition are allowed to change: [{allowed}]."
    ]


def _raise(problems: list[str]) -> None:
    if len(problems) == 1:
        raise ValidationError(problems[0])
    if problems:
        raise ValidationError.from_problems(problems)
