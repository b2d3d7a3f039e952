"""`smlocal images list|build` against the real Docker engine: the built stand-ins are listed
with their size, and building one that is built shows Docker's progress and reuses its cache."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.docker]


def smlocal(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.client.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_list_shows_built_stand_ins_and_what_they_run(smlocal_image):
    smlocal_image("pytorch-framework")
    run = smlocal("images", "list")
    assert run.returncode == 0, run.stderr
    row = next(line for line in run.stdout.splitlines()
               if line.startswith("smlocal/pytorch-framework:latest "))
    assert re.search(r" \d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d+\.\d\d GB +pytorch-training; "
                     r"sagemaker-pytorch$", row), row


@pytest.mark.timeout(900)
def test_build_of_a_built_stand_in_shows_progress_and_uses_the_cache(smlocal_image):
    smlocal_image("sklearn-framework")
    run = smlocal("images", "build", "sklearn-framework")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "building sklearn-framework (Docker's output follows" in run.stdout
    output = run.stdout + run.stderr
    assert "Using cache" in output and "Successfully tagged smlocal/sklearn-framework:latest" \
        in output
    assert "build-images: built smlocal/sklearn-framework:latest" in run.stderr
