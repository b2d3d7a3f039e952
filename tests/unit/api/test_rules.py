"""Cross-field rules C2–C26 (spec §2.1) on the spec's example requests and one-violation
mutations of them."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable

import pytest

from orchestrator.api.validation import validate_request
from orchestrator.config import Quotas
from orchestrator.controller import rules
from orchestrator.errors import ResourceLimitExceeded, SmlocalError, ValidationError
from orchestrator.images import ImageMap, ImageResolver

C5 = (
    "A metric is required for this hyperparameter tuning job objective. "
    "Provide a metric in the metric definitions."
)
# The examples whose TrainingImage is a SageMaker built-in algorithm (no MetricDefinitions).
BUILTIN = [
    "01-xgboost-direct-marketing-bayesian",
    "03-devguide-xgboost-random-seed",
    "04-image-classification-early-stopping",
    "05-image-classification-warmstart",
    "06-xgboost-random-log-scaling",
    "08-multi-algorithm-fm-knn",
    "09-terraform-completion-criteria",
]
# Built-in XGBoost (local stand-in): accepted unchanged, as on SageMaker.
RUNS_LOCALLY = ["01-xgboost-direct-marketing-bayesian", "03-devguide-xgboost-random-seed",
                "06-xgboost-random-log-scaling"]
LOCAL_LIMITATION = "a local limitation of smlocal; SageMaker accepts this request"
LOCAL_IMAGE = "smlocal/probe:latest"


def runnable(body: dict) -> dict:
    """A copy that runs as a custom local image: a local TrainingImage whose MetricDefinitions
    define the objective metric (what a custom image must do)."""
    body = copy.deepcopy(body)
    cfg = body["HyperParameterTuningJobConfig"]
    for d in body.get("TrainingJobDefinitions") or [body["TrainingJobDefinition"]]:
        objective = d.get("TuningObjective") or cfg["HyperParameterTuningJobObjective"]
        d["AlgorithmSpecification"]["TrainingImage"] = LOCAL_IMAGE
        d["AlgorithmSpecification"]["MetricDefinitions"] = [
            {"Name": objective["MetricName"], "Regex": f"{objective['MetricName']}=([0-9.]+)"}
        ]
    return body


def error(body: dict, quotas: Quotas | None = None, images: ImageResolver | None = None
          ) -> SmlocalError:
    validate_request("CreateHyperParameterTuningJob", body)  # mutations stay shape-valid
    with pytest.raises(SmlocalError) as info:
        rules.check_tuning_job_request(body, quotas or Quotas(), images)
    return info.value


def message(body: dict, images: ImageResolver | None = None) -> str:
    err = error(body, images=images)
    assert isinstance(err, ValidationError)
    return err.message


@pytest.fixture
def hyperband(examples: dict[str, dict]) -> dict:
    return copy.deepcopy(examples["07-pytorch-hyperband"])


@pytest.fixture
def cfg_of() -> Callable[[dict], dict]:
    return lambda body: body["HyperParameterTuningJobConfig"]


def test_custom_image_examples_pass(examples: dict[str, dict]) -> None:
    for name in ("02-byo-keras-custom-metrics", "07-pytorch-hyperband"):
        rules.check_tuning_job_request(examples[name], Quotas())


@pytest.mark.parametrize("name", RUNS_LOCALLY)
def test_builtin_xgboost_examples_pass_unchanged(examples: dict[str, dict], name: str) -> None:
    """Built-in algorithms define their own metrics: no MetricDefinitions needed (not C5)."""
    body = copy.deepcopy(examples[name])
    assert "MetricDefinitions" not in body["TrainingJobDefinition"]["AlgorithmSpecification"]
    rules.check_tuning_job_request(body, Quotas())


@pytest.mark.parametrize("name", ["04-image-classification-early-stopping",
                                  "05-image-classification-warmstart"])
def test_builtin_without_stand_in_is_a_local_limitation(
    examples: dict[str, dict], name: str
) -> None:
    text = message(copy.deepcopy(examples[name]))
    assert text.startswith("811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1 "
                           "is the SageMaker built-in Image Classification (MXNet) algorithm")
    assert LOCAL_LIMITATION in text
    assert "Built-in algorithms that run locally: xgboost." in text
    assert "SMLOCAL_IMAGE_MAP" in text
    assert C5 not in text  # its objective, validation:accuracy, is the algorithm's


def test_multi_algorithm_builtins_each_get_the_local_limitation(
    examples: dict[str, dict]
) -> None:
    text = message(copy.deepcopy(examples["08-multi-algorithm-fm-knn"]))
    assert text.startswith("2 validation errors detected")
    assert "TrainingJobDefinitions[fm-one]: 174872318107.dkr.ecr.us-west-2.amazonaws.com/" \
           "factorization-machines:1 is the SageMaker built-in Factorization Machines" in text
    assert "TrainingJobDefinitions[knn-two]: 174872318107.dkr.ecr.us-west-2.amazonaws.com/" \
           "knn:1 is the SageMaker built-in k-NN algorithm" in text
    assert text.count(LOCAL_LIMITATION) == 2
    assert C5 not in text  # test:rmse and test:mse are FM's and k-NN's own metrics


def test_objective_the_algorithm_does_not_emit_is_rejected(examples: dict[str, dict]) -> None:
    """Example 09 tunes k-means on validation:accuracy, which k-means does not emit (it emits
    test:msd and test:ssd); k-means has no local stand-in either: both are reported."""
    text = message(copy.deepcopy(examples["09-terraform-completion-criteria"]))
    assert text.startswith("2 validation errors detected")
    assert ("The objective metric [validation:accuracy] is not a metric of the [kmeans] "
            "algorithm. Choose one of the metrics the algorithm emits: test:msd, test:ssd.") in text
    assert LOCAL_LIMITATION in text


def test_xgboost_objective_must_be_an_xgboost_metric(examples: dict[str, dict]) -> None:
    body = copy.deepcopy(examples["01-xgboost-direct-marketing-bayesian"])
    body["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = (
        "validation:accuracy_top5")
    text = message(body)
    assert text.startswith("The objective metric [validation:accuracy_top5] is not a metric of "
                           "the [xgboost] algorithm. Choose one of the metrics the algorithm "
                           "emits: validation:accuracy, validation:auc,")
    for metric in ("validation:rmse", "train:auc", "validation:logloss"):
        body["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"][
            "MetricName"] = metric
        rules.check_tuning_job_request(body, Quotas())


def test_xgboost_in_script_mode_is_a_framework_and_needs_metric_definitions(
    examples: dict[str, dict]
) -> None:
    """sagemaker-xgboost with the SDK's script-mode hyperparameters runs the user's script:
    a framework image, so C5 applies as for any custom image."""
    body = copy.deepcopy(examples["03-devguide-xgboost-random-seed"])
    body["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_program"] = '"train.py"'
    assert message(body) == C5


def test_an_image_map_makes_a_builtin_without_stand_in_runnable(
    examples: dict[str, dict]
) -> None:
    body = copy.deepcopy(examples["04-image-classification-early-stopping"])
    mapped = ImageResolver(lambda: ImageMap((("image-classification", "my/ic:latest"),)))
    rules.check_tuning_job_request(body, Quotas(), mapped)


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_examples_pass_once_run_by_a_local_image(
    examples: dict[str, dict], name: str
) -> None:
    rules.check_tuning_job_request(runnable(examples[name]), Quotas())


def test_c2_exactly_one_definition_kind(keras: dict, examples: dict[str, dict]) -> None:
    both = copy.deepcopy(keras)
    both["TrainingJobDefinitions"] = copy.deepcopy(
        examples["08-multi-algorithm-fm-knn"]["TrainingJobDefinitions"]
    )
    assert "exactly one of TrainingJobDefinition and TrainingJobDefinitions" in message(both)
    del keras["TrainingJobDefinition"]
    assert "exactly one of" in message(keras)


def test_c3_single_definition_needs_an_objective(keras: dict) -> None:
    del keras["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    assert "HyperParameterTuningJobObjective is required" in message(keras)


def test_c4_multi_definitions_need_names_objectives_ranges(examples: dict[str, dict]) -> None:
    body = runnable(examples["08-multi-algorithm-fm-knn"])
    body["TrainingJobDefinitions"][1]["DefinitionName"] = "FM-ONE"
    del body["TrainingJobDefinitions"][0]["HyperParameterRanges"]
    text = message(body)
    assert "DefinitionName must be unique" in text
    assert "HyperParameterRanges is required with TrainingJobDefinitions" in text


def test_c4_job_level_objective_is_rejected_with_multi(examples: dict[str, dict]) -> None:
    body = runnable(examples["08-multi-algorithm-fm-knn"])
    body["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] = {
        "Type": "Minimize",
        "MetricName": "test:rmse",
    }
    assert "not HyperParameterTuningJobObjective" in message(body)


def test_c5_metric_must_be_defined(keras: dict) -> None:
    keras["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = (
        "acc"
    )
    assert message(keras) == C5


def test_c7_grid_rejects_continuous_ranges(keras: dict, cfg_of: Callable) -> None:
    cfg_of(keras)["Strategy"] = "Grid"
    assert "the Grid strategy supports only CategoricalParameterRanges" in message(keras)
    assert "learning_rate" in message(keras)


def test_c7_grid_max_jobs_must_equal_grid_size(keras: dict, cfg_of: Callable) -> None:
    cfg = cfg_of(keras)
    cfg["Strategy"] = "Grid"
    cfg["ParameterRanges"] = {
        "CategoricalParameterRanges": [
            {"Name": "a", "Values": ["1", "2", "3"]},
            {"Name": "b", "Values": ["x", "y"]},
        ]
    }
    cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 5
    assert "must equal the number of combinations of the categorical values (6)" in message(keras)
    del cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    rules.check_tuning_job_request(keras, Quotas())
    assert rules.default_max_jobs(keras) == 6


def test_c7_grid_size_is_a_quota(keras: dict, cfg_of: Callable) -> None:
    cfg = cfg_of(keras)
    cfg["Strategy"] = "Grid"
    del cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    cfg["ParameterRanges"] = {
        "CategoricalParameterRanges": [
            {"Name": n, "Values": [str(i) for i in range(10)]} for n in ("a", "b", "c")
        ]
    }
    err = error(keras)
    assert isinstance(err, ResourceLimitExceeded)
    assert "is 750 Combinations" in err.message and "request delta of 1000" in err.message
    rules.check_tuning_job_request(
        keras, Quotas(max_grid_combinations=1000, max_training_jobs=1000)
    )


def test_c8_not_enough_combinations_exact_message(keras: dict, cfg_of: Callable) -> None:
    cfg = cfg_of(keras)
    cfg["ParameterRanges"] = {
        "IntegerParameterRanges": [{"Name": "depth", "MinValue": "1", "MaxValue": "3"}]
    }
    cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 10
    assert message(keras) == (
        "You don't have enough combinations of hyperparameter ranges. The total number of "
        "hyperparameter combinations for the provided ranges [3.0] must be equal or greater "
        "than the value of MaxNumberOfJobs, [10]. Provide additional ranges."
    )
    cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 3
    rules.check_tuning_job_request(keras, Quotas())


def test_c9_hyperband_with_early_stopping_auto(hyperband: dict, cfg_of: Callable) -> None:
    cfg_of(hyperband)["TrainingJobEarlyStoppingType"] = "Auto"
    assert "TrainingJobEarlyStoppingType must be Off with the Hyperband strategy" in message(
        hyperband
    )


def test_c10_hyperband_max_resource_inferred_from_epochs(
    hyperband: dict, cfg_of: Callable
) -> None:
    del cfg_of(hyperband)["StrategyConfig"]
    assert "Hyperband needs HyperbandStrategyConfig.MaxResource" in message(hyperband)
    hyperband["TrainingJobDefinition"]["StaticHyperParameters"]["num_epochs"] = "12"
    rules.check_tuning_job_request(hyperband, Quotas())
    hyperband["TrainingJobDefinition"]["StaticHyperParameters"]["num_epochs"] = "many"
    assert "must be a positive integer" in message(hyperband)


def test_c10_hyperband_bounds(hyperband: dict, cfg_of: Callable) -> None:
    hb = cfg_of(hyperband)["StrategyConfig"]["HyperbandStrategyConfig"]
    hb["MaxResource"] = 20_001
    assert "MaxResource must be at most 20000" in message(hyperband)
    hb["MaxResource"], hb["MinResource"] = 4, 5
    assert "MinResource (5) must not exceed MaxResource (4)" in message(hyperband)


def test_c11_strategy_config_is_ignored_without_hyperband(
    hyperband: dict, cfg_of: Callable
) -> None:
    cfg_of(hyperband)["Strategy"] = "Bayesian"
    rules.check_tuning_job_request(hyperband, Quotas())


@pytest.mark.parametrize(
    ("kind", "low", "high", "scaling", "expected"),
    [
        ("ContinuousParameterRanges", "0", "1", "Logarithmic", "Logarithmic scaling needs"),
        ("IntegerParameterRanges", "0", "10", "Logarithmic", "Logarithmic scaling needs"),
        ("ContinuousParameterRanges", "0.1", "1.5", "ReverseLogarithmic", "ReverseLogarithmic"),
        ("IntegerParameterRanges", "0", "1", "ReverseLogarithmic", "ReverseLogarithmic"),
        ("ContinuousParameterRanges", "0.5", "0.5", "Linear", "must be less than MaxValue"),
        ("IntegerParameterRanges", "1", "1", "Auto", "must be less than MaxValue"),
        ("IntegerParameterRanges", "1.5", "4", "Auto", "must be integers"),
        ("ContinuousParameterRanges", "a", "4", "Auto", "must be numbers"),
        ("ContinuousParameterRanges", "nan", "4", "Auto", "must be numbers"),
    ],
)
def test_c12_c13_range_bounds_and_scaling(
    keras: dict, cfg_of: Callable, kind: str, low: str, high: str, scaling: str, expected: str
) -> None:
    cfg_of(keras)["ParameterRanges"] = {
        kind: [{"Name": "p", "MinValue": low, "MaxValue": high, "ScalingType": scaling}]
    }
    cfg_of(keras)["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 1
    assert expected in message(keras)


def test_c12_scientific_notation_bounds_are_numbers(keras: dict, cfg_of: Callable) -> None:
    cfg_of(keras)["ParameterRanges"] = {
        "ContinuousParameterRanges": [
            {"Name": "lr", "MinValue": "1e-05", "MaxValue": "1.0", "ScalingType": "Logarithmic"}
        ]
    }
    rules.check_tuning_job_request(keras, Quotas())


def test_c12_duplicate_categorical_values(keras: dict, cfg_of: Callable) -> None:
    cfg_of(keras)["ParameterRanges"]["CategoricalParameterRanges"] = [
        {"Name": "opt", "Values": ["sgd", "adam", "sgd"]}
    ]
    assert "lists duplicate values: sgd" in message(keras)


def test_c14_one_range_per_name_and_not_static(keras: dict, cfg_of: Callable) -> None:
    ranges = cfg_of(keras)["ParameterRanges"]
    ranges["CategoricalParameterRanges"] = [{"Name": "learning_rate", "Values": ["0.1", "0.2"]}]
    ranges["IntegerParameterRanges"] = [{"Name": "epochs", "MinValue": "1", "MaxValue": "5"}]
    text = message(keras)
    assert "learning_rate has more than one range" in text
    assert "remove epochs from StaticHyperParameters" in text


def test_c15_at_most_30_tunable_across_lists(keras: dict, cfg_of: Callable) -> None:
    cfg_of(keras)["ParameterRanges"] = {
        "IntegerParameterRanges": [
            {"Name": f"i{n}", "MinValue": "1", "MaxValue": "9"} for n in range(16)
        ],
        "ContinuousParameterRanges": [
            {"Name": f"c{n}", "MinValue": "0", "MaxValue": "1"} for n in range(15)
        ],
    }
    assert "at most 30 hyperparameters can be tuned; the ranges name 31" in message(keras)


def test_c15_static_plus_tunable_plus_objective_key_at_most_100(keras: dict) -> None:
    keras["TrainingJobDefinition"]["StaticHyperParameters"] = {f"s{n}": "1" for n in range(98)}
    rules.check_tuning_job_request(keras, Quotas())  # 98 + 1 tunable + objective key = 100
    keras["TrainingJobDefinition"]["StaticHyperParameters"]["s98"] = "1"
    assert "must be at most 100; there are 101" in message(keras)


def test_c17_parallel_jobs_quota_uses_aws_template(keras: dict, cfg_of: Callable) -> None:
    cfg_of(keras)["ResourceLimits"]["MaxParallelTrainingJobs"] = 11
    err = error(keras)
    assert err.code == "ResourceLimitExceeded"
    assert err.message.startswith(
        "The account-level service limit 'Maximum number of parallel training jobs per "
        "hyperparameter tuning job' is 10 Jobs, with current utilization of 0 Jobs and a request "
        "delta of 11 Jobs. Please contact AWS support to request an increase for this limit."
    )
    assert "SMLOCAL_QUOTA_MAX_PARALLEL_TRAINING_JOBS" in err.message
    rules.check_tuning_job_request(keras, Quotas(max_parallel_training_jobs=100))


def test_c17_training_jobs_quota_is_higher_for_random(keras: dict, cfg_of: Callable) -> None:
    cfg_of(keras)["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 751
    assert isinstance(error(keras), ResourceLimitExceeded)
    cfg_of(keras)["Strategy"] = "Random"
    rules.check_tuning_job_request(keras, Quotas())


def test_c17_concurrent_tuning_jobs() -> None:
    rules.check_concurrent_tuning_jobs(99, Quotas())
    with pytest.raises(ResourceLimitExceeded, match="current utilization of 100 Jobs"):
        rules.check_concurrent_tuning_jobs(100, Quotas())


def test_c21_multi_algorithm_excludes_early_stopping_and_warm_start(
    examples: dict[str, dict], cfg_of: Callable
) -> None:
    body = runnable(examples["08-multi-algorithm-fm-knn"])
    cfg_of(body)["TrainingJobEarlyStoppingType"] = "Auto"
    assert "can be used only with TrainingJobDefinition" in message(body)


def test_c23_algorithm_name_is_not_runnable_locally(keras: dict) -> None:
    spec = keras["TrainingJobDefinition"]["AlgorithmSpecification"]
    spec["AlgorithmName"] = "my-algo"
    assert "either AlgorithmSpecification.TrainingImage or AlgorithmName" in message(keras)
    del spec["TrainingImage"]
    assert "AlgorithmName 'my-algo' is not supported by smlocal" in message(keras)


def test_c24_resource_configs_are_exclusive(keras: dict) -> None:
    keras["TrainingJobDefinition"]["HyperParameterTuningResourceConfig"] = {
        "InstanceType": "ml.m5.large"
    }
    assert "either ResourceConfig or HyperParameterTuningResourceConfig" in message(keras)
    d = keras["TrainingJobDefinition"]
    del d["ResourceConfig"]
    d["HyperParameterTuningResourceConfig"] = {
        "InstanceType": "ml.m5.large",
        "InstanceConfigs": [
            {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5}
        ],
    }
    assert "with HyperParameterTuningResourceConfig.InstanceConfigs, do not set InstanceType" in (
        message(keras)
    )


def test_c25_max_wait_only_with_spot_and_not_below_runtime(keras: dict) -> None:
    d = keras["TrainingJobDefinition"]
    d["StoppingCondition"]["MaxWaitTimeInSeconds"] = 50_000
    assert "MaxWaitTimeInSeconds is only for managed spot" in message(keras)
    d["EnableManagedSpotTraining"] = True
    rules.check_tuning_job_request(keras, Quotas())
    d["StoppingCondition"]["MaxWaitTimeInSeconds"] = 100
    assert "(100) must be greater than or equal to MaxRuntimeInSeconds (43200)" in message(keras)


def test_c26_metric_regex_must_compile(keras: dict) -> None:
    keras["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"].append(
        {"Name": "acc", "Regex": "acc=([0-9"}
    )
    assert "the Regex of metric 'acc' is not a valid regular expression" in message(keras)


def test_pipe_mode_is_rejected_locally(keras: dict) -> None:
    keras["TrainingJobDefinition"]["InputDataConfig"][0]["InputMode"] = "Pipe"
    assert "Pipe input mode is not supported locally; use File or FastFile" in message(keras)


def test_runtime_above_28_days(keras: dict) -> None:
    keras["TrainingJobDefinition"]["StoppingCondition"]["MaxRuntimeInSeconds"] = 2_419_201
    assert "must be at most 2419200 (28 days)" in message(keras)


# -- default_max_jobs (spec Q1) -------------------------------------------------------------


def test_default_max_jobs(keras: dict, cfg_of: Callable) -> None:
    assert rules.default_max_jobs(keras) == 9  # given
    del cfg_of(keras)["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    assert rules.default_max_jobs(keras) == 100
    assert rules.default_max_jobs(keras, default=40) == 40
    cfg_of(keras)["ParameterRanges"] = {
        "IntegerParameterRanges": [{"Name": "d", "MinValue": "1", "MaxValue": "4"}],
        "CategoricalParameterRanges": [{"Name": "o", "Values": ["a", "b"]}],
    }
    assert rules.default_max_jobs(keras) == 8  # fully discrete: capped at 4 x 2 combinations


# -- CreateTrainingJob ----------------------------------------------------------------------


@pytest.fixture
def training_job(keras: dict) -> dict:
    d = keras["TrainingJobDefinition"]
    body = {
        k: d[k]
        for k in (
            "AlgorithmSpecification",
            "RoleArn",
            "InputDataConfig",
            "OutputDataConfig",
            "ResourceConfig",
            "StoppingCondition",
        )
    }
    return {"TrainingJobName": "train-1", "HyperParameters": {"epochs": "1"}, **body}


def test_training_job_valid(training_job: dict) -> None:
    validate_request("CreateTrainingJob", training_job)
    rules.check_training_job_request(training_job)


@pytest.mark.parametrize(
    "member", ["AlgorithmSpecification", "ResourceConfig", "StoppingCondition"]
)
def test_training_job_needs_container_members(training_job: dict, member: str) -> None:
    del training_job[member]
    with pytest.raises(ValidationError, match=f"{member} is required"):
        rules.check_training_job_request(training_job)


def test_training_job_pipe_mode_and_algorithm_name(training_job: dict) -> None:
    spec = training_job["AlgorithmSpecification"]
    spec["TrainingInputMode"] = "Pipe"
    del spec["TrainingImage"]
    spec["AlgorithmName"] = "xgboost"
    with pytest.raises(ValidationError) as info:
        rules.check_training_job_request(training_job)
    assert "Pipe input mode is not supported locally" in info.value.message
    assert "AlgorithmName 'xgboost' is not supported by smlocal" in info.value.message


# -- warm start (C18–C20) -------------------------------------------------------------------


@pytest.fixture
def warm(keras: dict) -> tuple[dict, dict]:
    parent = copy.deepcopy(keras)
    parent["HyperParameterTuningJobName"] = "Parent-1"
    parent["HyperParameterTuningJobStatus"] = "Completed"
    child = copy.deepcopy(keras)
    child["WarmStartConfig"] = {
        "WarmStartType": "IdenticalDataAndAlgorithm",
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent-1"}],
    }
    return child, parent


def test_warm_start_valid(warm: tuple[dict, dict]) -> None:
    child, parent = warm
    rules.check_warm_start(child, [parent], Quotas())


def test_c18_parent_must_exist_and_be_terminal(warm: tuple[dict, dict]) -> None:
    child, parent = warm
    with pytest.raises(ValidationError, match="can't find a tuning job called parent-1"):
        rules.check_warm_start(child, [])
    parent["HyperParameterTuningJobStatus"] = "InProgress"
    with pytest.raises(ValidationError, match="is InProgress; warm start needs parents"):
        rules.check_warm_start(child, [parent])


def test_c19_same_hyperparameter_names(warm: tuple[dict, dict]) -> None:
    child, parent = warm
    child["TrainingJobDefinition"]["StaticHyperParameters"]["extra"] = "1"
    with pytest.raises(ValidationError) as info:
        rules.check_warm_start(child, [parent])
    assert info.value.message.startswith(
        "The set of tunable plus static HyperParameter names is not the same across current "
        "and parent tuning jobs."
    )


def test_c19_static_may_become_tunable_but_types_stay(warm: tuple[dict, dict]) -> None:
    child, parent = warm
    child["TrainingJobDefinition"]["StaticHyperParameters"].pop("batch_size")
    child["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"] = [
        {"Name": "batch_size", "MinValue": "16", "MaxValue": "64"}
    ]
    rules.check_warm_start(child, [parent])
    ranges = child["HyperParameterTuningJobConfig"]["ParameterRanges"]
    ranges["CategoricalParameterRanges"] = [{"Name": "learning_rate", "Values": ["0.001", "0.01"]}]
    ranges["ContinuousParameterRanges"] = []
    with pytest.raises(ValidationError, match="cannot change the range type"):
        rules.check_warm_start(child, [parent])


def test_c20_identical_data_and_algorithm_freezes_other_fields(warm: tuple[dict, dict]) -> None:
    child, parent = warm
    child["TrainingJobDefinition"]["OutputDataConfig"] = {"S3OutputPath": "s3://other/out"}
    rules.check_warm_start(child, [parent])  # allowed to change
    child["TrainingJobDefinition"]["Environment"] = {"A": "1"}
    with pytest.raises(ValidationError) as info:
        rules.check_warm_start(child, [parent])
    assert info.value.message == (
        "Only the following fields in TrainingJobDefinition are allowed to change: "
        "[algorithmSpecification, inputDataConfig, outputDataConfig, staticHyperParameters, "
        "roleArn, resourceConfig, stoppingCondition, vpcConfig, enableManagedSpotTraining, "
        "checkpointConfig]."
    )
    child["WarmStartConfig"]["WarmStartType"] = "TransferLearning"
    rules.check_warm_start(child, [parent])


def test_c22_parent_training_jobs_count_against_the_quota(warm: tuple[dict, dict]) -> None:
    child, parent = warm
    parent["TrainingJobStatusCounters"] = {"Completed": 745, "Stopped": 0}
    with pytest.raises(ResourceLimitExceeded, match="current utilization of 745 Jobs"):
        rules.check_warm_start(child, [parent], Quotas())


# -- robustness -----------------------------------------------------------------------------

_STRINGS = [
    "",
    "0",
    "-1",
    "1",
    "1e-05",
    "0.5",
    "abc",
    "Auto",
    "Logarithmic",
    "Linear",
    "ReverseLogarithmic",
    "Grid",
    "Hyperband",
    "Random",
    "Pipe",
    "File",
    "epochs",
    "learning_rate",
    "loss",
    "Off",
    "(",
    "x" * 40,
]
_INTS = [0, 1, 2, 3, 7, 10, 11, 100, 751, 20_001]


def _leaf_mutation(rng, value: object) -> object:
    """Mostly type-preserving mutations, so that many survive shape validation."""
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        if rng.random() < 0.15:
            del value[key]
        else:
            value[key] = _leaf_mutation(rng, value[key])
        return value
    if isinstance(value, list) and value:
        if rng.random() < 0.2:
            value.append(copy.deepcopy(rng.choice(value)))
        else:
            i = rng.randrange(len(value))
            value[i] = _leaf_mutation(rng, value[i])
        return value
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice(_INTS)
    if isinstance(value, str):
        return rng.choice(_STRINGS)
    return value


def test_rules_only_ever_raise_domain_errors(examples: dict[str, dict]) -> None:
    """Any shape-valid request gets an answer from the rules: pass or a domain error."""
    import random

    rng = random.Random(99)
    seeds = [runnable(b) for b in examples.values()]
    checked = 0
    for _ in range(3000):
        body = copy.deepcopy(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            body = _leaf_mutation(rng, body)
        try:
            validate_request("CreateHyperParameterTuningJob", body)
        except ValidationError:
            continue
        checked += 1
        try:
            rules.check_tuning_job_request(body, Quotas())
        except (ValidationError, ResourceLimitExceeded):
            continue
        assert rules.default_max_jobs(body) >= 1
        parent = dict(copy.deepcopy(body), HyperParameterTuningJobStatus="Completed")
        for entry in body.get("WarmStartConfig", {}).get("ParentHyperParameterTuningJobs", []):
            parent["HyperParameterTuningJobName"] = entry.get("HyperParameterTuningJobName", "p")
            with contextlib.suppress(ValidationError, ResourceLimitExceeded):
                rules.check_warm_start(body, [parent], Quotas())
    assert checked > 300  # the mutations exercised the rules, not just the shape validator


def test_autotune_is_rejected_with_what_to_do_instead(keras: dict) -> None:
    keras["Autotune"] = {"Mode": "Enabled"}
    with pytest.raises(ValidationError, match="Autotune is not supported by smlocal"):
        rules.check_tuning_job_request(keras, Quotas())
