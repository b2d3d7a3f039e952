"""Shared fixtures for wire-level tests: the nine spec example bodies."""

from __future__ import annotations

import copy
import json

import pytest

from tests.fixtures import SPEC_EXAMPLES

EXAMPLES_DIR = SPEC_EXAMPLES


def load_examples() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(EXAMPLES_DIR.glob("*.json"))}


@pytest.fixture(scope="session")
def examples() -> dict[str, dict]:
    found = load_examples()
    assert len(found) == 9, f"expected the nine spec examples under {EXAMPLES_DIR}"
    return found


@pytest.fixture
def keras(examples: dict[str, dict]) -> dict:
    """Example 02 (custom image with MetricDefinitions): valid end to end."""
    return copy.deepcopy(examples["02-byo-keras-custom-metrics"])
