"""Filter / sort / paginate helpers of the List* operations."""

from __future__ import annotations

import random

import pytest

from orchestrator.controller import listing
from orchestrator.errors import ValidationError


def test_pages_cover_every_item_exactly_once() -> None:
    items = list(range(23))
    seen, token, pages = [], None, 0
    while True:
        page, token = listing.paginate(items, token, 10)
        seen += page
        pages += 1
        if token is None:
            break
    assert seen == items and pages == 3


def test_default_page_size_and_last_page_has_no_token() -> None:
    page, token = listing.paginate(list(range(10)), None, None)
    assert page == list(range(10)) and token is None
    page, token = listing.paginate(list(range(11)), None, None)
    assert len(page) == 10 and token is not None
    page, token = listing.paginate(list(range(11)), None, None, default=50)
    assert len(page) == 11 and token is None


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "",
        "e30",
        "!!!!",
        "eyJ2IjoxLCJvZmZzZXQiOi0xfQ",
        "eyJ2IjoyLCJvZmZzZXQiOjF9",
        "eyJ2IjoxLCJvZmZzZXQiOnRydWV9",
    ],
)
def test_bad_tokens_are_validation_errors(token: str) -> None:
    if token == "":
        assert listing.paginate([1, 2], token, 1)[0] == [1]  # empty means "first page"
        return
    with pytest.raises(ValidationError, match="Invalid pagination token"):
        listing.paginate([1, 2, 3], token, 1)


def test_token_past_the_end_is_an_empty_last_page() -> None:
    assert listing.paginate([1], listing.encode_token(5), 10) == ([], None)


def test_sort_is_stable_in_both_directions() -> None:
    items = [("b", 1), ("a", 2), ("c", 1), ("d", 2)]
    assert listing.sort_items(items, lambda x: x[1], False) == [
        ("b", 1),
        ("c", 1),
        ("a", 2),
        ("d", 2),
    ]
    assert listing.sort_items(items, lambda x: x[1], True) == [
        ("a", 2),
        ("d", 2),
        ("b", 1),
        ("c", 1),
    ]


def test_name_key_is_case_insensitive_first() -> None:
    names = ["beta", "Alpha", "alpha", "Gamma"]
    assert sorted(names, key=listing.name_key) == ["Alpha", "alpha", "beta", "Gamma"]


def test_filters() -> None:
    assert listing.name_contains("My-Tuning-Job", "tuning")
    assert not listing.name_contains("job", "xyz")
    assert listing.name_contains("x", None)
    assert listing.time_between(5.0, 4.0, 6.0)
    assert not listing.time_between(4.0, 4.0, None)  # strict
    assert not listing.time_between(6.0, None, 6.0)  # strict
    assert not listing.time_between(None, 1.0, None)
    assert listing.time_between(None, None, None)
    assert listing.status_equals("Completed", None)
    assert not listing.status_equals("Completed", "Failed")


def test_list_page_filters_sorts_and_pages() -> None:
    rng = random.Random(7)
    jobs = [
        {
            "name": f"job-{i:02d}",
            "status": rng.choice(["Completed", "Failed"]),
            "created": 100.0 + i,
        }
        for i in range(30)
    ]
    rng.shuffle(jobs)
    request = {
        "NameContains": "JOB-1",
        "StatusEquals": "Completed",
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": 3,
        "CreationTimeAfter": 110.0,
    }
    accessors = dict(
        name=lambda j: j["name"],
        status=lambda j: j["status"],
        creation_time=lambda j: j["created"],
    )
    sort_keys = {
        "Name": lambda j: listing.name_key(j["name"]),
        "CreationTime": lambda j: j["created"],
    }
    expected = sorted(
        (
            j
            for j in jobs
            if j["name"].startswith("job-1")
            and j["status"] == "Completed"
            and j["created"] > 110.0
        ),
        key=lambda j: -j["created"],
    )
    got, token = [], None
    while True:
        page, token = listing.list_page(
            jobs,
            {**request, "NextToken": token},
            sort_keys=sort_keys,
            default_sort_by="Name",
            **accessors,
        )
        assert len(page) <= 3
        got += page
        if token is None:
            break
    assert got == expected


def test_list_page_default_sort() -> None:
    jobs = [{"name": n} for n in ["b", "C", "a"]]
    page, _ = listing.list_page(
        jobs,
        {},
        sort_keys={"Name": lambda j: listing.name_key(j["name"])},
        default_sort_by="Name",
        name=lambda j: j["name"],
    )
    assert [j["name"] for j in page] == ["a", "b", "C"]
