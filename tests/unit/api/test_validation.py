"""Request validation against botocore's input shapes: what botocore's client skips (max,
pattern, enum), all problems at once, AWS message format and paths."""

from __future__ import annotations

import copy
import random

import pytest
from botocore.validate import ParamValidator

from orchestrator import sagemaker_model
from orchestrator.api.patterns import compiled, matches
from orchestrator.api.validation import validate_request
from orchestrator.errors import ValidationError

CREATE = "CreateHyperParameterTuningJob"


def problems(operation: str, request: dict) -> str:
    with pytest.raises(ValidationError) as info:
        validate_request(operation, request)
    assert info.value.code == "ValidationException"
    return info.value.message


def test_all_nine_examples_are_shape_valid(examples: dict[str, dict]) -> None:
    for body in examples.values():
        validate_request(CREATE, body)


def test_name_with_underscore_fails_the_model_pattern(keras: dict) -> None:
    keras["HyperParameterTuningJobName"] = "my_job"
    assert problems(CREATE, keras) == (
        "1 validation error detected: Value 'my_job' at 'hyperParameterTuningJobName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: "
        "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"
    )


def test_33_character_name_breaks_max_and_pattern(keras: dict) -> None:
    keras["HyperParameterTuningJobName"] = "a" * 33
    message = problems(CREATE, keras)
    assert message.startswith("2 validation errors detected: ")
    assert "Member must have length less than or equal to 32" in message
    assert "Member must satisfy regular expression pattern" in message


def test_32_character_name_is_fine(keras: dict) -> None:
    keras["HyperParameterTuningJobName"] = "a" * 32
    validate_request(CREATE, keras)


def test_bad_enum_lists_the_model_values(keras: dict) -> None:
    keras["HyperParameterTuningJobConfig"]["Strategy"] = "Genetic"
    assert problems(CREATE, keras).endswith(
        "Value 'Genetic' at 'hyperParameterTuningJobConfig.strategy' failed to satisfy "
        "constraint: Member must satisfy enum value set: [Bayesian, Random, Hyperband, Grid]"
    )


def test_list_items_use_one_based_member_paths(keras: dict) -> None:
    ranges = keras["HyperParameterTuningJobConfig"]["ParameterRanges"]
    ranges["ContinuousParameterRanges"][0]["ScalingType"] = "Cubic"
    assert (
        "at 'hyperParameterTuningJobConfig.parameterRanges.continuousParameterRanges.1.member."
        "scalingType'" in problems(CREATE, keras)
    )


def test_31_ranges_exceed_the_model_max(keras: dict) -> None:
    ranges = keras["HyperParameterTuningJobConfig"]["ParameterRanges"]
    ranges["IntegerParameterRanges"] = [
        {"Name": f"p{i}", "MinValue": "1", "MaxValue": "9"} for i in range(31)
    ]
    assert (
        "at 'hyperParameterTuningJobConfig.parameterRanges.integerParameterRanges' failed to "
        "satisfy constraint: Member must have length less than or equal to 30"
    ) in problems(CREATE, keras)


def test_every_problem_is_reported_at_once(keras: dict) -> None:
    cfg = keras["HyperParameterTuningJobConfig"]
    keras["HyperParameterTuningJobName"] = "bad_name"
    cfg["Strategy"] = "Nope"
    cfg["ResourceLimits"]["MaxParallelTrainingJobs"] = 0
    cfg["HyperParameterTuningJobObjective"]["Type"] = "Largest"
    del keras["TrainingJobDefinition"]["RoleArn"]
    keras["Bogus"] = 1
    message = problems(CREATE, keras)
    assert message.startswith("6 validation errors detected: ")
    assert message.count("; ") == 5
    assert (
        "Value null at 'trainingJobDefinition.roleArn' failed to satisfy constraint: "
        "Member must not be null" in message
    )
    assert (
        "Value '0' at 'hyperParameterTuningJobConfig.resourceLimits.maxParallelTrainingJobs'"
        " failed to satisfy constraint: Member must have value greater than or equal to 1"
        in message
    )
    assert "Unknown parameter 'Bogus' in input" in message


def test_map_values_are_reported_once_per_map(keras: dict) -> None:
    static = keras["TrainingJobDefinition"]["StaticHyperParameters"]
    static["a"] = "x" * 2501
    static["b"] = "y" * 2501
    message = problems(CREATE, keras)
    assert message.startswith("1 validation error detected: ")
    assert (
        "at 'trainingJobDefinition.staticHyperParameters' failed to satisfy constraint: "
        "Map value must satisfy constraint: [Member must have length less than or equal to 2500"
        in message
    )


def test_map_keys_have_their_own_message(keras: dict) -> None:
    keras["TrainingJobDefinition"]["Environment"] = {"1BAD": "v"}
    assert "Map keys must satisfy constraint: [" in problems(CREATE, keras)


def test_types_are_checked_strictly(keras: dict) -> None:
    limits = keras["HyperParameterTuningJobConfig"]["ResourceLimits"]
    limits["MaxParallelTrainingJobs"] = True  # bool is an int in Python, not in JSON
    limits["MaxNumberOfTrainingJobs"] = 2.5
    message = problems(CREATE, keras)
    assert (
        "Value 'true' at 'hyperParameterTuningJobConfig.resourceLimits."
        "maxParallelTrainingJobs' failed to satisfy constraint: Member must be an integer"
        in message
    )
    assert (
        "maxNumberOfTrainingJobs' failed to satisfy constraint: Member must be an integer"
        in message
    )


