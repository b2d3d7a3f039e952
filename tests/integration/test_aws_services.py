"""Issue 17 through real clients against a real server on a free port: routing by the SigV4
credential scope, STS and IAM as SDKs ask them, CloudWatch metrics of training jobs in all three
of CloudWatch's protocols (Smithy RPC v2 CBOR, JSON 1.0, query), and a clean error in the
caller's protocol for every service smlocal does not serve (never an S3 answer)."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from orchestrator.app import SmlocalApp
from orchestrator.config import Settings

REGION = "us-east-1"
JOB = "cw-metrics-job"
# A whole hour a day ago (epoch seconds): young enough for minute rounding of StartTime.
T0 = (time.time() // 3600 - 24) * 3600
# (value, seconds after T0): two per minute for three minutes, then one at +600 s.
SAMPLES = [(1.0, 5), (3.0, 50), (2.0, 65), (4.0, 70), (10.0, 130), (0.5, 170), (7.0, 600)]


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Any:
    app = SmlocalApp(settings=Settings(state_dir=tmp_path_factory.mktemp("aws")), port=0).start()
    app.store.add_metrics(JOB, [("train:loss", v, T0 + s) for v, s in SAMPLES])
    app.store.add_metrics(JOB, [("other", 9.0, T0 + 5)])
    yield app.url
    app.stop()


def client(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=REGION,
                        aws_access_key_id="x", aws_secret_access_key="x")


def signed(url: str, service: str, method: str = "POST", path: str = "/", body: bytes = b"",
           headers: dict[str, str] | None = None) -> requests.Response:
    """A raw request signed with SigV4 for `service` (as any AWS SDK would send it)."""
    request = AWSRequest(method=method, url=url + path, data=body, headers=headers or {})
    SigV4Auth(Credentials("x", "x"), service, REGION).add_auth(request)
    prepared = request.prepare()
    return requests.request(method, prepared.url, data=body, headers=dict(prepared.headers),
                            timeout=10)


def iso(offset: float) -> str:
    return dt.datetime.fromtimestamp(T0 + offset, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- STS and IAM -------------------------------------------------------------------------------


def test_sts_get_caller_identity(url) -> None:
    identity = client(url, "sts").get_caller_identity()
    assert identity["Account"] == "123456789012"
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/SageMakerRole/smlocal"
    assert identity["UserId"].startswith("AROA") and identity["UserId"].endswith(":smlocal")


def test_iam_get_role_trusts_sagemaker(url) -> None:
    role = client(url, "iam").get_role(RoleName="MyTrainingRole")["Role"]
    assert role["Arn"] == "arn:aws:iam::123456789012:role/MyTrainingRole"
    assert role["RoleName"] == "MyTrainingRole" and role["Path"] == "/"
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]  # botocore decoded it
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole" and statement["Effect"] == "Allow"
    assert isinstance(role["CreateDate"], dt.datetime)


def test_iam_simulate_principal_policy_allows_everything_asked(url) -> None:
    answer = client(url, "iam").simulate_principal_policy(
        PolicySourceArn="arn:aws:iam::123456789012:role/MyTrainingRole",
        ActionNames=["sagemaker:CreateTrainingJob", "s3:GetObject"],
        ResourceArns=["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"])
    results = answer["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalResourceName"]) for r in results] == [
        ("sagemaker:CreateTrainingJob", "arn:aws:s3:::a/*"),
        ("sagemaker:CreateTrainingJob", "arn:aws:s3:::b/*"),
        ("s3:GetObject", "arn:aws:s3:::a/*"), ("s3:GetObject", "arn:aws:s3:::b/*")]
    assert {r["EvalDecision"] for r in results} == {"allowed"}
    assert answer["IsTruncated"] is False


def test_other_sts_and_iam_actions_are_invalid_actions(url) -> None:
    with pytest.raises(ClientError) as info:
        client(url, "iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    assert info.value.response["Error"]["Code"] == "InvalidAction"
    assert "GetRole, SimulatePrincipalPolicy" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match="InvalidAction"):
        client(url, "sts").assume_role(RoleArn="arn:aws:iam::123456789012:role/r",
                                       RoleSessionName="session")


def test_missing_required_parameter_is_a_validation_error(url) -> None:
    response = signed(url, "iam", body=b"Action=GetRole&Version=2010-05-08",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    error = ElementTree.fromstring(response.content).find(".//{*}Error")
    assert error.findtext("{*}Code") == "ValidationError"
    assert "RoleName" in error.findtext("{*}Message")


# ---- CloudWatch metrics ------------------------------------------------------------------------


def statistics(url: str, **overrides: Any) -> dict[str, Any]:
    request = dict(Namespace="/aws/sagemaker/TrainingJobs", MetricName="train:loss",
                   Dimensions=[{"Name": "TrainingJobName", "Value": JOB}],
                   StartTime=T0, EndTime=T0 + 3600, Period=60,
                   Statistics=["Average", "Maximum", "SampleCount"])
    request.update(overrides)
    request = {k: v for k, v in request.items() if v is not None}
    return client(url, "cloudwatch").get_metric_statistics(**request)


def test_get_metric_statistics_buckets_by_period(url) -> None:
    got = statistics(url)
    assert got["Label"] == "train:loss"
    rows = [(p["Timestamp"].timestamp() - T0, p["Average"], p["Maximum"], p["SampleCount"])
            for p in got["Datapoints"]]
    assert rows == [(0, 2.0, 3.0, 2.0), (60, 3.0, 4.0, 2.0), (120, 5.25, 10.0, 2.0),
                    (600, 7.0, 7.0, 1.0)]
    assert {p["Unit"] for p in got["Datapoints"]} == {"None"}
    five = statistics(url, Period=300, Statistics=["Sum", "Minimum"])["Datapoints"]
    assert [(p["Timestamp"].timestamp() - T0, p["Sum"], p["Minimum"]) for p in five] == [
        (0, 20.5, 0.5), (600, 7.0, 7.0)]
    pct = statistics(url, Period=3600, Statistics=None, ExtendedStatistics=["p50", "p90"])
    assert pct["Datapoints"][0]["ExtendedStatistics"] == {"p50": 3.0, "p90": 10.0}


def test_start_time_is_rounded_down_to_the_minute(url) -> None:
    got = statistics(url, StartTime=T0 + 59, EndTime=T0 + 120)["Datapoints"]
    assert [(p["Timestamp"].timestamp() - T0, p["SampleCount"]) for p in got] == [(0, 2.0),
                                                                                   (60, 2.0)]


def test_other_metrics_dimensions_namespaces_and_units_have_no_data(url) -> None:
    assert statistics(url, MetricName="nope")["Datapoints"] == []
    assert statistics(url, Namespace="AWS/EC2")["Datapoints"] == []
    assert statistics(url, Unit="Seconds")["Datapoints"] == []
    assert statistics(url, Dimensions=[{"Name": "TrainingJobName", "Value": JOB},
                                       {"Name": "Host", "Value": "algo-1"}])["Datapoints"] == []


@pytest.mark.parametrize(("overrides", "code", "words"), [
    ({"EndTime": T0}, "InvalidParameterValue", "StartTime must be less than"),
    ({"Period": 7}, "InvalidParameterValue", "Period must be"),
    ({"ExtendedStatistics": ["p90"]}, "InvalidParameterCombination", "not both"),
    ({"Statistics": None, "ExtendedStatistics": ["median"]}, "InvalidParameterValue",
     "not supported"),
    ({"Period": 1, "EndTime": T0 + 2000}, "InvalidParameterCombination", "limit of 1440"),
])
def test_bad_statistics_requests_get_cloudwatch_errors(url, overrides, code, words) -> None:
    with pytest.raises(ClientError) as info:
        statistics(url, **overrides)
    assert info.value.response["Error"]["Code"] == code
    assert words in info.value.response["Error"]["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def metric_stat(stat: str, period: int = 60) -> dict[str, Any]:
    return {"Metric": {"Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "train:loss",
                       "Dimensions": [{"Name": "TrainingJobName", "Value": JOB}]},
            "Period": period, "Stat": stat}


def test_get_metric_data_with_pagination(url) -> None:
    cw = client(url, "cloudwatch")
    queries = [{"Id": "avg", "MetricStat": metric_stat("Average")},
               {"Id": "mx", "MetricStat": metric_stat("Maximum", 300), "Label": "max5"},
               {"Id": "hidden", "MetricStat": metric_stat("Sum"), "ReturnData": False}]
    whole = cw.get_metric_data(MetricDataQueries=queries, StartTime=T0, EndTime=T0 + 3600,
                               ScanBy="TimestampAscending")
    results = {r["Id"]: r for r in whole["MetricDataResults"]}
    assert set(results) == {"avg", "mx"}
    assert results["avg"]["Values"] == [2.0, 3.0, 5.25, 7.0]
    assert [t.timestamp() - T0 for t in results["avg"]["Timestamps"]] == [0, 60, 120, 600]
    assert results["mx"]["Label"] == "max5" and results["mx"]["Values"] == [10.0, 7.0]
    assert "NextToken" not in whole
    pages, token = [], None
    while True:  # 6 datapoints, 4 per page: the same values across two pages, newest first
        extra = {"NextToken": token} if token else {}
        page = cw.get_metric_data(MetricDataQueries=queries, StartTime=T0, EndTime=T0 + 3600,
                                  MaxDatapoints=4, **extra)
        pages.append({r["Id"]: r["Values"] for r in page["MetricDataResults"]})
        token = page.get("NextToken")
        if not token:
            break
    assert len(pages) == 2
    assert pages[0]["avg"] + pages[1]["avg"] == [7.0, 5.25, 3.0, 2.0]
    assert pages[0]["mx"] + pages[1]["mx"] == [7.0, 10.0]


def test_cloudwatch_json_and_query_protocols_give_the_same_answer(url) -> None:
    """Older botocore and other SDKs speak JSON 1.0 or query to CloudWatch."""
    request = {"Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "train:loss",
               "Dimensions": [{"Name": "TrainingJobName", "Value": JOB}],
               "StartTime": T0, "EndTime": T0 + 3600, "Period": 60, "Statistics": ["Average"]}
    by_json = signed(url, "monitoring", body=json.dumps(request).encode(), headers={
        "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricStatistics",
        "Content-Type": "application/x-amz-json-1.0"})
    assert by_json.status_code == 200, by_json.text
    points = sorted(by_json.json()["Datapoints"], key=lambda p: p["Timestamp"])
    assert [(p["Timestamp"] - T0, p["Average"]) for p in points] == [
        (0, 2.0), (60, 3.0), (120, 5.25), (600, 7.0)]
    form = {"Action": "GetMetricStatistics", "Version": "2010-08-01",
            "Namespace": request["Namespace"], "MetricName": "train:loss",
            "Dimensions.member.1.Name": "TrainingJobName", "Dimensions.member.1.Value": JOB,
            "StartTime": iso(0), "EndTime": iso(3600), "Period": "60",
            "Statistics.member.1": "Average"}
    by_query = signed(url, "monitoring", body=urlencode(form).encode(),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert by_query.status_code == 200, by_query.text
    members = ElementTree.fromstring(by_query.content).findall(".//{*}Datapoints/{*}member")
    assert sorted(float(m.findtext("{*}Average")) for m in members) == [2.0, 3.0, 5.25, 7.0]


# ---- routing -----------------------------------------------------------------------------------


def buckets(url: str) -> list[str]:
    return [b["Name"] for b in client(url, "s3").list_buckets().get("Buckets", [])]


def test_services_not_served_get_an_error_in_their_own_protocol(url) -> None:
    before = buckets(url)
    # JSON 1.0 (DynamoDB), signed for its own service.
    answer = signed(url, "dynamodb", body=b"{}", headers={
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Content-Type": "application/x-amz-json-1.0"})
    assert answer.status_code == 400
    assert answer.json()["__type"] == "UnknownOperationException"
    assert "'dynamodb'" in answer.json()["message"]
    # Query (SNS).
    answer = signed(url, "sns", body=b"Action=ListTopics&Version=2010-03-31",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400
    assert ElementTree.fromstring(answer.content).findtext(".//{*}Code") == "InvalidAction"
    # REST: a PUT that S3 would take as CreateBucket, signed for another service.
    answer = signed(url, "lambda", method="PUT", path="/not-a-bucket")
    assert answer.status_code == 400 and "UnknownOperationException" in answer.text
    assert buckets(url) == before  # S3 never saw any of them


def test_real_sdk_clients_of_other_services_get_client_errors(url) -> None:
    with pytest.raises(ClientError) as info:
        client(url, "dynamodb").list_tables()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as info:
        client(url, "lambda").list_functions()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_sagemaker_s3_and_logs_still_route_by_scope(url) -> None:
    assert client(url, "sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
    s3 = client(url, "s3")
    s3.create_bucket(Bucket="routing-check")
    s3.put_object(Bucket="routing-check", Key="k", Body=b"v")
    assert s3.get_object(Bucket="routing-check", Key="k")["Body"].read() == b"v"
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        client(url, "logs").get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                           logStreamName="none/algo-1-1")


def test_an_empty_or_unknown_target_is_a_json_error_not_s3(url) -> None:
    for target in ("", "NoSuchService.Op"):
        answer = requests.post(url + "/", data=b"{}", timeout=10, headers={
            "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
        assert answer.status_code == 400, (target, answer.text)
        assert answer.json()["__type"] == "UnknownOperationException"
