"""Warm start rules (C18–C20): the parents a tuning job names, and how it may differ from them.

`warm_start_problems` returns the problems it found; `orchestrator.controller.rules` raises
them and checks the parents' training jobs against the quota (C22).
"""

from __future__ import annotations

from orchestrator.controller.constants import TUNING_OBJECTIVE_KEY
from orchestrator.status import TuningJobStatus, WarmStartType
from orchestrator.strategies.space import RANGE_KINDS

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
# in the order the message lists them
TERMINAL_TUNING_STATUSES = tuple(s.value for s in (
    TuningJobStatus.Completed, TuningJobStatus.Stopped, TuningJobStatus.Failed))


def warm_start_problems(
    request: dict, warm: dict, parents: list[dict]
) -> tuple[list[str], list[dict]]:
    """The problems with `warm` (the request's WarmStartConfig), and the parents it names that
    were found in `parents` (stored requests, each with its HyperParameterTuningJobStatus)."""
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
    return problems, found


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
    if warm_type == WarmStartType.IdenticalDataAndAlgorithm:
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