def test_java_int_overflow_is_rejected(keras: dict) -> None:
    keras["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 2**31
    assert "Member must have value less than or equal to 2147483647" in problems(CREATE, keras)


def test_null_members_count_as_absent() -> None:
    validate_request("ListTrainingJobs", {"NextToken": None, "MaxResults": None})
    assert "Value null at 'trainingJobName'" in problems(
        "DescribeTrainingJob", {"TrainingJobName": None}
    )


def test_null_list_items_are_rejected(keras: dict) -> None:
    keras["Tags"] = [None]
    assert (
        "Value null at 'tags.1.member' failed to satisfy constraint: Member must not be null"
        in problems(CREATE, keras)
    )


def test_timestamps_accept_epoch_numbers_and_strings_only() -> None:
    validate_request("ListTrainingJobs", {"CreationTimeAfter": 1_700_000_000.5})
    validate_request("ListTrainingJobs", {"CreationTimeAfter": "2024-01-01T00:00:00Z"})
    assert "at 'creationTimeBefore' failed to satisfy constraint: Member must be a timestamp" in (
        problems("ListTrainingJobs", {"CreationTimeBefore": "yesterday"})
    )
    assert "Member must be a timestamp" in problems("ListTrainingJobs", {"CreationTimeAfter": []})


def test_list_max_results_bounds() -> None:
    assert "Member must have value less than or equal to 100" in problems(
        "ListHyperParameterTuningJobs", {"MaxResults": 101}
    )
    assert "Member must have value greater than or equal to 1" in problems(
        "ListHyperParameterTuningJobs", {"MaxResults": 0}
    )


def test_string_length_counts_utf16_units_like_java() -> None:
    # U+1D400 (a letter, so the tag pattern allows it) is two UTF-16 code units: 128 of them
    # are at TagValue's limit of 256, 129 are over it.
    ok = {
        "ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:x/y",
        "Tags": [{"Key": "k", "Value": "\U0001d400" * 128}],
    }
    validate_request("AddTags", ok)
    ok["Tags"][0]["Value"] = "\U0001d400" * 129
    assert "Member must have length less than or equal to 256" in problems("AddTags", ok)


def test_tag_pattern_uses_unicode_classes() -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/x"
    validate_request("AddTags", {"ResourceArn": arn, "Tags": [{"Key": "équipe 7", "Value": "ü"}]})
    assert "at 'tags.1.member.key'" in problems(
        "AddTags", {"ResourceArn": arn, "Tags": [{"Key": "bad!", "Value": "v"}]}
    )


def test_java_patterns_translate_to_python() -> None:
    tag = sagemaker_model.shape("TagKey").metadata["pattern"]
    assert compiled(tag) is not None
    assert matches(tag, "Ab9 _.:/=+-@") and not matches(tag, "a\tb")
    name = sagemaker_model.shape("ArnOrName").metadata["pattern"]
    assert matches(name, "my-algo") and not matches(name, "my-algo-")  # the (?<!-) look-behind


def test_every_pattern_reachable_from_our_operations_compiles() -> None:
    from orchestrator.controller.service import SageMakerService

    seen: set[str] = set()
    stack = [sagemaker_model.operation(op).input_shape
             for op in SageMakerService.supported_operations]
    while stack:
        shape = stack.pop()
        if shape is None or shape.name in seen:
            continue
        seen.add(shape.name)
        if "pattern" in shape.metadata:
            assert compiled(shape.metadata["pattern"]) is not None, shape.name
        if shape.type_name == "structure":
            stack.extend(shape.members.values())
        elif shape.type_name == "list":
            stack.append(shape.member)
        elif shape.type_name == "map":
            stack.extend((shape.key, shape.value))


def _mutate(rng: random.Random, value: object) -> object:
    """One random structural mutation somewhere inside `value` (a deep copy)."""
    junk = [None, 0, -1, 2**40, 1.5, "", "x" * 300, [], {}, True, "Grid", [None], {"A": 1}]
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        value[key] = _mutate(rng, value[key])
        return value
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        value[i] = _mutate(rng, value[i])
        return value
    return rng.choice(junk)


def _without_null_members(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_null_members(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_null_members(v) for v in value]
    return value


def test_fuzzed_requests_only_ever_raise_validation_errors(examples: dict[str, dict]) -> None:
    """Whatever the mutation, the validator answers with a ValidationError or passes; and when
    it passes, botocore's own validator agrees (no gap in required/type/min coverage)."""
    rng = random.Random(1234)
    bodies = list(examples.values())
    for _ in range(600):
        body = _mutate(rng, copy.deepcopy(rng.choice(bodies)))
        if not isinstance(body, dict):
            continue
        try:
            validate_request(CREATE, body)
        except ValidationError:
            continue
        shape = sagemaker_model.operation(CREATE).input_shape
        report = ParamValidator().validate(_without_null_members(body), shape)
        assert not report.has_errors(), report.generate_report()
