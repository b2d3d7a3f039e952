"""Settings: account quotas default to AWS's and can be raised locally."""

from __future__ import annotations

import pytest

from orchestrator.config import Quotas, Settings


def test_quotas_default_to_aws_and_are_raisable_from_the_environment(monkeypatch):
    assert Settings().quotas.max_parallel_training_jobs == 10
    monkeypatch.setenv("SMLOCAL_QUOTA_MAX_PARALLEL_TRAINING_JOBS", "40")
    monkeypatch.setenv("SMLOCAL_QUOTA_MAX_TRAINING_JOBS", "2000")
    quotas = Settings().quotas
    assert (quotas.max_parallel_training_jobs, quotas.max_training_jobs) == (40, 2000)
    assert quotas.max_concurrent_tuning_jobs == Quotas().max_concurrent_tuning_jobs


def test_a_non_integer_quota_says_which_variable(monkeypatch):
    monkeypatch.setenv("SMLOCAL_QUOTA_MAX_TRAINING_JOBS", "lots")
    with pytest.raises(ValueError, match="SMLOCAL_QUOTA_MAX_TRAINING_JOBS='lots'"):
        Quotas.from_env()
