"""What a SageMaker Python SDK v3 user runs, unchanged, against smlocal (issue 17).

Run by tests/integration/test_sdk_v3.py with the v3 virtual environment's interpreter
(`/opt/smlocal-sdk3/bin/python`, made by scripts/setup-sdk3.sh): v2 and v3 are the same
distribution (`sagemaker`) and cannot share an environment. Nothing here names smlocal or
passes a session: the endpoint, region and credentials come from the environment
(`AWS_ENDPOINT_URL`, ...), the bucket and telemetry from the SDK's config file
(`SAGEMAKER_USER_CONFIG_OVERRIDE`), and role validation (IAM GetRole + SimulatePrincipalPolicy)
is left on. The SDK is not patched; its log records are only listened to (the role resolver's
verdict, the training log it tails from CloudWatch Logs).

Usage: python sdk_v3_client.py IMAGE DATA_URI ROLE_ARN
Prints one JSON object (the last line of stdout) for the test to check field by field.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import sys
from typing import Any

OBJECTIVE = "validation:logloss"
NUMBER = r"([0-9.]+(?:[eE][-+]?[0-9]+)?)"
METRICS = [{"Name": f"validation:{m}", "Regex": f"validation:{m}={NUMBER}"}
           for m in ("logloss", "auc", "accuracy")]


class Recorder(logging.Handler):
    """Keeps the SDK's log messages (it logs through the standard `logging` module)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main(image: str, data_uri: str, role: str) -> dict[str, Any]:
    recorder = Recorder()
    sdk_logger = logging.getLogger("sagemaker")
    sdk_logger.addHandler(recorder)
    sdk_logger.setLevel(logging.DEBUG)

    from sagemaker.core.analytics import TrainingJobAnalytics
    from sagemaker.core.helper.session_helper import Session, sts_regional_endpoint
    from sagemaker.core.parameter import ContinuousParameter, IntegerParameter
    from sagemaker.core.resources import HyperParameterTuningJob
    from sagemaker.core.shapes import MetricDefinition
    from sagemaker.core.training.configs import Compute, InputData
    from sagemaker.train import ModelTrainer
    from sagemaker.train.tuner import HyperparameterTuner

    session = Session()  # region, credentials and endpoints from the environment
    result: dict[str, Any] = {
        "sdk_version": importlib.metadata.version("sagemaker"),
        "default_bucket": session.default_bucket(),  # from the config file, not from STS
        # Where Session().account_id()/default_bucket() would ask STS: a fixed AWS address.
        "sdk_sts_endpoint": sts_regional_endpoint(session.boto_region_name),
        "endpoints": {service: session.boto_session.client(service).meta.endpoint_url
                      for service in ("sagemaker", "s3", "logs", "cloudwatch", "iam", "sts")},
    }
    channels = [InputData(channel_name=ch, data_source=f"{data_uri}/{ch}/",
                          content_type="text/csv") for ch in ("train", "validation")]

    def trainer(base_job_name: str, **hyperparameters: Any) -> Any:
        return ModelTrainer(
            training_image=image, role=role, base_job_name=base_job_name,
            compute=Compute(instance_type="ml.m5.large", instance_count=1),
            hyperparameters=hyperparameters, input_data_config=channels,
        ).with_metric_definitions([MetricDefinition(name=m["Name"], regex=m["Regex"])
                                   for m in METRICS])

    # 0. Without role=, ModelTrainer takes the caller's role: STS GetCallerIdentity, IAM GetRole.
    result["caller_role"] = ModelTrainer(
        training_image=image, compute=Compute(instance_type="ml.m5.large", instance_count=1),
    ).role

    # 1. ModelTrainer.train(): one training job, waited for with its log tailed.
    single = trainer("v3-train", max_iter=20, learning_rate=0.1, max_depth=3)
    result["role_validation"] = [m for m in recorder.messages if "validat" in m.lower()]
    result["output_path"] = single.output_data_config.s3_output_path
    single.train(wait=True, logs=True)
    job = single._latest_training_job.refresh()
    result["train"] = {
        "name": job.training_job_name,
        "status": job.training_job_status,
        "failure_reason": str(job.failure_reason),
        "hyperparameters": dict(job.hyper_parameters or {}),
        "model_artifacts": job.model_artifacts.s3_model_artifacts,
        "final_metrics": {m.metric_name: m.value for m in job.final_metric_data_list or []},
        "log": [m for m in recorder.messages if m.startswith(f"{job.training_job_name}/")],
    }

    # 2. HyperparameterTuner.tune(wait=True); describe(), best_training_job(), analytics().
    tuner = HyperparameterTuner(
        model_trainer=trainer("v3-tune", max_iter=20),
        objective_metric_name=OBJECTIVE, objective_type="Minimize",
        hyperparameter_ranges={
            "learning_rate": ContinuousParameter(0.01, 0.5, scaling_type="Logarithmic"),
            "max_depth": IntegerParameter(1, 6)},
        metric_definitions=METRICS, max_jobs=4, max_parallel_jobs=2, strategy="Bayesian",
        base_tuning_job_name="v3-tune")
    tuner.tune(inputs=channels, wait=True)
    name = tuner.latest_tuning_job.hyper_parameter_tuning_job_name
    described = tuner.describe()
    result["tune"] = {
        "name": name,
        "status": described.hyper_parameter_tuning_job_status,
        "completed": described.training_job_status_counters.completed,
        "best_training_job": tuner.best_training_job(),
        "analytics_rows": [
            {"TrainingJobName": r["TrainingJobName"], "TrainingJobStatus": r["TrainingJobStatus"],
             "FinalObjectiveValue": float(r["FinalObjectiveValue"]),
             "learning_rate": float(r["learning_rate"]), "max_depth": int(r["max_depth"])}
            for r in tuner.analytics().dataframe().to_dict("records")],
    }

    # 3. sagemaker-core's HyperParameterTuningJob.get: v3's replacement for attach().
    got = HyperParameterTuningJob.get(name)
    config = got.hyper_parameter_tuning_job_config
    ranges = config.parameter_ranges
    result["get"] = {
        "name": got.hyper_parameter_tuning_job_name,
        "status": got.hyper_parameter_tuning_job_status,
        "strategy": config.strategy,
        "objective": [config.hyper_parameter_tuning_job_objective.type,
                      config.hyper_parameter_tuning_job_objective.metric_name],
        "max_jobs": config.resource_limits.max_number_of_training_jobs,
        "max_parallel": config.resource_limits.max_parallel_training_jobs,
        "ranges": sorted([r.name for r in ranges.continuous_parameter_ranges]
                         + [r.name for r in ranges.integer_parameter_ranges]),
        "best_training_job": got.best_training_job.training_job_name,
        "image": got.training_job_definition.algorithm_specification.training_image,
        "static_hyperparameters": dict(got.training_job_definition.static_hyper_parameters),
    }

    # 4. TrainingJobAnalytics: the single job's metric series, from CloudWatch metrics.
    analytics = TrainingJobAnalytics(job.training_job_name)
    result["training_job_analytics"] = {
        "name": analytics.name,
        "metric_names": list(analytics._metric_names),
        "window": [analytics._time_interval["start_time"].timestamp(),
                   analytics._time_interval["end_time"].timestamp()],
        "rows": [{"timestamp": float(r["timestamp"]), "metric_name": r["metric_name"],
                  "value": float(r["value"])}
                 for r in analytics.dataframe().to_dict("records")],
        "warnings": [m for m in recorder.messages if "No metrics called" in m],
    }
    return result


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4]), default=str))
