"""`smlocal regex-check`: MetricDefinitions against a training log, and the usual mistakes.

Pure logic (no I/O): `limit_errors` applies AWS's limits, read from botocore's SageMaker model
(never typed in here) and worded as the service words them; `analyse` applies each regex to
each line as SageMaker does (`re.search` per line, the first capture group or else the whole
match, a finite float; one trailing `;` or `,` of the capture is tolerated, spec M1/M2) and
reports per metric its matches with line numbers, the lines that nearly matched, and these
mistakes: no capture group; a capture that is not a number; a greedy `.*`/`.+` that makes the
capture take another number than a non-greedy one would; a capture of the same number as
another metric on the same line (a pattern that matches another metric's lines).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

LIST_PATH = "algorithmSpecification.metricDefinitions"


@dataclass
class Match:
    line: int  # 1-based
    value: float
    text: str


@dataclass
class MetricReport:
    name: str
    regex: str
    matches: list[Match] = field(default_factory=list)
    count: int = 0  # lines that gave a number (`matches` lists the first ones)
    near_misses: list[tuple[int, str]] = field(default_factory=list)  # (line, text)
    mistakes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.matches) and not self.mistakes

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _limits() -> dict[str, dict[str, Any]]:
    """min/max/pattern of the list and of Name and Regex, from botocore's model."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    member = model.shape_for("MetricDefinition").members
    return {"list": model.shape_for("MetricDefinitionList").metadata,
            "Name": member["Name"].metadata, "Regex": member["Regex"].metadata}


def limit_errors(definitions: list[dict[str, str]]) -> list[str]:
    """The ValidationException messages AWS would answer for these definitions (empty: none)."""
    limits = _limits()
    found: list[str] = []

    def fail(value: Any, path: str, constraint: str) -> None:
        found.append(f"Value '{value}' at '{path}' failed to satisfy constraint: {constraint}")

    if len(definitions) > limits["list"]["max"]:
        fail(f"[{len(definitions)} items]", LIST_PATH,
             f"Member must have length less than or equal to {limits['list']['max']}")
    for i, d in enumerate(definitions, 1):
        for key in ("Name", "Regex"):
            value, meta = d.get(key, ""), limits[key]
            path = f"{LIST_PATH}.{i}.member.{key.lower()}"
            if len(value) < meta["min"]:
                fail(value, path, f"Member must have length greater than or equal to "
                     f"{meta['min']}")
            elif len(value) > meta["max"]:
                fail(value, path, f"Member must have length less than or equal to {meta['max']}")
            elif not re.fullmatch(meta["pattern"], value, re.DOTALL):
                fail(value, path, f"Member must satisfy regular expression pattern: "
                     f"{meta['pattern']}")
    return found


def format_limit_errors(errors: list[str]) -> str:
    n = len(errors)
    return f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors)


def as_number(text: str | None) -> float | None:
    """A capture as SageMaker reads it: a finite float, one trailing ';' or ',' tolerated."""
    if not text:
        return None
    for candidate in (text, text[:-1]) if text[-1] in ";," else (text,):
        try:
            value = float(candidate)
        except ValueError:
            continue
        if math.isfinite(value):
            return value
    return None


def _capture(pattern: re.Pattern[str], line: str) -> tuple[str | None, tuple[int, int], int] | None:
    """(captured text, its span, where the whole match starts) or None."""
    found = pattern.search(line)
    if found is None:
        return None
    group = 1 if pattern.groups else 0
    return found.group(group), found.span(group), found.start()


def _literal_prefix(regex: str) -> str:
    """The regex's leading literal text (escapes resolved), used to spot near misses."""
    out = []
    i = 0
    while i < len(regex):
        c = regex[i]
        if c == "\\" and i + 1 < len(regex) and not regex[i + 1].isalnum():
            out.append(regex[i + 1])
            i += 2
            continue
        if c in ".^$*+?{}[]|()\\":
            break
        out.append(c)
        i += 1
    return "".join(out).strip()


def _lazy(regex: str) -> str:
    """`regex` with every unescaped greedy `.*` / `.+` made non-greedy."""
    return re.sub(r"(?<!\\)\.([*+])(?!\?)", r".\1?", regex)


def analyse(definitions: list[dict[str, str]], lines: list[str],
            max_listed: int = 20) -> list[MetricReport]:
    """One report per definition (see the module docstring)."""
    compiled: list[tuple[MetricReport, re.Pattern[str] | None]] = []
    for d in definitions:
        report = MetricReport(d.get("Name", ""), d.get("Regex", ""))
        try:
            pattern: re.Pattern[str] | None = re.compile(report.regex)
        except re.error as exc:
            report.mistakes.append(f"not a valid regular expression: {exc}")
            pattern = None
        if pattern is not None and not pattern.groups:
            report.mistakes.append("no capture group: SageMaker takes the first group's text "
                                   "as the value; put the number in parentheses, e.g. "
                                   r"`loss=([0-9.eE+-]+)`")
        compiled.append((report, pattern))
    # line -> capture span -> (report, start of its whole match)
    spans: dict[int, dict[tuple[int, int], tuple[MetricReport, int]]] = {}
    for report, pattern in compiled:
        if pattern is None:
            continue
        lazy = re.compile(_lazy(report.regex)) if _lazy(report.regex) != report.regex else None
        prefix = _literal_prefix(report.regex) or report.name
        bad_capture = greedy = False
        for no, line in enumerate(lines, 1):
            got = _capture(pattern, line)
            if got is None:
                near = (prefix and prefix in line) or (report.name and report.name in line)
                if near and len(report.near_misses) < max_listed:
                    report.near_misses.append((no, line))
                continue
            text, span, start = got
            value = as_number(text)
            if value is None:
                if not bad_capture and pattern.groups:
                    report.mistakes.append(f"line {no}: the capture {text!r} is not a number "
                                           "(use a number pattern such as `([0-9.eE+-]+)` "
                                           "instead of `(.*)`)")
                bad_capture = True
                continue
            if lazy is not None and not greedy:
                other = _capture(lazy, line)
                if other is not None and as_number(other[0]) not in (None, value):
                    report.mistakes.append(
                        f"line {no}: a greedy `.*`/`.+` makes the capture take {text!r}; the "
                        f"first number after the name is {other[0]!r} (use `.*?` or a literal)")
                    greedy = True
            first, first_start = spans.setdefault(no, {}).setdefault(span, (report, start))
            if first is not report:
                # The one whose match starts later matched inside the other metric's name.
                culprit, owner = (report, first) if start >= first_start else (first, report)
                if not any("same number" in m for m in culprit.mistakes):
                    culprit.mistakes.append(
                        f"line {no}: captures the same number as metric {owner.name!r} "
                        f"({text!r}): it matches that metric's lines; anchor it on its own "
                        "name (e.g. a space or `^` before the name)")
            report.count += 1
            if len(report.matches) < max_listed:
                report.matches.append(Match(no, value, line))
    return [report for report, _ in compiled]


def render(reports: list[MetricReport]) -> str:
    out: list[str] = []
    for r in reports:
        mark = "ok" if r.ok else "FAIL"
        out.append(f"[{mark}] {r.name}  /{r.regex}/  {r.count} match(es)")
        out += [f"    line {m.line}: {m.value:g}    {m.text.strip()[:100]}" for m in r.matches]
        if not r.matches:
            out.append("    no line gave a number")
            out += [f"    nearly matched, line {no}: {text.strip()[:100]}"
                    for no, text in r.near_misses[:5]]
        out += [f"    ! {m}" for m in r.mistakes]
    return "\n".join(out)
