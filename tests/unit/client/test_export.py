"""`smlocal export` against the real app on the fake backend: the body is botocore's input
shape, every local value is mapped or reported, bad input exits 2 with a message."""

from __future__ import annotations

import json

import botocore.session
import pytest

from orchestrator.client.cli import main
from orchestrator.client.demo import demo_request
from orchestrator.client.export import Mapping, apply_mapping, load_mapping, map_s3_uri
from tests.fake_backed import running_app
from tests.integration.e2e import clients

ECR = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/gbm:1.0"
ROLE = "arn:aws:iam::111122223333:role/SageMakerRole"
FULL_MAP = ["--image", "smlocal/gbm:latest=" + ECR, "--bucket", "smlocal-demo=real-bucket/amt",
            "--role-arn", ROLE, "--region", "eu-west-1"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("state")) as app:
        sm, _ = clients(app.url)
        request = demo_request("exp-src", "s3://smlocal-demo/gbm/data", jobs=2, parallel=1)
        request["TrainingJobDefinition"]["CheckpointConfig"] = {
            "S3Uri": "s3://smlocal-demo/gbm/ckpt/"}
        request["Tags"] = [{"Key": "team", "Value": "ml"}]
        sm.create_hyper_parameter_tuning_job(**request)
        yield app


def export(app, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--endpoint", app.url, "export", "exp-src", *args])
    out, err = capsys.readouterr()
    return code, out, err


def input_members() -> set[str]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return set(model.operation_model("CreateHyperParameterTuningJob").input_shape.members)


def test_unmapped_local_values_are_each_reported_and_fail(app, capsys):
    code, out, err = export(app, capsys)
    assert code == 2 and out == ""
    assert "smlocal/gbm:latest' is not an ECR image URI" in err
    assert "--image smlocal/gbm:latest=URI" in err
    assert "in smlocal's own bucket 'smlocal-demo'" in err
    assert "TrainingJobDefinition.InputDataConfig[0].DataSource.S3DataSource.S3Uri" in err
    assert "TrainingJobDefinition.CheckpointConfig.S3Uri" in err
    assert "TrainingJobDefinition.OutputDataConfig.S3OutputPath" in err
    assert "smlocal's fake account 123456789012; give --role-arn ARN" in err
    assert "6 local-only value(s)" in err  # image, 2 channels, output, checkpoint, role
    assert "Traceback" not in err


def test_allow_local_writes_the_body_anyway(app, capsys):
    code, out, err = export(app, capsys, "--allow-local")
    assert code == 0 and "local-only value" in err
    assert json.loads(out)["TrainingJobDefinition"]["RoleArn"].endswith(
        "AmazonSageMaker-ExecutionRole-smlocal")


def test_fully_mapped_body_has_only_input_members_and_mapped_values(app, capsys, tmp_path):
    out_file = tmp_path / "req.json"
    code, out, err = export(app, capsys, *FULL_MAP, "--tag", "stage=aws", "-o", str(out_file))
    assert code == 0, err
    body = json.loads(out_file.read_text())
    assert set(body) <= input_members()
    assert "HyperParameterTuningJobArn" not in body and "CreationTime" not in body
    definition = body["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"]["TrainingImage"] == ECR
    assert definition["RoleArn"] == ROLE
    assert [c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition["InputDataConfig"]] \
        == ["s3://real-bucket/amt/gbm/data/train/", "s3://real-bucket/amt/gbm/data/validation/"]
    assert definition["OutputDataConfig"]["S3OutputPath"] == "s3://real-bucket/amt/gbm/output/"
    assert definition["CheckpointConfig"]["S3Uri"] == "s3://real-bucket/amt/gbm/ckpt/"
    assert {t["Key"]: t["Value"] for t in body["Tags"]} == {"team": "ml", "stage": "aws"}
    # the unchanged rest equals what was sent
    assert body["HyperParameterTuningJobConfig"]["ParameterRanges"] == demo_request(
        "x", "s3://b")["HyperParameterTuningJobConfig"]["ParameterRanges"]


def test_mapping_file_does_the_same_as_flags(app, capsys, tmp_path):
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({
        "images": {"smlocal/gbm": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/gbm"},
        "buckets": {"smlocal-demo/gbm": "real-bucket/x"}, "role_arn": ROLE,
        "region": "eu-west-1", "name": "exp-aws"}))
    code, out, err = export(app, capsys, "--map", str(mapping))
    assert code == 0, err
    body = json.loads(out)
    assert body["HyperParameterTuningJobName"] == "exp-aws"
    # a repository without tag maps every tag, keeping the local one
    assert body["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] == \
        "111122223333.dkr.ecr.eu-west-1.amazonaws.com/gbm:latest"
    assert body["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"] == \
        "s3://real-bucket/x/output/"


def test_region_moves_ecr_uris_and_arns():
    body = {"TrainingJobDefinition": {
        "AlgorithmSpecification": {"TrainingImage":
                                   "111122223333.dkr.ecr.us-east-1.amazonaws.com/a:1"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://b/o",
                             "KmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/k1"}}}
    out, problems = apply_mapping(body, Mapping(region="ap-south-1"))
    d = out["TrainingJobDefinition"]
    assert problems == []
    assert d["AlgorithmSpecification"]["TrainingImage"].startswith(
        "111122223333.dkr.ecr.ap-south-1.amazonaws.com/")
    assert d["OutputDataConfig"]["KmsKeyId"] == "arn:aws:kms:ap-south-1:111122223333:key/k1"
    assert d["RoleArn"] == ROLE  # IAM ARNs have no region


def test_warm_start_parents_are_local_until_mapped_or_dropped():
    body = {"WarmStartConfig": {"WarmStartType": "TransferLearning",
                                "ParentHyperParameterTuningJobs": [
                                    {"HyperParameterTuningJobName": "local-parent"}]}}
    _, problems = apply_mapping(body, Mapping())
    assert [p.value for p in problems] == ["local-parent"]
    assert "--parent local-parent=REMOTE-NAME" in str(problems[0])
    out, problems = apply_mapping(body, Mapping(parents={"local-parent": "aws-parent"}))
    assert problems == [] and out["WarmStartConfig"]["ParentHyperParameterTuningJobs"] == [
        {"HyperParameterTuningJobName": "aws-parent"}]
    out, problems = apply_mapping(body, Mapping(drop_warm_start=True))
    assert problems == [] and "WarmStartConfig" not in out


def test_bucket_keys_match_whole_path_segments_longest_first():
    buckets = {"a": "x", "a/data": "y/z"}
    assert map_s3_uri("s3://a/data/train/f.csv", buckets) == "s3://y/z/train/f.csv"
    assert map_s3_uri("s3://a/database/f", buckets) == "s3://x/database/f"
    assert map_s3_uri("s3://ab/f", buckets) is None


@pytest.mark.parametrize("text, message", [
    ("{", "invalid JSON"), ("[]", "is a JSON object"), ('{"imgs": {}}', "unknown key"),
    ('{"images": {"a": 1}}', "'images' must be an object of strings"),
    ('{"role_arn": 5}', "'role_arn' must be a string")])
def test_malformed_mapping_file(tmp_path, text, message):
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_mapping(str(path))


def test_bad_input_exits_2_with_a_message(app, capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    cases = [(["--map", str(bad)], "invalid JSON"),
             (["--map", str(tmp_path / "missing.json")], "cannot read"),
             (["--image", "no-equals"], "expected LOCAL=TARGET"),
             (["--copy-data"], "need --submit")]
    for args, message in cases:
        code, out, err = export(app, capsys, *args)
        assert code == 2 and message in err and "Traceback" not in err, (args, err)
    code = main(["--endpoint", app.url, "export", "no-such-job"])
    err = capsys.readouterr().err
    assert code == 2 and "ResourceNotFound" in err


def test_unreachable_source_endpoint_exits_4(capsys, free_port):
    code = main(["--endpoint", f"http://127.0.0.1:{free_port()}", "export", "x"])
    assert code == 4 and "cannot reach" in capsys.readouterr().err


def test_urls_of_this_machine_are_reported():
    body = {"TrainingJobDefinition": {"Environment": {
        "API": "http://127.0.0.1:4577/x", "OK": "https://example.com", "H": "localhost:1"}}}
    _, problems = apply_mapping(body, Mapping())
    assert [(p.where, p.why) for p in problems] == [
        ("TrainingJobDefinition.Environment.API", "points at this machine")]


def test_multi_algorithm_definitions_are_each_mapped_and_copied():
    from orchestrator.client.export import channel_copies

    def definition(name: str, image: str) -> dict:
        return {"DefinitionName": name, "RoleArn": "arn:aws:iam::123456789012:role/r",
                "AlgorithmSpecification": {"TrainingImage": image},
                "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": f"s3://smlocal-x/{name}/"}}}],
                "OutputDataConfig": {"S3OutputPath": "s3://smlocal-x/out"}}

    body = {"TrainingJobDefinitions": [definition("a", "img-a:1"), definition("b", "img-b:2")]}
    mapping = Mapping(images={"img-a:1": ECR, "img-b": "111122223333.dkr.ecr.eu-west-1."
                              "amazonaws.com/b"}, buckets={"smlocal-x": "real"}, role_arn=ROLE)
    out, problems = apply_mapping(body, mapping)
    assert problems == []
    images = [d["AlgorithmSpecification"]["TrainingImage"] for d in out["TrainingJobDefinitions"]]
    assert images == [ECR, "111122223333.dkr.ecr.eu-west-1.amazonaws.com/b:2"]
    assert channel_copies(body, out) == [("S3Prefix", "s3://smlocal-x/a/", "s3://real/a/"),
                                         ("S3Prefix", "s3://smlocal-x/b/", "s3://real/b/")]


def test_service_and_smlocal_marker_tags_are_not_exported():
    from orchestrator.client.export import request_from_describe

    body = request_from_describe({"HyperParameterTuningJobName": "n"}, [
        {"Key": "aws:cloudformation:stack-name", "Value": "s"},
        {"Key": "smlocal:imported-from", "Value": "https://x"}, {"Key": "team", "Value": "ml"}])
    assert body == {"HyperParameterTuningJobName": "n", "Tags": [{"Key": "team", "Value": "ml"}]}
