"""Property-based fuzzing (issue 15): requests generated from botocore's input shapes for every
operation the endpoint serves, valid and invalid, over real HTTP to the real app (on the fake
backend, so requests that pass validation reach the real rules and state).

Properties: never a 5xx; every error is AWS-shaped for its protocol; a Create that was refused
leaves no job behind, and one that was accepted stores exactly that job.

Generation: each shape becomes a Hypothesis strategy (structures with their required members
and any subset of the optional ones, lists and maps within the model's bounds, enums, integer
and length ranges, patterns where Python's `re` can read them); `junk` mixes in values of the
wrong type or out of range at every level, so invalid requests are generated too.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import botocore.session
import pytest
import requests
from botocore.model import OperationModel, Shape
from botocore.serialize import QuerySerializer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from orchestrator.controller.cloudwatch_logs import TrainingJobLogs
from orchestrator.controller.cloudwatch_metrics import TrainingJobMetrics
from orchestrator.controller.identity import IamService, StsService
from tests.fake_backed import OPERATIONS, running_app

SESSION = botocore.session.get_session()
MAX_DEPTH = 5
JUNK = st.one_of(st.none(), st.integers(-(2**65), 2**65), st.floats(allow_nan=False),
                 st.text(max_size=8), st.booleans(), st.just([]), st.just({}),
                 st.just("x" * 3000))
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Iterator[str]:
    with running_app(tmp_path_factory.mktemp("state")) as app:
        yield app.url


def _pattern(shape: Shape) -> st.SearchStrategy[str] | None:
    pattern = shape.metadata.get("pattern")
    if not pattern:
        return None
    try:
        re.compile(pattern)
        return st.from_regex(pattern, fullmatch=True)
    except (re.error, ValueError):  # a Java-only construct: fall back to plain text
        return None


def strategy(shape: Shape, *, invalid: bool, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for `shape`; with `invalid`, wrong values may appear anywhere."""
    valid = _valid(shape, invalid=invalid, depth=depth)
    return st.one_of(valid, JUNK) if invalid else valid


def _valid(shape: Shape, *, invalid: bool, depth: int) -> st.SearchStrategy[Any]:
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        required = set(shape.required_members)
        if depth >= MAX_DEPTH:
            return st.just({}) if not required else st.fixed_dictionaries(
                {k: st.just("x") for k in required})
        members = {name: strategy(m, invalid=invalid, depth=depth + 1)
                   for name, m in shape.members.items()}
        return st.fixed_dictionaries(
            {k: v for k, v in members.items() if k in required},
            optional={k: v for k, v in members.items() if k not in required})
    if kind == "list":
        return st.lists(strategy(shape.member, invalid=invalid, depth=depth + 1),
                        min_size=int(meta.get("min", 0)),
                        max_size=max(int(meta.get("min", 0)), min(int(meta.get("max", 3)), 3)))
    if kind == "map":
        return st.dictionaries(st.text(min_size=1, max_size=10),
                               strategy(shape.value, invalid=invalid, depth=depth + 1),
                               max_size=3)
    if kind == "string":
        if shape.enum:
            return st.sampled_from(list(shape.enum))
        pattern = _pattern(shape)
        low, high = int(meta.get("min", 0)), min(int(meta.get("max", 40)), 40)
        text = st.text(min_size=low, max_size=max(low, high))
        return st.one_of(pattern, text) if pattern is not None else text
    if kind in ("integer", "long"):
        return st.integers(int(meta.get("min", -(2**31))), int(meta.get("max", 2**31)))
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, min_value=meta.get("min"),
                         max_value=meta.get("max"))
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.floats(0, 4e9)
    if kind == "blob":
        return st.binary(max_size=16).map(lambda b: base64.b64encode(b).decode())
    return st.none()


def operation(service: str, name: str) -> OperationModel:
    return SESSION.get_service_model(service).operation_model(name)


