"""`smlocal images list|build`: the stand-in table comes from the server's own resolver table,
and every stand-in has its build folder under containers/."""

from __future__ import annotations

import subprocess
import sys

from orchestrator.client.images_commands import BUILD_SCRIPT, ROOT, stand_ins


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
