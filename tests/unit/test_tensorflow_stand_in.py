"""What is checked of the TensorFlow stand-in on every run, CI included, without building it.

The stand-in itself (`smlocal/tensorflow-framework`, containers/tensorflow-framework) is
optional: its first build downloads about 300 MB of wheels and took 12 min 35 s here, which CI's
30-minute budget cannot take, so the set-up does not build it and its end-to-end test
(tests/integration/test_framework_images.py, an SDK `TensorFlow` estimator) skips with the
reason where it is not built. These checks run everywhere: the AWS TensorFlow URIs users send
map to the stand-in (every SDK registry: test_images.py), a machine without it fails the job
saying what to build, `smlocal tune` builds it on first use, the skip of the end-to-end test is
only ever for an image that is really optional, and the build scripts parse.
"""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from orchestrator.client.images_commands import ROOT, needed_stand_ins, stand_ins
from orchestrator.images import ImageMap, ImageResolver
from tests.fixtures import SPEC_EXAMPLES

STAND_IN = "smlocal/tensorflow-framework:latest"
SCRIPT_MODE = {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": '"s3://b/src.tgz"'}
# What the SDK v2's TensorFlow(framework_version="2.13", py_version="py310") computes, and a GPU
# tag of the script-mode repository of TensorFlow 1.x.
URIS = ["763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.13-cpu-py310",
        "520713654638.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-tensorflow-scriptmode:"
        "1.15.2-gpu-py3"]
FOLDER = ROOT / "containers" / "tensorflow-framework"


@pytest.mark.parametrize("uri", URIS)
def test_a_machine_without_the_stand_in_fails_the_job_saying_how_to_build_it(uri) -> None:
    resolver = ImageResolver(lambda: ImageMap((), "no map"), lambda image: False)
    result = resolver.resolve(uri, SCRIPT_MODE)
    assert result.image is None
    assert result.failure == (
        f"ClientError: TrainingImage {uri} is the TensorFlow framework image, which smlocal "
        f"runs with the local image {STAND_IN}; that image is not built. Build it with "
        "`smlocal images build tensorflow-framework`, or map it to a local image in the file "
        'named by SMLOCAL_IMAGE_MAP (JSON: {"<uri, repository:tag or glob>": "<local image>"}).')


@pytest.mark.parametrize("uri", URIS)
def test_smlocal_tune_builds_it_on_first_use(uri, monkeypatch) -> None:
    """A TensorFlow script-mode tuning request (example 07's body with a TensorFlow image)
    needs the stand-in, so `smlocal tune` builds it before submitting, with progress."""
    monkeypatch.delenv("SMLOCAL_IMAGE_MAP", raising=False)
    body = copy.deepcopy(json.loads((SPEC_EXAMPLES / "07-pytorch-hyperband.json").read_text()))
    body["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] = uri
    assert [s.image for s in needed_stand_ins(body)] == [STAND_IN]


def test_it_is_the_one_optional_stand_in_and_says_why() -> None:
    """scripts/build-images.sh skips a folder with an OPTIONAL file unless it is named, and
    test_framework_images.optional_image skips only such images: every other stand-in is
    built by the set-up and its tests fail, never skip, under SMLOCAL_REQUIRE_DOCKER=1."""
    optional = {s.name for s in stand_ins() if (ROOT / "containers" / s.name / "OPTIONAL").exists()}
    assert optional == {"tensorflow-framework"}
    assert "download" in (FOLDER / "OPTIONAL").read_text()


def test_its_build_scripts_parse() -> None:
    scripts = [FOLDER / "build.sh", *sorted((ROOT / "containers" / "common").glob("*.sh")),
               ROOT / "scripts" / "build-images.sh"]
    for script in scripts:
        run = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                             timeout=30)
        assert run.returncode == 0, f"{script}: {run.stderr}"