def assert_aws_error(response: requests.Response, protocol: str) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code < 400:
        return
    if protocol == "query" or response.headers.get("Content-Type", "").startswith(
            ("text/xml", "application/xml")):
        code = ElementTree.fromstring(response.content).findtext(".//{*}Code")
        assert code, response.text[:500]
    else:
        body = response.json()
        assert body.get("__type") and "message" in body, body


# ---- SageMaker -------------------------------------------------------------------------------

NAMED_CREATES = {"CreateHyperParameterTuningJob": "HyperParameterTuningJobName",
                 "CreateTrainingJob": "TrainingJobName"}
DESCRIBES = {"CreateHyperParameterTuningJob": "DescribeHyperParameterTuningJob",
             "CreateTrainingJob": "DescribeTrainingJob"}


def sagemaker_call(url: str, name: str, body: Any) -> requests.Response:
    return requests.post(url + "/", data=json.dumps(body), timeout=30, headers={
        "X-Amz-Target": f"SageMaker.{name}", "Content-Type": "application/x-amz-json-1.1"})


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@pytest.mark.parametrize("invalid", [False, True], ids=["shaped", "with-junk"])
def test_sagemaker_operations_never_5xx_and_refused_creates_store_nothing(url, name,
                                                                          invalid) -> None:
    shape = operation("sagemaker", name).input_shape

    @SETTINGS
    @given(body=strategy(shape, invalid=invalid) if shape else st.just({}))
    def check(body: Any) -> None:
        job = None
        if name in NAMED_CREATES and isinstance(body, dict):
            job = f"hyp-{uuid.uuid4().hex[:12]}"  # unique: a refusal is never ResourceInUse
            body[NAMED_CREATES[name]] = job
        response = sagemaker_call(url, name, body)
        assert_aws_error(response, "json")
        if job is None:
            return
        described = sagemaker_call(url, DESCRIBES[name], {NAMED_CREATES[name]: job})
        if response.status_code == 200:
            assert described.status_code == 200, described.text
        else:
            assert described.status_code == 400, described.text  # nothing was stored

    check()


# ---- the other services ----------------------------------------------------------------------

def json_call(url: str, service: str, name: str, body: Any) -> requests.Response:
    model = SESSION.get_service_model(service)
    return requests.post(url + "/", data=json.dumps(body), timeout=30, headers={
        "X-Amz-Target": f"{model.metadata['targetPrefix']}.{name}",
        "Content-Type": f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.1')}"})


@pytest.mark.parametrize(("service", "name"), [
    ("logs", op) for op in sorted(TrainingJobLogs.supported_operations)] + [
    ("cloudwatch", op) for op in sorted(TrainingJobMetrics.supported_operations)])
@pytest.mark.parametrize("invalid", [False, True], ids=["shaped", "with-junk"])
def test_json_services_never_5xx(url, service, name, invalid) -> None:
    shape = operation(service, name).input_shape

    @SETTINGS
    @given(body=strategy(shape, invalid=invalid))
    def check(body: Any) -> None:
        assert_aws_error(json_call(url, service, name, body), "json")

    check()


@pytest.mark.parametrize(("service", "name"), [
    ("sts", op) for op in sorted(StsService.supported_operations)] + [
    ("iam", op) for op in sorted(IamService.supported_operations)] + [
    ("cloudwatch", op) for op in sorted(TrainingJobMetrics.supported_operations)])
def test_query_services_never_5xx(url, service, name) -> None:
    op = operation(service, name)

    @SETTINGS
    @given(params=strategy(op.input_shape, invalid=False) if op.input_shape else st.just({}))
    def check(params: dict[str, Any]) -> None:
        try:
            form = QuerySerializer().serialize_to_request(params, op)["body"]
        except (TypeError, ValueError, AttributeError):
            assume(False)  # botocore cannot write it as a form: not a request a client sends
        response = requests.post(url + "/", data=urlencode(form), timeout=30, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        assert_aws_error(response, "query")

    check()
