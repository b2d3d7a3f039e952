"""Issue 10 item 4: request authentication (SigV4) on the real server, through real boto3.

A server with an access key configured (as `smlocal serve --host 0.0.0.0` has) on a free
loopback port: signed requests pass for SageMaker, S3 (put/get, multipart, presigned GET), Logs,
CloudWatch, STS and IAM; unsigned or wrongly signed ones get AWS's error codes in each
protocol; a training job (Docker) runs to Completed, its container and the stager signing with
the key derived for jobs. `smlocal serve` itself: loopback stays open, another address needs a
key (exit 2 without one) and warns with one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import botocore
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from orchestrator.app import SmlocalApp
from orchestrator.config import Settings
from orchestrator.credentials import AccessKey
from tests.integration.e2e import wait_for

KEY = AccessKey("AKIASMLOCALTEST00001", "s3cr3t/Key+For+Tests0000000000000000000")
BUCKET = "auth-bucket"
ROOT = Path(__file__).resolve().parents[2]
NO_RETRY = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})


@pytest.fixture(scope="module")
def served(tmp_path_factory, docker_client):
    app = SmlocalApp(settings=Settings(state_dir=tmp_path_factory.mktemp("auth-state"),
                                       access_key=KEY, stop_grace_seconds=2.0),
                     port=0).start()
    s3 = client(app.url, "s3")
    s3.create_bucket(Bucket=BUCKET)
    yield app
    app.stop()


def client(url: str, service: str, key_id: str = KEY.access_key_id,
           secret: str = KEY.secret_access_key, **config: Any) -> Any:
    cfg = NO_RETRY.merge(Config(**config)) if config else NO_RETRY
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=key_id, aws_secret_access_key=secret, config=cfg)


def error_code(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# Each service's cheapest read, through boto3.
CALLS = {
    "sagemaker": lambda c: c.list_training_jobs(MaxResults=1),
    "s3": lambda c: c.list_objects_v2(Bucket=BUCKET),
    "logs": lambda c: c.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs"),
    "cloudwatch": lambda c: c.get_metric_statistics(
        Namespace="/aws/sagemaker/TrainingJobs", MetricName="loss",
        Dimensions=[{"Name": "TrainingJobName", "Value": "none"}],
        StartTime=dt.datetime(2024, 1, 1), EndTime=dt.datetime(2024, 1, 2), Period=60,
        Statistics=["Average"]),
    "sts": lambda c: c.get_caller_identity(),
    "iam": lambda c: c.get_role(RoleName="SageMakerRole"),
}


def test_signed_requests_pass_for_every_service(served) -> None:
    for service, call in CALLS.items():
        call(client(served.url, service))
    identity = client(served.url, "sts").get_caller_identity()
    assert identity["Arn"] == ("arn:aws:sts::123456789012:assumed-role/SageMakerRole/"
                               f"{KEY.access_key_id}")
    assert identity["UserId"].endswith(f":{KEY.access_key_id}")


def test_s3_put_get_multipart_and_presigned_get(served) -> None:
    s3 = client(served.url, "s3")
    s3.put_object(Bucket=BUCKET, Key="dir/a b+c=d~e.txt", Body=b"hello")
    assert s3.get_object(Bucket=BUCKET, Key="dir/a b+c=d~e.txt")["Body"].read() == b"hello"
    part = os.urandom(5 * 1024 * 1024)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="big.bin")["UploadId"]
    etags = [s3.upload_part(Bucket=BUCKET, Key="big.bin", UploadId=upload, PartNumber=n,
                            Body=body)["ETag"] for n, body in ((1, part), (2, b"tail"))]
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key="big.bin", UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n}
                                   for n, e in enumerate(etags, 1)]})
    assert s3.get_object(Bucket=BUCKET, Key="big.bin")["Body"].read() == part + b"tail"
    # boto3 presigns S3 URLs with Signature Version 2 unless told s3v4: both are accepted.
    for presigner in (s3, client(served.url, "s3", signature_version="s3v4")):
        url = presigner.generate_presigned_url("get_object", Params={
            "Bucket": BUCKET, "Key": "dir/a b+c=d~e.txt"})
        with urllib.request.urlopen(url) as answer:
            assert answer.read() == b"hello"
    # The transfer manager (upload_fileobj: checksums, parts in threads) works as well.
    import io
    s3.upload_fileobj(io.BytesIO(part * 2), BUCKET, "managed.bin")
    assert s3.head_object(Bucket=BUCKET, Key="managed.bin")["ContentLength"] == len(part) * 2


def test_health_check_stays_open(served) -> None:
    with urllib.request.urlopen(f"{served.url}/_smlocal/health") as answer:
        assert json.loads(answer.read()) == {"status": "ok"}


EXPECTED = {  # service: (unsigned, wrong secret, unknown key)
    "sagemaker": ("MissingAuthenticationToken", "InvalidSignatureException",
                  "UnrecognizedClientException"),
    "s3": ("AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId"),
    "logs": ("MissingAuthenticationToken", "InvalidSignatureException",
             "UnrecognizedClientException"),
    "cloudwatch": ("MissingAuthenticationToken", "InvalidSignatureException",
                   "UnrecognizedClientException"),
    "sts": ("MissingAuthenticationToken", "SignatureDoesNotMatch", "InvalidClientTokenId"),
    "iam": ("MissingAuthenticationToken", "SignatureDoesNotMatch", "InvalidClientTokenId"),
}


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_unsigned_and_wrongly_signed_requests_get_the_services_error(served, service) -> None:
    unsigned, wrong_secret, unknown_key = EXPECTED[service]
    call = CALLS[service]
    anonymous = client(served.url, service, signature_version=botocore.UNSIGNED)
    code, status = error_code(lambda: call(anonymous))
    assert (code, status) == (unsigned, 403)
    code, status = error_code(lambda: call(client(served.url, service,
                                                  secret=KEY.secret_access_key + "x")))
    assert (code, status) == (wrong_secret, 403)
    code, status = error_code(lambda: call(client(served.url, service,
                                                  key_id="AKIAUNKNOWN000000000")))
    assert (code, status) == (unknown_key, 403)


@pytest.mark.parametrize("service", ["sagemaker", "s3", "sts"])
def test_a_clock_15_minutes_off_is_refused(served, service) -> None:
    expected = {"sagemaker": "InvalidSignatureException", "s3": "RequestTimeTooSkewed",
                "sts": "SignatureDoesNotMatch"}[service]
    for minutes in (-16, 16):
        skewed = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
        with mock.patch("botocore.auth.get_current_datetime", return_value=skewed):
            code, status = error_code(lambda: CALLS[service](client(served.url, service)))
        assert (code, status) == (expected, 403)
    near = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=14)
    with mock.patch("botocore.auth.get_current_datetime", return_value=near):
        CALLS[service](client(served.url, service))


def signed_request(url: str, service: str, body: bytes, headers: dict[str, str],
                   method: str = "POST") -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    signer = (botocore.auth.S3SigV4Auth if service == "s3" else SigV4Auth)(
        Credentials(KEY.access_key_id, KEY.secret_access_key), service, "us-east-1")
    signer.add_auth(request)
    return request


def send(request: AWSRequest, body: bytes) -> tuple[int, bytes]:
    raw = urllib.request.Request(request.url, data=body, method=request.method,
                                 headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(raw) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_a_tampered_body_is_refused(served) -> None:
    body = json.dumps({"MaxResults": 1}).encode()
    request = signed_request(served.url + "/", "sagemaker", body, {
        "X-Amz-Target": "SageMaker.ListTrainingJobs",
        "Content-Type": "application/x-amz-json-1.1"})
    assert send(request, body)[0] == 200
    status, answer = send(request, json.dumps({"MaxResults": 2}).encode())
    assert status == 403 and json.loads(answer)["__type"] == "InvalidSignatureException"
    # S3 signs the body's hash in x-amz-content-sha256: another body of the same length fails.
    put_url = f"{served.url}/{BUCKET}/tampered.txt"
    request = signed_request(put_url, "s3", b"right", {}, method="PUT")
    assert request.headers["X-Amz-Content-SHA256"] == hashlib.sha256(b"right").hexdigest()
    status, answer = send(request, b"wrong")
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in answer
    assert error_code(lambda: client(served.url, "s3").head_object(
        Bucket=BUCKET, Key="tampered.txt"))[1] == 404
    assert send(request, b"right")[0] == 200


def test_an_expired_presigned_url_is_refused(served) -> None:
    client(served.url, "s3").put_object(Bucket=BUCKET, Key="soon-gone", Body=b"x")
    presigners = (client(served.url, "s3"), client(served.url, "s3", signature_version="s3v4"))
    urls = [s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET,
                                                            "Key": "soon-gone"}, ExpiresIn=1)
            for s3 in presigners]
    for url in urls:  # a changed key: the signature no longer matches
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url.replace("soon-gone", "soon-gonE"))
        assert b"<Code>SignatureDoesNotMatch</Code>" in info.value.read()
    def expired(url: str) -> bool:
        try:
            urllib.request.urlopen(url)
        except urllib.error.HTTPError:
            return True
        return False

    # ExpiresIn=1: poll until the server says so (a second or two), then check how it says it.
    wait_for(lambda: all(expired(u) for u in urls), timeout=15, every=0.2,
             what="the presigned URLs to expire")
    for url in urls:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url)
        answer = info.value.read()
        assert info.value.code == 403 and b"<Code>AccessDenied</Code>" in answer
        assert b"Request has expired" in answer


# A training job whose container signs an S3 PUT itself (stdlib SigV4) with the credentials it
# was given, and checks that they are not the operator's.
CONTAINER_SCRIPT = """
import datetime,hashlib,hmac,os,urllib.request
e=os.environ;kid=e['AWS_ACCESS_KEY_ID'];sec=e['AWS_SECRET_ACCESS_KEY']
assert kid!='%(operator)s' and sec!='%(secret)s', 'operator key leaked'
ep=e['AWS_ENDPOINT_URL_S3'];host=ep.split('://')[1];path='/%(bucket)s/from-container.txt'
body=kid.encode();t=datetime.datetime.now(datetime.timezone.utc);d=t.strftime('%%Y%%m%%dT%%H%%M%%SZ')
ph=hashlib.sha256(body).hexdigest();sc=d[:8]+'/us-east-1/s3/aws4_request'
cr='PUT\\n'+path+'\\n\\nhost:'+host+'\\nx-amz-content-sha256:'+ph+'\\nx-amz-date:'+d+'\\n\\nhost;x-amz-content-sha256;x-amz-date\\n'+ph
k=('AWS4'+sec).encode()
for p in (d[:8],'us-east-1','s3','aws4_request'):k=hmac.new(k,p.encode(),hashlib.sha256).digest()
s=hmac.new(k,('AWS4-HMAC-SHA256\\n'+d+'\\n'+sc+'\\n'+hashlib.sha256(cr.encode()).hexdigest()).encode(),hashlib.sha256).hexdigest()
a='AWS4-HMAC-SHA256 Credential='+kid+'/'+sc+',SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature='+s
r=urllib.request.Request(ep+path,data=body,method='PUT',headers={'x-amz-date':d,'x-amz-content-sha256':ph,'Authorization':a,'Content-Type':'text/plain'})
print('put', urllib.request.urlopen(r).status)
print(open('/opt/ml/input/data/train/data.csv').read().strip())
open('/opt/ml/model/model.txt','w').write('model')
print('loss=0.25')
"""
# Hyperparameter values are one line: the script travels base64-encoded.
RUN_PYTHON = ("import base64,json;exec(base64.b64decode(json.load(open("
              "'/opt/ml/input/config/hyperparameters.json'))['script']))")


@pytest.mark.docker
def test_a_training_job_completes_with_authentication_on(served, smlocal_image) -> None:
    sm, s3 = client(served.url, "sagemaker"), client(served.url, "s3")
    s3.put_object(Bucket=BUCKET, Key="train/data.csv", Body=b"1,2,3")
    name = f"auth-{uuid.uuid4().hex[:10]}"
    script = CONTAINER_SCRIPT % {"operator": KEY.access_key_id, "secret": KEY.secret_access_key,
                                 "bucket": BUCKET}
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": smlocal_image("probe"), "TrainingInputMode": "File",
            "ContainerEntrypoint": ["python3", "-c", RUN_PYTHON],
            "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}]},
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/train/",
            "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
        HyperParameters={"script": base64.b64encode(script.encode()).decode()})

    def ended() -> dict[str, Any] | None:
        d = sm.describe_training_job(TrainingJobName=name)
        return d if d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") else None

    job = wait_for(ended, timeout=180, what=f"{name} to end")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["FinalMetricDataList"][0]["Value"] == pytest.approx(0.25)
    written = s3.get_object(Bucket=BUCKET, Key="from-container.txt")["Body"].read().decode()
    assert written == KEY.container_key().access_key_id != KEY.access_key_id
    s3.head_object(Bucket=BUCKET, Key=f"out/{name}/output/model.tar.gz")


# ---- `smlocal serve` ------------------------------------------------------------------------

def serve(tmp_path: Path, port: int, *args: str, env: dict[str, str] | None = None
          ) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMLOCAL_")}
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.client.cli", "serve", "--port", str(port),
         "--backend", "fake", "--state-dir", str(tmp_path / "state"), *args],
        cwd=ROOT, env={**clean, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def wait_serving(process: subprocess.Popen) -> str:
    line = process.stdout.readline()
    assert "smlocal serving on" in line, (line, process.stderr.read() if process.poll() else "")
    return line


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return err


def test_serve_off_loopback_without_a_key_refuses_to_start(tmp_path, free_port) -> None:
    process = serve(tmp_path, free_port(), "--host", "0.0.0.0")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2, (out, err)
    assert "refusing to listen on 0.0.0.0" in err
    assert "--access-key-id" in err and "SMLOCAL_ACCESS_KEY_ID" in err


def test_serve_off_loopback_with_a_key_warns_and_authenticates(tmp_path, free_port) -> None:
    port = free_port()
    process = serve(tmp_path, port, "--host", "0.0.0.0", env={
        "SMLOCAL_ACCESS_KEY_ID": KEY.access_key_id,
        "SMLOCAL_SECRET_ACCESS_KEY": KEY.secret_access_key})
    try:
        line = wait_serving(process)
        assert KEY.access_key_id in line
        url = f"http://127.0.0.1:{port}"
        client(url, "sagemaker").list_training_jobs(MaxResults=1)
        assert error_code(lambda: client(url, "sagemaker", secret="x").list_training_jobs())[0] \
            == "InvalidSignatureException"
    finally:
        err = stop(process)
    assert "WARNING: listening on 0.0.0.0, not loopback" in err


def test_serve_on_loopback_stays_open_to_dummy_credentials(tmp_path, free_port) -> None:
    port = free_port()
    process = serve(tmp_path, port)
    try:
        wait_serving(process)
        url = f"http://127.0.0.1:{port}"
        client(url, "sagemaker", "x", "x").list_training_jobs(MaxResults=1)
        s3 = client(url, "s3", "x", "x")
        s3.create_bucket(Bucket="open")
        s3.put_object(Bucket="open", Key="k", Body=b"v")
        assert s3.get_object(Bucket="open", Key="k")["Body"].read() == b"v"
        anonymous = client(url, "sts", signature_version=botocore.UNSIGNED)
        assert anonymous.get_caller_identity()["Arn"].endswith("assumed-role/SageMakerRole/"
                                                               "smlocal")
    finally:
        err = stop(process)
    assert "WARNING" not in err
