"""MetricDefinitions regexes over log lines (spec §3.2 M1–M3)."""

from __future__ import annotations

import math
import random

import pytest

from orchestrator.metrics.parser import MetricParser, MetricSample, parse_value
from orchestrator.runner.base import LogLine


def line(text: str, ts: float = 100.0, stream: str = "stdout") -> LogLine:
    return LogLine(ts, stream, "algo-1", text)


def test_documented_examples_capture_the_first_group() -> None:
    parser = MetricParser(
        [
            {"Name": "loss", "Regex": r"loss: ([0-9\.]+)"},
            {"Name": "f1", "Regex": r"F1=(.*?);"},
            {"Name": "dcg", "Regex": r"#quality_metric: host=\S+, test dcg <score>=(\S+)"},
        ]
    )
    assert parser.parse(line("epoch 3 loss: 0.25 acc 0.9")) == [MetricSample("loss", 0.25, 100.0)]
    assert parser.parse(line("F1=0.75; precision=0.5;")) == [MetricSample("f1", 0.75, 100.0)]
    assert parser.parse(line("#quality_metric: host=algo-1, test dcg <score>=0.812")) == [
        MetricSample("dcg", 0.812, 100.0)
    ]


def test_every_definition_is_applied_to_the_same_line() -> None:
    parser = MetricParser(
        [{"Name": "a", "Regex": r"a=([-0-9.e]+)"}, {"Name": "b", "Regex": r"b=([-0-9.e]+)"}]
    )
    samples = parser.parse(line("a=1 b=-2.5e-3", ts=7.0))
    assert samples == [MetricSample("a", 1.0, 7.0), MetricSample("b", -0.0025, 7.0)]


def test_stderr_lines_count_like_stdout() -> None:
    parser = MetricParser([{"Name": "loss", "Regex": r"loss=(\S+)"}])
    assert parser.parse(line("loss=3", stream="stderr"))[0].value == 3.0


def test_regex_without_group_uses_the_whole_match() -> None:
    parser = MetricParser([{"Name": "n", "Regex": r"[0-9]+\.[0-9]+"}])
    assert parser.parse(line("value is 12.5 today"))[0].value == 12.5


@pytest.mark.parametrize("text", ["x=nan", "x=inf", "x=-Infinity", "x=", "x=abc", "x=1.2.3"])
def test_non_finite_or_unparsable_captures_are_ignored(text: str) -> None:
    parser = MetricParser([{"Name": "x", "Regex": r"x=(\S*)"}])
    assert parser.parse(line(text)) == []


@pytest.mark.parametrize(("capture", "value"), [("0.5;", 0.5), ("0.5,", 0.5), ("7", 7.0)])
def test_one_trailing_separator_is_stripped(capture: str, value: float) -> None:
    assert parse_value(capture) == value


def test_only_one_trailing_separator_is_stripped() -> None:
    assert parse_value("0.5;;") is None
    assert parse_value(";") is None
    assert parse_value("") is None


def test_lazy_group_with_nothing_after_is_ignored() -> None:
    parser = MetricParser([{"Name": "f1", "Regex": r"F1=(.*?)"}])
    assert parser.parse(line("F1=0.9")) == []  # lazy group captures ""


def test_optional_group_that_did_not_match_is_ignored() -> None:
    parser = MetricParser([{"Name": "m", "Regex": r"m(=([0-9]+))?"}])
    assert parser.parse(line("m only")) == []


def test_invalid_regex_is_skipped_not_raised() -> None:
    parser = MetricParser(
        [{"Name": "bad", "Regex": "loss=([0-9"}, {"Name": "ok", "Regex": "ok=(\\d+)"}]
    )
    assert parser.names == ["ok"]
    assert parser.parse(line("ok=4 loss=1")) == [MetricSample("ok", 4.0, 100.0)]


def test_no_definitions_parse_nothing() -> None:
    assert MetricParser([]).parse_all([line("loss=1")]) == []


def test_parse_all_keeps_line_order_and_timestamps() -> None:
    parser = MetricParser([{"Name": "loss", "Regex": r"loss=(\S+)"}])
    lines = [line(f"loss={v}", ts=float(i)) for i, v in enumerate([0.9, 0.5, 0.3])]
    assert [(s.value, s.timestamp) for s in parser.parse_all(lines)] == [
        (0.9, 0.0),
        (0.5, 1.0),
        (0.3, 2.0),
    ]


def test_property_every_finite_float_round_trips() -> None:
    parser = MetricParser([{"Name": "v", "Regex": r"v=(\S+)"}])
    rng = random.Random(4)
    for _ in range(500):
        value = rng.choice([-1, 1]) * 10 ** rng.uniform(-30, 30)
        for text in (repr(value), f"{value:.6e}", f"{value:g};"):
            (sample,) = parser.parse(line(f"v={text}"))
            assert math.isclose(sample.value, float(text.rstrip(";")), rel_tol=0)
