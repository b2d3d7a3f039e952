"""Filtering, sorting and pagination for the List* operations (spec §0, §2.3, §2.4, §2.9).

Pure functions over already-loaded items; the caller says how to read a name, a status or a
time from an item. Conventions:
- `NameContains` is a case-insensitive substring match (spec §2.3 [INF]);
- `*After` / `*Before` are strict comparisons on epoch seconds (spec §2.3 [INF]);
- `NextToken` is opaque to the client: here, a versioned base64 offset into the sorted, filtered
  list. A token that does not decode is a `ValidationException`, as on AWS.
- Default page size 10 (`MaxResults` member docs); the last page has no `NextToken`.

Offsets are the honest choice for lists that are re-read on every call: an item created
between two calls may shift a page by one, as with any offset pagination.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from orchestrator.errors import ValidationError

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 10
_TOKEN_VERSION = 1


def paginate(
    items: list[T],
    next_token: str | None,
    max_results: int | None,
    default: int = DEFAULT_PAGE_SIZE,
) -> tuple[list[T], str | None]:
    """One page of `items` and the token of the next page (None on the last page)."""
    start = decode_token(next_token) if next_token else 0
    size = max_results if max_results is not None else default
    page = items[start : start + size]
    end = start + len(page)
    return page, (encode_token(end) if end < len(items) else None)


def encode_token(offset: int) -> str:
    raw = json.dumps({"v": _TOKEN_VERSION, "offset": offset}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        offset = data["offset"]
        valid = data.get("v") == _TOKEN_VERSION and type(offset) is int and offset >= 0
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error, UnicodeError):
        valid = False
    if not valid:
        raise ValidationError(
            "Invalid pagination token: pass the NextToken of a previous response."
        )
    return offset


def sort_items(items: Iterable[T], key_fn: Callable[[T], Any], descending: bool) -> list[T]:
    """Stable sort; equal keys keep their input order in both directions."""
    return sorted(items, key=key_fn, reverse=descending)


def name_key(name: str) -> tuple[str, str]:
    """Sort key for names: case-insensitive first (names are case-insensitive), then exact."""
    return (name.casefold(), name)


def name_contains(name: str, needle: str | None) -> bool:
    return needle is None or needle.casefold() in name.casefold()


def time_between(value: float | None, after: float | None, before: float | None) -> bool:
    """Strictly after `after` and strictly before `before`; a missing time matches only when
    neither bound is given."""
    if after is None and before is None:
        return True
    if value is None:
        return False
    return (after is None or value > after) and (before is None or value < before)


def status_equals(status: str, wanted: str | None) -> bool:
    return wanted is None or status == wanted


def filter_items(
    items: Iterable[T],
    request: Mapping[str, Any],
    *,
    name: Callable[[T], str],
    status: Callable[[T], str] | None = None,
    creation_time: Callable[[T], float | None] | None = None,
    last_modified_time: Callable[[T], float | None] | None = None,
) -> list[T]:
    """Items matching the request's NameContains, StatusEquals, CreationTime{After,Before} and
    LastModifiedTime{After,Before} (each filter applies only if the request has it)."""
    out = []
    for item in items:
        if not name_contains(name(item), request.get("NameContains")):
            continue
        if status is not None and not status_equals(status(item), request.get("StatusEquals")):
            continue
        if creation_time is not None and not time_between(
            creation_time(item),
            request.get("CreationTimeAfter"),
            request.get("CreationTimeBefore"),
        ):
            continue
        if last_modified_time is not None and not time_between(
            last_modified_time(item),
            request.get("LastModifiedTimeAfter"),
            request.get("LastModifiedTimeBefore"),
        ):
            continue
        out.append(item)
    return out


def list_page(
    items: Iterable[T],
    request: Mapping[str, Any],
    *,
    sort_keys: Mapping[str, Callable[[T], Any]],
    default_sort_by: str,
    default_sort_order: str = "Ascending",
    default_page_size: int = DEFAULT_PAGE_SIZE,
    **accessors: Any,
) -> tuple[list[T], str | None]:
    """filter_items → sort by `request["SortBy"]` (or the default) → paginate.

    `sort_keys` maps each SortBy value to a key function; `accessors` are filter_items' keyword
    arguments (name=..., status=..., creation_time=..., last_modified_time=...).
    """
    selected = filter_items(items, request, **accessors)
    sort_by = request.get("SortBy") or default_sort_by
    descending = (request.get("SortOrder") or default_sort_order) == "Descending"
    ordered = sort_items(selected, sort_keys[sort_by], descending)
    return paginate(
        ordered, request.get("NextToken"), request.get("MaxResults"), default_page_size
    )
