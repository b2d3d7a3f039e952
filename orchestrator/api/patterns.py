"""The service model's `pattern` strings, compiled for Python `re`.

The model's patterns are Java regular expressions, implicitly anchored (spec §0): we compile them
once and use `fullmatch`. Python `re` understands all of them except the Unicode property
classes `\\p{L}`, `\\p{N}`, `\\p{Z}` (TagKey/TagValue) and the POSIX `\\p{Alnum}`; those are
rewritten here into explicit character ranges built from `unicodedata`. `re.ASCII` gives `\\d`,
`\\w`, `\\s` Java's ASCII meaning.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache

_PROPERTY = re.compile(r"\\p\{(\w+)\}")
_POSIX = {"Alnum": "a-zA-Z0-9", "Alpha": "a-zA-Z", "Digit": "0-9", "Upper": "A-Z", "Lower": "a-z"}


@cache
def compiled(pattern: str) -> re.Pattern[str] | None:
    """The compiled pattern, or None when it uses a construct Python cannot express.

    A None pattern is skipped by the validator rather than rejecting every request.
    """
    try:
        return re.compile(_translate(pattern), re.ASCII)
    except (re.error, KeyError):
        return None


def matches(pattern: str, value: str) -> bool:
    rx = compiled(pattern)
    return True if rx is None else rx.fullmatch(value) is not None


def _translate(pattern: str) -> str:
    """Replace `\\p{X}` by a bracket expression (or its ranges, inside a bracket)."""
    out: list[str] = []
    i, depth = 0, 0
    while i < len(pattern):
        ch = pattern[i]
        m = _PROPERTY.match(pattern, i)
        if m:
            ranges = _class_ranges(m.group(1))
            out.append(ranges if depth else f"[{ranges}]")
            i = m.end()
            continue
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        out.append(ch)
        i += 1
    return "".join(out)


@cache
def _class_ranges(name: str) -> str:
    if name in _POSIX:
        return _POSIX[name]
    if len(name) != 1 or name not in "LNZPSMC":
        raise KeyError(name)
    return _category_ranges(name)


def _category_ranges(major: str) -> str:
    return _all_category_ranges()[major]


@cache
def _all_category_ranges() -> dict[str, str]:
    """Bracket-expression ranges per major general category (L, N, Z, ...), in one pass."""
    runs: dict[str, list[list[int]]] = {}
    for cp in range(sys.maxunicode + 1):
        spans = runs.setdefault(unicodedata.category(chr(cp))[0], [])
        if spans and spans[-1][1] == cp - 1:
            spans[-1][1] = cp
        else:
            spans.append([cp, cp])
    return {major: "".join(_range(lo, hi) for lo, hi in spans) for major, spans in runs.items()}


def _range(lo: int, hi: int) -> str:
    # Escapes keep the bracket expression free of raw ']', '-', '\\'.
    return f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}"
