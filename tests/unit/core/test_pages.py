"""The one page contract: PageRequest, Page and the tagged cursor every listing uses."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from fleetport.core import dataports, fragments, identity, logs, machines, orgs, provision, registry
from fleetport.core.errors import Invalid
from fleetport.core.pages import (
    CURSOR_MAX,
    DEFAULT_LIMIT,
    ID,
    MAX_LIMIT,
    Integer,
    Listing,
    Page,
    PageRequest,
    Text,
    Time,
    Window,
)

UUID = "01a2252e-e2d3-700d-a65a-a5cfdbf1e492"
MIXED = Listing("test-mixed", key=(Text(optional=True), Integer(), Time(), ID), default=5, maximum=50)
BY_ID = Listing("test-by-id")


def _raw(payload: object) -> str:
    """A cursor-shaped string holding any JSON: what a forger would send."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_every_listing_is_declared_once_with_its_own_tag() -> None:
    listings = [
        orgs.ORGANIZATIONS,
        orgs.MEMBERS,
        orgs.INVITES,
        identity.USERS,
        identity.KEYS,
        identity.AUTHORIZATIONS,
        machines.MACHINES,
        machines.PARTS,
        machines.CONFIG_HISTORY,
        fragments.HISTORY,
        registry.ITEMS,
        dataports.LISTING,
        logs.LISTING,
        provision.SERIALS,
    ]
    assert len({listing.name for listing in listings}) == len(listings)
    assert all(Listing.known[listing.name] is listing for listing in listings)
    with pytest.raises(ValueError):
        Listing("machines")  # a second listing may not reuse a tag


@pytest.mark.parametrize(
    "key",
    [
        (None, 0, datetime(1970, 1, 1, tzinfo=UTC), UUID),
        ("alias", -(2**63), datetime(2030, 5, 1, 12, 0, 0, 123456, tzinfo=UTC), UUID),
        ("ünïcødé ✓ 🚀", 2**63 - 1, datetime(1, 1, 1, tzinfo=UTC), UUID),
        ("x" * 256, 7, datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), UUID),
    ],
)
def test_a_cursor_carries_the_sort_key_there_and_back(key: tuple[object, ...]) -> None:
    cursor = MIXED.encode(key)  # type: ignore[arg-type]
    assert cursor.isascii() and all(c.isalnum() or c in "-_" for c in cursor)  # URL-safe, no padding
    assert len(cursor) <= CURSOR_MAX
    assert MIXED.decode(cursor) == key
    window = MIXED.open(PageRequest(cursor=cursor))
    assert window == Window(5, key, 0)  # type: ignore[arg-type]


def test_naive_times_are_taken_as_utc() -> None:
    naive = datetime(2030, 1, 1, 8, 30)
    cursor = MIXED.encode(("a", 1, naive, UUID))
    assert MIXED.decode(cursor)[2] == naive.replace(tzinfo=UTC)


def test_another_listings_cursor_is_refused_by_name() -> None:
    cursor = machines.MACHINES.encode((UUID,))
    assert machines.MACHINES.decode(cursor) == (UUID,)
    with pytest.raises(Invalid, match="listing of machines, not of users"):
        identity.USERS.open(PageRequest(cursor=cursor))
    with pytest.raises(Invalid, match="listing of logs, not of dataports"):
        dataports.LISTING.decode(logs.LISTING.encode((datetime.now(UTC), 3)))


HOSTILE = [
    "garbage!",
    "not base64 at all",
    "zzz",
    "a" * 100,
    "=" * 8,
    "\x00",
    "bWFjaGluZXM\x00",
    "\ud800",
    "é",
    "a" * (CURSOR_MAX + 1),
    "A" * 10_000_000,
    _raw("test-by-id"),  # not an array
    _raw([]),
    _raw([7, UUID]),  # a tag that is not text
    _raw(["no-such-listing", UUID]),
    _raw(["test-by-id"]),  # too few fields
    _raw(["test-by-id", UUID, UUID]),  # too many
    _raw(["test-by-id", "not-a-uuid"]),
    _raw(["test-by-id", 12]),
    _raw(["test-by-id", None]),
    _raw(["test-by-id", UUID + "\x00"]),
    _raw({"tag": "test-by-id"}),
    base64.urlsafe_b64encode(b'["test-by-id","\\ud800"]').decode().rstrip("="),  # a lone surrogate
    base64.urlsafe_b64encode(b'["test-by-id","\xff\xfe"]').decode().rstrip("="),  # not UTF-8
    base64.urlsafe_b64encode(b"[" * 100_000).decode()[:CURSOR_MAX],  # deep nesting
    _raw(["test-by-id", UUID]) + "=",  # padding
    _raw(["test-by-id", UUID]) + "A",  # one more character
]


