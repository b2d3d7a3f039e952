"""`smlocal export --submit [--copy-data]` from one smlocal (in-process, fake backend) to a
second one (`smlocal serve --backend fake` in a child process) standing for AWS."""

from __future__ import annotations

import pytest

from orchestrator.client.cli import main
from orchestrator.client.demo import demo_request, example_data, upload_example_data
from orchestrator.server_process import ServerProcess
from tests.fake_backed import running_app
from tests.integration.e2e import clients
from tests.unit.client.test_export import ECR, ROLE

MAP = ["--image", "smlocal/gbm:latest=" + ECR, "--bucket", "smlocal-demo=remote-bucket/amt",
       "--role-arn", ROLE]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("a")) as app:
        sm, s3 = clients(app.url)
        data_uri = upload_example_data(s3)
        sm.create_hyper_parameter_tuning_job(**demo_request("sub-src", data_uri, 2, 1))
        yield app


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("b") / "state", SMLOCAL_BACKEND="fake")
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def target_credentials(monkeypatch):
    # The target is "AWS": boto3's own credential chain, as a user's would be.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")


def test_submit_with_copy_data_creates_the_job_and_its_data_on_the_target(source, target,
                                                                          capsys):
    code = main(["--endpoint", source.url, "export", "sub-src", *MAP, "--name", "sub-dst",
                 "--submit", "--to-endpoint", target.url, "--to-region", "us-east-1",
                 "--copy-data"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip().endswith(":hyper-parameter-tuning-job/sub-dst")
    assert "copied 1 object(s) s3://smlocal-demo/gbm/data/train/ -> " \
           "s3://remote-bucket/amt/gbm/data/train/" in err
    sm, s3 = clients(target.url)
    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="sub-dst")
    assert described["HyperParameterTuningJobArn"] == out.strip()
    d = described["TrainingJobDefinition"]
    assert d["AlgorithmSpecification"]["TrainingImage"] == ECR and d["RoleArn"] == ROLE
    assert d["OutputDataConfig"]["S3OutputPath"] == "s3://remote-bucket/amt/gbm/output/"
    expected = example_data()
    for channel in ("train", "validation"):
        obj = s3.get_object(Bucket="remote-bucket", Key=f"amt/gbm/data/{channel}/{channel}.csv")
        assert obj["Body"].read().decode() == expected[channel]


def test_submit_refused_by_the_target_exits_2_with_its_message(source, target, capsys):
    # the same name twice: the target's own ResourceInUse, not a traceback
    args = ["--endpoint", source.url, "export", "sub-src", *MAP, "--name", "sub-twice",
            "--submit", "--to-endpoint", target.url]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "CreateHyperParameterTuningJob refused (http:" in err
    assert "ResourceInUse" in err and "Traceback" not in err


def test_wrong_target_endpoint_exits_4(source, capsys, free_port):
    code = main(["--endpoint", source.url, "export", "sub-src", *MAP, "--submit",
                 "--to-endpoint", f"http://127.0.0.1:{free_port()}"])
    assert code == 4 and "cannot reach http://127.0.0.1:" in capsys.readouterr().err


def test_unknown_profile_exits_2(source, capsys):
    code = main(["--endpoint", source.url, "export", "sub-src", *MAP, "--submit",
                 "--profile", "no-such-profile-smlocal"])
    assert code == 2 and "no-such-profile-smlocal" in capsys.readouterr().err


def test_copy_data_of_an_empty_prefix_is_refused_before_submitting(source, target, capsys,
                                                                   tmp_path):
    sm, _ = clients(source.url)
    sm.create_hyper_parameter_tuning_job(**demo_request("sub-empty", "s3://smlocal-demo/none",
                                                        2, 1))
    code = main(["--endpoint", source.url, "export", "sub-empty", *MAP, "--submit",
                 "--to-endpoint", target.url, "--copy-data"])
    assert code == 2
    assert "no object under s3://smlocal-demo/none/train/" in capsys.readouterr().err
    names = [s["HyperParameterTuningJobName"] for s in clients(target.url)[0]
             .list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]]
    assert "sub-empty" not in names
