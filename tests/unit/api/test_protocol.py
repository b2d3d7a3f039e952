"""AWS JSON 1.1 wire helpers: body decoding, response shaping, targets and content types."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum

import pytest

from orchestrator.api import protocol
from orchestrator.api.protocol import WireError


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[1, 2]",
        b'"text"',
        b"\xff\xfe",
        b'{"a": NaN}',
        b'{"a": 1e400}',
        b'{"a": "\\ud800"}',
        b'{"\\udfff": 1}',
        b"[" * 100_000,
    ],
)
def test_undecodable_bodies_are_serialization_errors(raw: bytes) -> None:
    with pytest.raises(WireError) as info:
        protocol.decode_body(raw)
    assert info.value.code == "SerializationException"
    assert info.value.status == 400


def test_empty_body_is_an_empty_request() -> None:
    assert protocol.decode_body(b"") == {}
    assert protocol.decode_body(b"  \n") == {}


def test_parse_target() -> None:
    assert protocol.parse_target("SageMaker.ListTrainingJobs") == "ListTrainingJobs"
    for bad in ("DynamoDB_20120810.ListTables", "SageMaker", "SageMaker.", "sagemaker.X"):
        with pytest.raises(WireError) as info:
            protocol.parse_target(bad)
        assert info.value.code == "UnknownOperationException"
        assert bad in info.value.message
    with pytest.raises(WireError):
        protocol.parse_target(None)


def test_content_types() -> None:
    for ok in (
        "application/x-amz-json-1.1",
        "application/x-amz-json-1.0; charset=utf-8",
        "application/json",
    ):
        protocol.check_content_type(ok)
    for bad in (None, "", "text/plain", "application/x-www-form-urlencoded"):
        with pytest.raises(WireError) as info:
            protocol.check_content_type(bad)
        assert info.value.status == 415


class Status(StrEnum):
    Completed = "Completed"


def test_response_keeps_only_modelled_members_recursively() -> None:
    result = {
        "TrainingJobSummaries": [
            {
                "TrainingJobName": "a",
                "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/a",
                "CreationTime": 1_700_000_000.25,
                "TrainingEndTime": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                "TrainingJobStatus": Status.Completed,
                "SecretInternal": {"x": 1},
                "LastModifiedTime": None,
            }
        ],
        "NextToken": None,
        "Debug": "dropped",
    }
    shaped = protocol.shape_response("ListTrainingJobs", result)
    assert shaped == {
        "TrainingJobSummaries": [
            {
                "TrainingJobName": "a",
                "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/a",
                "CreationTime": 1_700_000_000.25,
                "TrainingEndTime": 1_704_067_200.0,
                "TrainingJobStatus": "Completed",
            }
        ]
    }
    assert json.loads(protocol.encode(shaped)) == shaped


def test_non_finite_metric_values_are_omitted() -> None:
    result = {
        "TrainingJobName": "a",
        "TrainingJobArn": "arn",
        "ModelArtifacts": {"S3ModelArtifacts": "s"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "StoppingCondition": {},
        "CreationTime": 1.0,
        "FinalMetricDataList": [{"MetricName": "loss", "Value": float("nan"), "Timestamp": 2}],
    }
    shaped = protocol.shape_response("DescribeTrainingJob", result)
    assert shaped["FinalMetricDataList"] == [{"MetricName": "loss", "Timestamp": 2.0}]
    protocol.encode(shaped)  # allow_nan=False: would raise on NaN


def test_response_type_errors_are_bugs_not_silence() -> None:
    with pytest.raises(TypeError):
        protocol.shape_response("ListTrainingJobs", {"TrainingJobSummaries": "not a list"})


def test_operations_without_output_return_empty_objects() -> None:
    assert protocol.shape_response("StopTrainingJob", {"anything": 1}) == {}
    assert protocol.shape_response("DeleteTags", None) == {}


def test_normalize_request_drops_nulls_and_converts_timestamps() -> None:
    request = {
        "CreationTimeAfter": "2024-01-01T00:00:00Z",
        "NextToken": None,
        "LastModifiedTimeBefore": 1_700_000_000,
    }
    assert protocol.normalize_request("ListTrainingJobs", request) == {
        "CreationTimeAfter": 1_704_067_200.0,
        "LastModifiedTimeBefore": 1_700_000_000.0,
    }


def test_normalize_request_makes_floats_floats() -> None:
    request = {
        "HyperParameterTuningJobConfig": {
            "TuningJobCompletionCriteria": {"TargetObjectiveMetricValue": 1}
        }
    }
    out = protocol.normalize_request("CreateHyperParameterTuningJob", request)
    value = out["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"][
        "TargetObjectiveMetricValue"
    ]
    assert value == 1.0 and isinstance(value, float)


def test_error_body_uses_the_code_and_lowercase_message() -> None:
    from orchestrator.errors import ResourceNotFound

    assert protocol.error_body(ResourceNotFound("gone")) == {
        "__type": "ResourceNotFound",
        "message": "gone",
    }
