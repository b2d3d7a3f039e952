"""A job whose image resolves to one of smlocal's CPU stand-ins may use a GPU instance type: the
backend's JobSpec says so (the runner then runs it on CPU with a warning)."""

from __future__ import annotations

import pytest

from orchestrator.config import Settings
from orchestrator.controller.training import spec_from_doc
from orchestrator.images import stand_in_images

PYTORCH = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:1.12-gpu-py38"


def doc(image: str) -> dict:
    return {"TrainingJobName": "j", "TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/j",
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
            "ResourceConfig": {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}}


@pytest.mark.parametrize("local", sorted(stand_in_images()))
def test_stand_ins_are_cpu_stand_ins(tmp_path, local) -> None:
    assert spec_from_doc(doc(PYTORCH), Settings(state_dir=tmp_path), local).cpu_stand_in


@pytest.mark.parametrize("local", [None, "smlocal/gbm:latest", PYTORCH])
def test_other_images_are_not(tmp_path, local) -> None:
    """The user's own images, and an AWS image pulled locally (it may be a real GPU build)."""
    assert not spec_from_doc(doc(PYTORCH), Settings(state_dir=tmp_path), local).cpu_stand_in
