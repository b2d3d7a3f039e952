"""`smlocal regex-check`'s logic on a recorded log (tests/fixtures/logs/gbm.log, written by
smlocal/gbm): matches with line numbers, each common mistake, AWS's limits from botocore."""

from __future__ import annotations

from pathlib import Path

import botocore.session

from orchestrator.client.regex_check import analyse, format_limit_errors, limit_errors

LOG = (Path(__file__).parents[2] / "fixtures" / "logs" / "gbm.log").read_text().splitlines()
LOGLOSS = {"Name": "validation:logloss", "Regex": r"validation:logloss=([0-9.]+)"}


def one(name: str, regex: str, *others: dict) -> dict:
    reports = {r.name: r for r in analyse([*others, {"Name": name, "Regex": regex}], LOG)}
    return reports[name]


def test_a_good_regex_gives_each_value_with_its_line() -> None:
    report = analyse([LOGLOSS], LOG)[0]
    assert report.ok and report.count == 3
    assert [(m.line, m.value) for m in report.matches] == [(2, 0.276506), (3, 0.16699),
                                                            (4, 0.16699)]


def test_no_capture_group() -> None:
    report = one("auc", r"validation:auc=[0-9.]+")
    assert not report.ok and "no capture group" in report.mistakes[0]


def test_a_capture_that_is_not_a_number() -> None:
    report = one("auc", r"validation:auc=(.*)")
    assert not report.ok and report.count == 0
    assert "line 2: the capture '0.988478 validation:accuracy" in report.mistakes[0]


def test_a_greedy_pattern_that_takes_the_wrong_number() -> None:
    report = one("loss", r"validation:.*=([0-9.]+)")
    assert report.matches[0].value == 0.248123  # train:logloss, the last number on the line
    assert "greedy" in report.mistakes[0] and "'0.276506'" in report.mistakes[0]


def test_a_pattern_that_matches_another_metrics_lines() -> None:
    report = one("train:logloss", r"logloss=([0-9.]+)", LOGLOSS)
    assert "captures the same number as metric 'validation:logloss'" in report.mistakes[0]
    assert analyse([LOGLOSS, {"Name": "train:logloss", "Regex": r"logloss=([0-9.]+)"}],
                   LOG)[0].ok  # the metric whose lines they are is not blamed


def test_near_misses_are_listed_when_nothing_matches() -> None:
    report = one("validation:logloss", r"validation:logloss: ([0-9.]+)")
    assert report.count == 0 and [no for no, _ in report.near_misses] == [2, 3, 4]


def test_aws_limits_come_from_botocore_and_read_like_the_service() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    most = model.shape_for("MetricDefinitionList").metadata["max"]
    regex_max = model.shape_for("MetricDefinition").members["Regex"].metadata["max"]
    assert limit_errors([LOGLOSS] * most) == []
    errors = limit_errors([LOGLOSS] * (most + 1) + [{"Name": "", "Regex": "x" * (regex_max + 1)}])
    assert errors[0].endswith(f"Member must have length less than or equal to {most}")
    assert any(".member.name' failed to satisfy constraint: Member must have length greater "
               "than or equal to 1" in e for e in errors)
    assert any(f"less than or equal to {regex_max}" in e for e in errors)
    assert format_limit_errors(errors).startswith("3 validation errors detected: Value ")
