"""`smlocal images list|build`: the stand-in table comes from the server's own resolver table,
and every stand-in has its build folder under containers/; `smlocal tune` builds the stand-ins
a request needs on their first use (only for a server on this machine)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from orchestrator.client.images_commands import (
    BUILD_SCRIPT,
    ROOT,
    build_on_first_use,
    needed_stand_ins,
    stand_ins,
)
from tests.fixtures import SPEC_EXAMPLES


def test_every_stand_in_is_listed_with_what_it_runs_and_has_a_build_folder() -> None:
    table = {s.name: s for s in stand_ins()}
    assert set(table) == {"xgboost", "sklearn-framework", "xgboost-framework",
                          "pytorch-framework", "tensorflow-framework"}
    assert table["pytorch-framework"].runs == "pytorch-training; sagemaker-pytorch"
    assert table["xgboost-framework"].runs == "sagemaker-xgboost with sagemaker_program"
    assert table["xgboost"].runs == "built-in XGBoost (sagemaker-xgboost, xgboost)"
    for s in table.values():
        assert s.image == f"smlocal/{s.name}:latest"
        folder = ROOT / "containers" / s.name
        assert (folder / "Dockerfile").is_file() and (folder / "build.sh").is_file(), folder
    assert BUILD_SCRIPT.is_file()


def test_unknown_name_is_bad_input() -> None:
    run = subprocess.run([sys.executable, "-m", "orchestrator.client.cli", "images", "build",
                          "mxnet-framework"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "unknown stand-in mxnet-framework; choose from xgboost, " in run.stderr


@pytest.mark.parametrize(("example", "needed"), [
    ("01-xgboost-direct-marketing-bayesian", ["xgboost"]),
    ("02-byo-keras-custom-metrics", []),  # the user's own image
    ("03-devguide-xgboost-random-seed", ["xgboost"]),  # sagemaker-xgboost, built-in use
    ("04-image-classification-early-stopping", []),  # no stand-in: refused at create
    ("07-pytorch-hyperband", ["pytorch-framework"]),
    ("08-multi-algorithm-fm-knn", []),
])
def test_the_stand_ins_a_request_needs(example, needed, monkeypatch) -> None:
    monkeypatch.delenv("SMLOCAL_IMAGE_MAP", raising=False)
    body = json.loads((SPEC_EXAMPLES / f"{example}.json").read_text())
    assert [s.name for s in needed_stand_ins(body)] == needed


def test_a_mapped_image_needs_no_stand_in(tmp_path, monkeypatch) -> None:
    (tmp_path / "map.json").write_text('{"pytorch-training:*": "my/torch:1"}')
    monkeypatch.setenv("SMLOCAL_IMAGE_MAP", str(tmp_path / "map.json"))
    body = json.loads((SPEC_EXAMPLES / "07-pytorch-hyperband.json").read_text())
    assert needed_stand_ins(body) == []


def test_no_build_for_a_remote_server(monkeypatch) -> None:
    def never(*_args, **_kwargs):
        raise AssertionError("must not look at this machine's Docker for a remote server")

    monkeypatch.setattr(subprocess, "run", never)
    body = json.loads((SPEC_EXAMPLES / "07-pytorch-hyperband.json").read_text())
    assert build_on_first_use(body, "http://10.1.2.3:4577", embedded=False) == 0
