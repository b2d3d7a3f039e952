"""The user project in examples/my-container runs its own tests (with the pytest plugin, in a
subprocess, as its CI would) and they pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[2] / "examples" / "my-container"


def test_the_example_projects_tests_pass(smlocal_image):
    smlocal_image("python-base")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=PROJECT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "BASE_IMAGE": "smlocal/python-base:latest"})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "3 passed" in run.stdout
