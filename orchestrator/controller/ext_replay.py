"""`SmLocal.CreateFixedPointsTuningJob`: a local tuning job that runs given configurations, in
the given order, each once (`strategies.fixed_points`); `smlocal replay` uses it to rerun here
what another tuning job (typically one imported from SageMaker) tried.

The request is a CreateHyperParameterTuningJob body (`TuningJob`, checked by the same rules as
CreateHyperParameterTuningJob) and the `Points`. Each point must give every tuned
hyperparameter, and nothing else, inside its range. What the job becomes:

- MaxNumberOfTrainingJobs = the number of points; early stopping Off, no completion criteria
  and no StrategyConfig (every point runs to its end); one TrainingJobDefinition, no warm start.
- Describe shows `Strategy: Random`, since SageMaker's enum has no fixed-points strategy (the
  SDK parses it), and the tag `smlocal:strategy=FixedPoints` says what ran; the strategy
  actually run is in the stored spec.
"""

from __future__ import annotations

import copy
from typing import Any

from orchestrator.controller import rules
from orchestrator.controller.extensions import Context, Extension
from orchestrator.controller.service import SageMakerService
from orchestrator.controller.spec import TuningSpec
from orchestrator.errors import ValidationError
from orchestrator.status import EarlyStoppingType, Strategy, TuningJobStatus
from orchestrator.strategies import fixed_points

MAX_POINTS = 750  # Random's default MaxNumberOfTrainingJobs quota is far above; a replay is small
STRATEGY_TAG = {"Key": "smlocal:strategy", "Value": fixed_points.NAME}

SHAPES: dict[str, dict[str, Any]] = {
    "CreateFixedPointsTuningJobRequest": {
        "type": "structure", "required": ["TuningJob", "Points"],
        "members": {"TuningJob": {"shape": "CreateHyperParameterTuningJobRequest"},
                    "Points": {"shape": "SmLocalPointList"}}},
    "SmLocalPointList": {"type": "list", "member": {"shape": "HyperParameters"},
                         "min": 1, "max": MAX_POINTS},
    "CreateFixedPointsTuningJobResponse": {
        "type": "structure", "required": ["HyperParameterTuningJobArn"],
        "members": {"HyperParameterTuningJobArn": {"shape": "HyperParameterTuningJobArn"}}},
}


def fixed_points_body(request: dict[str, Any]) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob body the job is stored as."""
    body = copy.deepcopy(request["TuningJob"])
    if "TrainingJobDefinitions" in body or "TrainingJobDefinition" not in body:
        raise ValidationError("A fixed-points tuning job takes one TrainingJobDefinition "
                              "(TrainingJobDefinitions is not supported).")
    if body.get("WarmStartConfig"):
        raise ValidationError("A fixed-points tuning job cannot be warm-started.")
    config = body["HyperParameterTuningJobConfig"]
    config["Strategy"] = Strategy.Random.value
    for key in ("StrategyConfig", "TuningJobCompletionCriteria"):
        config.pop(key, None)
    config["TrainingJobEarlyStoppingType"] = EarlyStoppingType.Off.value
    config["ResourceLimits"]["MaxNumberOfTrainingJobs"] = len(request["Points"])
    tags = [t for t in body.get("Tags") or [] if t["Key"] != STRATEGY_TAG["Key"]]
    body["Tags"] = [*tags, dict(STRATEGY_TAG)]
    return body


def create_fixed_points_tuning_job(ctx: Context, request: dict[str, Any]) -> dict[str, Any]:
    body = fixed_points_body(request)
    points = [dict(p) for p in request["Points"]]
    found = rules.check_tuning_job_request(body, ctx.settings.quotas, ctx.training.images)
    active = ctx.store.list_tuning_jobs(statuses=[TuningJobStatus.InProgress.value,
                                                  TuningJobStatus.Stopping.value])
    rules.check_concurrent_tuning_jobs(len(active), ctx.settings.quotas)
    service = SageMakerService(ctx.store, ctx.training, ctx.tuner, ctx.settings, ctx.clock)
    doc = service.tuning_doc(body, found)  # the stored form CreateHyperParameterTuningJob makes
    space = TuningSpec.from_dict(doc["_Spec"]).definitions[0].space
    problems = [p for i, point in enumerate(points)
                for p in fixed_points.point_problems(space, point, f"Points[{i}]")]
    if problems:
        raise ValidationError("; ".join(problems[:20]) + (
            f"; and {len(problems) - 20} more" if len(problems) > 20 else ""))
    doc["_Spec"].update(Strategy=fixed_points.NAME, Points=points)
    # inserted whole, spec included, so the tuner never sees it without its points
    ctx.store.insert_tuning_job(doc)
    ctx.store.add_tags(doc["HyperParameterTuningJobArn"], body["Tags"])
    ctx.tuner.wake()
    return {"HyperParameterTuningJobArn": doc["HyperParameterTuningJobArn"]}


OPERATIONS = [Extension("CreateFixedPointsTuningJob", SHAPES, create_fixed_points_tuning_job)]
