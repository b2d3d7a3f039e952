"""`SmLocal.ImportHyperParameterTuningJob`: store a finished tuning job copied from any
SageMaker endpoint (or a bundle file, or the SDK's analytics CSV) as a read-only imported job.

The request is the client's bundle (`orchestrator.client.bundle`, format in the README): the
tuning job's Describe, per training job its Describe (with FinalMetricDataList), its summary
from ListTrainingJobsForHyperParameterTuningJob, its tags and optionally its metric series
(CloudWatch), the tuning job's tags and a free-text Source. Everything is validated against
SageMaker's own output shapes (so a malformed bundle is a ValidationException naming the
member) and stored in one transaction by `Store.insert_imported`: never half an import. What
the documents become is `controller.imported`.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from botocore.loaders import create_loader

from orchestrator.controller.extensions import Context, Extension
from orchestrator.controller.imported import ImportPlan, plan_import
from orchestrator.errors import ResourceInUse

# Members the import itself rewrites or cannot always know (the analytics CSV has no model
# artifacts or secondary status): not required here, although SageMaker's Describe has them.
_TUNING_REQUIRED = ["HyperParameterTuningJobName", "HyperParameterTuningJobConfig",
                    "HyperParameterTuningJobStatus", "CreationTime",
                    "TrainingJobStatusCounters", "ObjectiveStatusCounters"]
_TRAINING_REQUIRED = ["TrainingJobName", "TrainingJobStatus", "CreationTime"]
_SUMMARY_REQUIRED = ["TrainingJobName", "CreationTime", "TrainingJobStatus",
                     "TunedHyperParameters"]
MAX_TRAINING_JOBS = 10_000  # Random's MaxNumberOfTrainingJobs quota


@cache
def _sagemaker_shapes() -> dict[str, Any]:
    return create_loader().load_service_model("sagemaker", "service-2")["shapes"]


def _relaxed(shape: str, required: tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(_sagemaker_shapes()[shape])
    out["required"] = list(required)
    return out


def _tuning_shape() -> dict[str, Any]:
    shape = copy.deepcopy(_relaxed("DescribeHyperParameterTuningJobResponse",
                                   tuple(_TUNING_REQUIRED)))
    for key in ("BestTrainingJob", "OverallBestTrainingJob"):  # their ARNs are rewritten too
        shape["members"][key] = {"shape": "SmLocalImportedTrainingJobSummary"}
    return shape


def _shapes() -> dict[str, dict[str, Any]]:
    return {
        "ImportHyperParameterTuningJobRequest": {
            "type": "structure", "required": ["Source", "TuningJob", "TrainingJobs"],
            "members": {
                # The local name (`--as`); default: the source's name.
                "HyperParameterTuningJobName": {"shape": "HyperParameterTuningJobName"},
                "Source": {"shape": "SmLocalImportSource"},
                "TuningJob": {"shape": "SmLocalImportedTuningJob"},
                "Tags": {"shape": "SmLocalImportedTags"},
                "TrainingJobs": {"shape": "SmLocalImportedTrainingJobs"},
            }},
        "ImportHyperParameterTuningJobResponse": {
            "type": "structure", "required": ["HyperParameterTuningJobArn"],
            "members": {"HyperParameterTuningJobArn": {"shape": "HyperParameterTuningJobArn"},
                        "HyperParameterTuningJobName": {"shape": "HyperParameterTuningJobName"},
                        "TrainingJobCount": {"shape": "Integer"},
                        "MetricSampleCount": {"shape": "Long"}}},
        "SmLocalImportSource": {"type": "string", "min": 1, "max": 2048},
        "SmLocalImportedTuningJob": _tuning_shape(),
        "SmLocalImportedTags": {"type": "list", "member": {"shape": "Tag"}, "max": 200},
        "SmLocalImportedTrainingJobs": {"type": "list", "max": MAX_TRAINING_JOBS,
                                        "member": {"shape": "SmLocalImportedTrainingJobEntry"}},
        "SmLocalImportedTrainingJobEntry": {
            "type": "structure", "required": ["Description"],
            "members": {"Description": {"shape": "SmLocalImportedTrainingJob"},
                        "Summary": {"shape": "SmLocalImportedTrainingJobSummary"},
                        "Tags": {"shape": "SmLocalImportedTags"},
                        "MetricSeries": {"shape": "SmLocalMetricSeriesList"}}},
        "SmLocalImportedTrainingJob": _relaxed("DescribeTrainingJobResponse",
                                               tuple(_TRAINING_REQUIRED)),
        "SmLocalImportedTrainingJobSummary": _relaxed("HyperParameterTrainingJobSummary",
                                                      tuple(_SUMMARY_REQUIRED)),
        "SmLocalMetricSeriesList": {"type": "list", "max": 100,
                                    "member": {"shape": "SmLocalMetricSeries"}},
        "SmLocalMetricSeries": {
            "type": "structure", "required": ["MetricName", "Timestamps", "Values"],
            "members": {"MetricName": {"shape": "MetricName"},
                        "Timestamps": {"shape": "SmLocalTimestamps"},
                        "Values": {"shape": "SmLocalValues"}}},
        # Epoch seconds as numbers (the bundle's format): a Timestamp member would cost a
        # date parse per sample in botocore's validator (~35 s for 225,000 samples).
        "SmLocalTimestamps": {"type": "list", "member": {"shape": "Double"}, "max": 100_000},
        "SmLocalValues": {"type": "list", "member": {"shape": "Double"}, "max": 100_000},
    }


def import_hyper_parameter_tuning_job(ctx: Context, request: dict[str, Any]) -> dict[str, Any]:
    plan = plan_import(request, ctx.settings, ctx.clock.now())
    _check_names(ctx, plan)
    ctx.store.insert_imported(plan.tuning, plan.training, plan.metrics, plan.tags)
    return {"HyperParameterTuningJobArn": plan.tuning["HyperParameterTuningJobArn"],
            "HyperParameterTuningJobName": plan.tuning["HyperParameterTuningJobName"],
            "TrainingJobCount": len(plan.training),
            "MetricSampleCount": sum(len(rows) for rows in plan.metrics.values())}


def _check_names(ctx: Context, plan: ImportPlan) -> None:
    """Names taken here, said with the way out; the store checks again in its transaction."""
    name = plan.tuning["HyperParameterTuningJobName"]
    if ctx.store.get_tuning_job(name) is not None:
        raise ResourceInUse(
            f"A hyperparameter tuning job named {name} already exists here. Import it under "
            "another name: `smlocal import ... --as NEWNAME` (HyperParameterTuningJobName in "
            "the request).")
    for doc in plan.training:
        job = doc["TrainingJobName"]
        if ctx.store.get_training_job(job) is not None:
            raise ResourceInUse(
                f"A training job named {job} already exists here (imported before, or run "
                "here); import the tuning job under another name with --as NEWNAME, which "
                "renames its training jobs too.")


OPERATIONS = [Extension("ImportHyperParameterTuningJob", _shapes(),
                        import_hyper_parameter_tuning_job)]
