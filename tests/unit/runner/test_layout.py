"""The /opt/ml files SageMaker writes, and the mounts that expose them (spec §5)."""

from __future__ import annotations

import json
import os
import stat

from orchestrator.runner import layout
from orchestrator.runner.base import Channel, JobSpec


def spec(**overrides) -> JobSpec:
    base = dict(
        name="job-1",
        arn="arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1",
        image="smlocal/probe:latest",
        hyperparameters={"lr": "0.1", "_tuning_objective_metric": "loss"},
        environment={},
        channels=(
            Channel("train", "s3://b/train/", content_type="text/csv"),
            Channel("test", "s3://b/test/", input_mode="FastFile", distribution="ShardedByS3Key"),
        ),
        output_s3_path="s3://b/out/",
        instance_type="ml.m5.xlarge",
        instance_count=2,
    )
    base.update(overrides)
    return JobSpec(**base)


def test_resourceconfig_is_what_sagemaker_writes() -> None:
    assert layout.resource_config(spec(), "algo-2") == {
        "current_host": "algo-2",
        "current_instance_type": "ml.m5.xlarge",
        "current_group_name": "homogeneousCluster",
        "hosts": ["algo-1", "algo-2"],
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": "ml.m5.xlarge",
                "hosts": ["algo-1", "algo-2"],
            }
        ],
        "network_interface_name": "eth0",
    }


def test_inputdataconfig_omits_absent_content_type() -> None:
    assert layout.input_data_config(spec()) == {
        "train": {
            "ContentType": "text/csv",
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        },
        "test": {
            "TrainingInputMode": "FastFile",
            "S3DistributionType": "ShardedByS3Key",
            "RecordWrapperType": "None",
        },
    }


def test_config_files_and_folders_are_written(tmp_path) -> None:
    dirs = layout.host_dirs(tmp_path, "job-1", "algo-1")
    layout.create_host_dirs(dirs, spec().channels)
    layout.write_config(dirs, spec(), "algo-1")
    assert sorted(os.listdir(dirs.config)) == [
        "hyperparameters.json",
        "inputdataconfig.json",
        "resourceconfig.json",
    ]
    hps = json.loads((dirs.config / "hyperparameters.json").read_text())
    assert hps == {"lr": "0.1", "_tuning_objective_metric": "loss"}
    assert dirs.channel("train").is_dir() and dirs.channel("test").is_dir()
    for writable in (dirs.model, dirs.output, dirs.output_data, dirs.checkpoints):
        assert stat.S_IMODE(writable.stat().st_mode) == 0o777
    # A second attempt starts from empty folders.
    (dirs.model / "stale").write_text("x")
    layout.create_host_dirs(dirs, spec().channels)
    assert not (dirs.model / "stale").exists()


def test_mounts_are_sub_folders_never_opt_ml_itself(tmp_path) -> None:
    dirs = layout.host_dirs(tmp_path, "job-1", "algo-1")
    targets = {dst: ro for _src, dst, ro in layout.mounts(dirs, spec())}
    assert "/opt/ml" not in targets
    assert targets == {
        "/opt/ml/input": False,
        "/opt/ml/model": False,
        "/opt/ml/output": False,
        "/opt/ml/checkpoints": False,
        "/opt/ml/input/data/test": True,  # FastFile is read-only
    }
    custom = spec(checkpoint_local_path="/data/ckpt/")
    assert "/data/ckpt" in {dst for _s, dst, _r in layout.mounts(dirs, custom)}


def test_failure_file_is_cut_at_1024_characters(tmp_path) -> None:
    dirs = layout.host_dirs(tmp_path, "job-1", "algo-1")
    layout.create_host_dirs(dirs, ())
    assert layout.read_failure(dirs) is None
    dirs.failure_file.write_text("é" * 2000)
    assert layout.read_failure(dirs) == "é" * 1024
    dirs.failure_file.write_text("  \n")
    assert layout.read_failure(dirs) is None


def test_has_files_ignores_empty_folders(tmp_path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert not layout.has_files(tmp_path / "a")
    (tmp_path / "a" / "b" / "f").write_text("x")
    assert layout.has_files(tmp_path / "a")
    assert not layout.has_files(tmp_path / "missing")
