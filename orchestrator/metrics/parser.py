"""MetricDefinitions regexes applied to training-job log lines (spec §3.2).

Rules (M1, M2): every definition's regex is searched (`re.search`) in every stdout and stderr
line independently; the value is the first capture group, or the whole match when the regex has
no group; it must parse as a finite float. If parsing fails only because the capture ends in one
`;` or `,` (documented examples such as `F1=(.*?);` are often written as `(.*?),`), that
character is stripped and parsing retried. Nothing else is post-processed. NaN and ±inf are
ignored: a tuner cannot rank them and CloudWatch metrics reject them.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchestrator.runner.base import LogLine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricSample:
    name: str
    value: float
    timestamp: float  # epoch seconds of the log line


def parse_value(text: str) -> float | None:
    """A capture as a finite float, or None (M2)."""
    for candidate in (text, text[:-1] if text[-1:] in (";", ",") else None):
        if candidate is None:
            continue
        try:
            value = float(candidate)
        except ValueError:
            continue
        return value if math.isfinite(value) else None
    return None


class MetricParser:
    """Compiled once per job; `parse` is called for every log line, so it stays cheap."""

    def __init__(self, definitions: Sequence[dict]) -> None:
        self._compiled: list[tuple[str, re.Pattern[str]]] = []
        for definition in definitions:
            name, regex = definition.get("Name"), definition.get("Regex")
            if not name or not regex:
                continue
            try:
                self._compiled.append((name, re.compile(regex)))
            except re.error as exc:
                # Validation rejects these before a job starts; a bad one must never stop a job.
                log.warning("ignoring metric %r: invalid regex %r (%s)", name, regex, exc)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._compiled]

    def parse(self, line: LogLine) -> list[MetricSample]:
        samples: list[MetricSample] = []
        text = line.text
        for name, pattern in self._compiled:
            match = pattern.search(text)
            if match is None:
                continue
            captured = match.group(1) if pattern.groups else match.group(0)
            if captured is None:  # optional group that did not take part in the match
                continue
            value = parse_value(captured)
            if value is not None:
                samples.append(MetricSample(name, value, line.timestamp))
        return samples

    def parse_all(self, lines: Iterable[LogLine]) -> list[MetricSample]:
        samples: list[MetricSample] = []
        for line in lines:
            if self._compiled:
                samples.extend(self.parse(line))
        return samples