@pytest.mark.parametrize("cursor", HOSTILE)
def test_garbage_is_refused_clearly(cursor: str) -> None:
    with pytest.raises(Invalid, match=r"cursor \(page token\) is not one this server issued for test-by-id"):
        BY_ID.open(PageRequest(cursor=cursor))


@pytest.mark.parametrize(
    "fields",
    [
        [True, 1, 0, UUID],  # a boolean is not text
        ["a", True, 0, UUID],  # nor an integer
        ["a", 1.5, 0, UUID],
        ["a", 2**63, 0, UUID],
        ["a", -(2**63) - 1, 0, UUID],
        ["a", "1", 0, UUID],
        ["a", 1, "2030-01-01T00:00:00Z", UUID],  # times are whole microseconds
        ["a", 1, 1.5, UUID],
        ["a", 1, 2**62, UUID],  # past the year 9999
        ["a", 1, -(2**62), UUID],
        ["a", 1, 0, None],  # ids are not optional
        ["x" * 257, 1, 0, UUID],  # text fields are short
        ["a\x00b", 1, 0, UUID],
    ],
)
def test_fields_of_the_wrong_type_are_refused(fields: list[object]) -> None:
    with pytest.raises(Invalid, match="not one this server issued for test-mixed"):
        MIXED.decode(_raw(["test-mixed", *fields]))


def test_limits_have_a_default_and_a_maximum() -> None:
    assert BY_ID.open(PageRequest()) == Window(DEFAULT_LIMIT, None, 0)
    assert BY_ID.open(PageRequest(MAX_LIMIT)).limit == MAX_LIMIT
    assert MIXED.open(PageRequest()).limit == 5 and MIXED.open(PageRequest(50)).limit == 50
    with pytest.raises(Invalid, match="limit must be between 1 and 50 for test-mixed, got 51"):
        MIXED.open(PageRequest(51))
    with pytest.raises(Invalid, match=f"between 1 and {MAX_LIMIT}"):
        BY_ID.open(PageRequest(MAX_LIMIT + 1))
    for bad in (0, -1, -(2**80), 2.5, True, "10"):
        with pytest.raises(Invalid, match="limit must be a positive whole number"):
            PageRequest(bad)  # type: ignore[arg-type]
    assert (fragments.HISTORY.default, fragments.HISTORY.maximum) == (10, 1000)
    assert (logs.LISTING.default, logs.LISTING.maximum) == (100, 10_000)


def test_cursor_and_offset() -> None:
    assert PageRequest(cursor="").cursor is None  # "" is the first page, as on every wire
    with pytest.raises(Invalid, match="cursor must be a string"):
        PageRequest(cursor=b"abc")  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="not both"):
        PageRequest(cursor=BY_ID.encode((UUID,)), offset=3)
    for bad in (-1, 2**63, 1.0, True):
        with pytest.raises(Invalid, match="offset must be"):
            PageRequest(offset=bad)  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="paged by cursor, not by offset"):
        BY_ID.open(PageRequest(offset=10))
    assert provision.SERIALS.open(PageRequest(5, offset=10)) == Window(5, None, 10)


def test_a_page_ends_with_no_cursor() -> None:
    rows = [{"id": f"{UUID[:-1]}{n}"} for n in range(4)]
    window = BY_ID.open(PageRequest(3))
    page = BY_ID.page(rows, window, lambda r: r["id"])  # four rows fetched: another page follows
    assert page.items == [r["id"] for r in rows[:3]]
    assert page.next_cursor is not None and BY_ID.decode(page.next_cursor) == (rows[2]["id"],)
    assert BY_ID.page(rows[:3], window, lambda r: r["id"]) == Page(page.items, None)
    assert BY_ID.page([], window, lambda r: r) == Page([], None)


def test_the_next_cursor_continues_after_the_last_item() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    entries = [(start + timedelta(seconds=n // 2), n) for n in range(7)]
    seen: list[tuple[datetime, int]] = []
    request = PageRequest(2)
    while True:
        window = logs.LISTING.open(request)
        rest = [e for e in entries if window.after is None or e > window.after]
        kept, cursor = logs.LISTING.cut(rest[: window.limit + 1], window, lambda e: e)
        seen += kept
        if cursor is None:
            break
        request = PageRequest(2, cursor)
    assert seen == entries
