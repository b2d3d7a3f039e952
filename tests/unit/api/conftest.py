"""Shared fixtures for wire-level tests: the nine spec example bodies."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "spec" / "examples"


def load_examples() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(EXAMPLES_DIR.glob("*.json"))}


@pytest.fixture(scope="session")
def examples() -> dict[str, dict]:
    found = load_examples()
    if len(found) != 9:
        pytest.skip(f"spec examples not found under {EXAMPLES_DIR}")
    return found


@pytest.fixture
def keras(examples: dict[str, dict]) -> dict:
    """Example 02 (custom image with MetricDefinitions): valid end to end."""
    return copy.deepcopy(examples["02-byo-keras-custom-metrics"])
