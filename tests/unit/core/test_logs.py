"""Part logs in the core (SQLite and PostgreSQL): append, query, retention, permissions, tail."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from fleetport.core.credentials import BearerToken
from fleetport.core.errors import Invalid, NotFound, PermissionDenied
from fleetport.core.fleet import Fleet
from fleetport.core.logs import LogEntry, Logs, NewLogEntry, matches
from fleetport.core.models import GrantSpec
from fleetport.core.pages import Page, PageRequest
from fleetport.core.permissions import Principal

T0 = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)  # in the future: no age rule of the defaults applies
UNKNOWN_PART = "00000000-0000-7000-8000-000000000000"


@dataclass
class Site:
    part: str  # the main part of a machine in location "Lab"
    other_part: str  # a second part of the same machine
    far_part: str  # the main part of a machine in another location
    operator: Principal  # an operator key on "Lab"
    part_itself: Principal  # ``part``'s own secret


@pytest.fixture
def site(fleet: Fleet, admin: Principal) -> Site:
    org = fleet.organizations.create(admin, "Acme")
    lab = fleet.locations.create(admin, org.id, "Lab")
    far = fleet.locations.create(admin, org.id, "Far")
    machine = fleet.machines.create(admin, lab.id, "rover")
    (main,) = fleet.machines.parts(admin, machine.id)
    other = fleet.machines.create_part(admin, machine.id, "arm")
    far_machine = fleet.machines.create(admin, far.id, "crane")
    (far_main,) = fleet.machines.parts(admin, far_machine.id)
    key = fleet.identity.create_key(admin, org.id, "ops", [GrantSpec("operator", "location", lab.id)])
    secret = fleet.machines.create_secret(admin, main.id)
    return Site(
        part=main.id,
        other_part=other.id,
        far_part=far_main.id,
        operator=fleet.identity.authenticate(BearerToken(key.secret)),
        part_itself=fleet.identity.authenticate(BearerToken(secret.secret)),
    )


def _entry(message: str, level: str = "info", at: datetime = T0, **extra: object) -> NewLogEntry:
    return NewLogEntry(time=at, level=level, message=message, **extra)  # type: ignore[arg-type]


def _messages(entries: list[LogEntry]) -> list[str]:
    return [e.message for e in entries]


def _all(fleet: Fleet, p: Principal, part_id: str, **kwargs: object) -> list[LogEntry]:
    page = fleet.logs.query(p, part_id, PageRequest(10_000), **kwargs)  # type: ignore[arg-type]
    assert page.next_cursor is None
    return page.items


def test_append_and_query_round_trip(fleet: Fleet, admin: Principal, site: Site) -> None:
    cet = timezone(timedelta(hours=1))
    entries = [
        _entry("booting", "INFO", datetime(2030, 5, 1, 13, 0, tzinfo=cet), logger_name="rdk", host="rover-1"),
        _entry(
            "motor stalled",
            " Warning ",
            datetime(2030, 5, 1, 12, 0, 1),  # naive: UTC
            logger_name="rdk.motor",
            caller={"File": "motor.go", "Line": 12, "Function": "run"},
            stack="goroutine 1 [running]:\n...",
            fields=[{"rpm": 0}, {"name": "left"}],
        ),
        _entry("gave up", "fatal", T0 + timedelta(seconds=2)),
    ]
    assert fleet.logs.append(admin, site.part, entries) == 3
    page = fleet.logs.query(admin, site.part, PageRequest())
    newest_first = page.items
    assert page.next_cursor is None
    assert _messages(newest_first) == ["gave up", "motor stalled", "booting"]
    booting, stalled, gave_up = reversed(newest_first)
    assert booting.id < stalled.id < gave_up.id
    assert booting.time == T0 and booting.time.tzinfo is not None
    assert booting.time.utcoffset() == timedelta(0)
    assert (booting.level, booting.logger_name, booting.host) == ("info", "rdk", "rover-1")
    assert stalled == LogEntry(
        id=stalled.id,
        part_id=site.part,
        time=T0 + timedelta(seconds=1),
        level="warn",
        message="motor stalled",
        logger_name="rdk.motor",
        host="",
        caller={"File": "motor.go", "Line": 12, "Function": "run"},
        stack="goroutine 1 [running]:\n...",
        fields=[{"rpm": 0}, {"name": "left"}],
    )
    assert (gave_up.caller, gave_up.fields, gave_up.stack) == (None, [], "")
    assert _messages(_all(fleet, admin, site.part, order="asc")) == ["booting", "motor stalled", "gave up"]
    assert _all(fleet, admin, site.other_part) == []  # logs belong to one part
    assert fleet.logs.append(admin, site.part, []) == 0


def test_filter_levels_and_time_range(fleet: Fleet, admin: Principal, site: Site) -> None:
    fleet.logs.append(
        admin,
        site.part,
        [
            _entry("Camera ready", "info", T0, logger_name="vision"),
            _entry("battery at 100%", "debug", T0 + timedelta(seconds=1), logger_name="power"),
            _entry("battery at 10 percent", "warn", T0 + timedelta(seconds=2), logger_name="power"),
            _entry("lidar_1 timeout", "error", T0 + timedelta(seconds=3), logger_name="LIDAR"),
            _entry("reboot", "panic", T0 + timedelta(seconds=4), logger_name="main"),
        ],
    )

    def messages(**kwargs: object) -> list[str]:
        return _messages(_all(fleet, admin, site.part, order="asc", **kwargs))

    assert messages(filter="CAMERA") == ["Camera ready"]
    assert messages(filter="lidar") == ["lidar_1 timeout"]  # the message or the logger name, any case
    assert messages(filter="power") == ["battery at 100%", "battery at 10 percent"]
    assert messages(filter="100%") == ["battery at 100%"]  # % and _ are plain characters
    assert messages(filter="r_1") == ["lidar_1 timeout"]
    assert messages(filter="%") == ["battery at 100%"]
    assert messages(levels=["error", "PANIC"]) == ["lidar_1 timeout", "reboot"]
    assert messages(levels=["warning"]) == ["battery at 10 percent"]
    assert messages(levels=[]) == messages()
    assert messages(levels=["warn", "debug"], filter="battery") == [
        "battery at 100%",
        "battery at 10 percent",
    ]
    second = T0 + timedelta(seconds=1)
    assert messages(start=second, end=second + timedelta(seconds=2)) == [
        "battery at 100%",
        "battery at 10 percent",
    ]  # start inclusive, end exclusive
    assert messages(start=T0 + timedelta(seconds=4)) == ["reboot"]
    assert messages(end=T0 + timedelta(milliseconds=1)) == ["Camera ready"]
    assert messages(start=second.astimezone(timezone(timedelta(hours=-5)))) == messages()[1:]
    assert messages(start=second.replace(tzinfo=None)) == messages()[1:]  # naive: UTC
    assert messages(start=second, end=second) == []


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("count", [6, 7])
def test_paging_walks_everything_once_and_ends_with_empty_token(
    fleet: Fleet, admin: Principal, site: Site, order: str, count: int
) -> None:
    fleet.logs.append(admin, site.part, [_entry(f"line {i}") for i in range(count)])
    fleet.logs.append(admin, site.other_part, [_entry("elsewhere")])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = fleet.logs.query(admin, site.part, PageRequest(3, cursor), order=order)
        pages += 1
        assert page.items, "a page token never leads to an empty page"
        seen += _messages(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
        assert len(page.items) == 3
    expected = [f"line {i}" for i in range(count)]
    assert seen == (expected if order == "asc" else expected[::-1])
    assert pages == math.ceil(count / 3)
    # a filter that matches nothing: one empty page, no token
    assert fleet.logs.query(admin, site.part, PageRequest(3), filter="nothing like it") == Page([], None)


def test_paging_with_filters(fleet: Fleet, admin: Principal, site: Site) -> None:
    fleet.logs.append(admin, site.part, [_entry(f"n{i}", "error" if i % 2 else "info") for i in range(10)])
    first = fleet.logs.query(admin, site.part, PageRequest(2), levels=["error"])
    second = fleet.logs.query(admin, site.part, PageRequest(2, first.next_cursor), levels=["error"])
    third = fleet.logs.query(admin, site.part, PageRequest(2, second.next_cursor), levels=["error"])
    assert (_messages(first.items), _messages(second.items), _messages(third.items), third.next_cursor) == (
        ["n9", "n7"],
        ["n5", "n3"],
        ["n1"],
        None,
    )


def test_bad_query_arguments_are_invalid(fleet: Fleet, admin: Principal, site: Site) -> None:
    fleet.logs.append(admin, site.part, [_entry("x")])
    for token in ("zzz", "bG9nOg", "bG9nOi0x", "bG9nOjEuNQ", "a" * 100, "\x00"):  # log:, log:-1, log:1.5
        with pytest.raises(Invalid, match="page token"):
            fleet.logs.query(admin, site.part, PageRequest(cursor=token))
    with pytest.raises(Invalid, match="order"):
        fleet.logs.query(admin, site.part, PageRequest(), order="sideways")
    with pytest.raises(Invalid, match="limit"):
        fleet.logs.query(admin, site.part, PageRequest(0))
    with pytest.raises(Invalid, match="not a log level"):
        fleet.logs.query(admin, site.part, PageRequest(), levels=["loud"])
    with pytest.raises(Invalid, match="filter"):
        fleet.logs.query(admin, site.part, PageRequest(), filter="x" * 1001)
    with pytest.raises(Invalid, match="filter"):
        fleet.logs.query(admin, site.part, PageRequest(), filter="a\x00b")
    # core refuses a page over the maximum (10,000); the Viam dialect caps the wire's limit to it
    assert len(fleet.logs.query(admin, site.part, PageRequest(10_000)).items) == 1
    with pytest.raises(Invalid, match="limit"):
        fleet.logs.query(admin, site.part, PageRequest(10_001))
    assert fleet.logs.query(admin, site.part, PageRequest(), order="ASC").items[0].message == "x"


def test_invalid_batches_write_nothing(fleet: Fleet, admin: Principal, site: Site) -> None:
    good = _entry("fine")
    bad_batches: list[tuple[list[NewLogEntry], str]] = [
        ([good, _entry("x", "loud")], r"entries\[1\]\.level 'loud' is not a log level"),
        ([good, _entry("x", "")], "not a log level"),
        ([_entry("x" * 65_537)], r"entries\[0\]\.message is 65537 characters"),
        ([_entry("x", logger_name="n" * 201)], "logger_name"),
        ([_entry("x", host="h" * 256)], "host"),
        ([_entry("x", stack="s" * 300_000)], "stack"),
        ([_entry("nul \x00 inside")], "NUL"),
        ([_entry("lone \ud800 surrogate")], "surrogate"),
        ([_entry("x", caller=[1, 2])], "caller must be a JSON object"),
        ([_entry("x", caller={"big": 2**70})], "caller"),
        ([_entry("x", fields={"a": 1})], "fields must be a list of JSON objects"),
        ([_entry("x", fields=[{"a": 1}, 2])], "fields must be a list of JSON objects"),
        ([_entry("x", fields=[{"v": float("nan")}])], "NaN"),
        ([_entry("x", fields=[{"v": "x" * 70_000}])], "fields is"),
        ([_entry("x", at="yesterday")], "time must be a date and time"),  # type: ignore[arg-type]
        ([_entry("x", at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))))], "out of range"),
        ([_entry(42)], "message must be a string"),  # type: ignore[arg-type]
    ]
    for batch, problem in bad_batches:
        with pytest.raises(Invalid, match=problem):
            fleet.logs.append(admin, site.part, batch)
    small = Logs(fleet.store, fleet.bus, 100, 0, max_batch=5)
    with pytest.raises(Invalid, match="at most 5 log entries, got 6"):
        small.append(admin, site.part, [good] * 6)
    assert small.append(admin, site.part, [good] * 5) == 5
    assert _messages(_all(fleet, admin, site.part)) == ["fine"] * 5  # only the accepted batch
    with pytest.raises(NotFound):
        fleet.logs.append(admin, UNKNOWN_PART, [good])
    with pytest.raises(NotFound):
        fleet.logs.append(admin, "not-an-id", [good])


def test_permissions(fleet: Fleet, admin: Principal, site: Site) -> None:
    line = [_entry("from the part")]
    # a part's own secret writes its own log, and nothing else
    assert fleet.logs.append(site.part_itself, site.part, line) == 1
    for part_id in (site.other_part, site.far_part):
        with pytest.raises(PermissionDenied, match="write_robot_logs"):
            fleet.logs.append(site.part_itself, part_id, line)
    with pytest.raises(PermissionDenied):
        fleet.logs.query(site.part_itself, site.part, PageRequest())
    with pytest.raises(PermissionDenied):
        fleet.logs.tail(site.part_itself, site.part)
    # an operator reads and tails in its location, writes nowhere, and reaches no other location
    assert _messages(_all(fleet, site.operator, site.part)) == ["from the part"]
    fleet.logs.tail(site.operator, site.part).close()
    with pytest.raises(PermissionDenied, match="write_robot_logs"):
        fleet.logs.append(site.operator, site.part, line)
    with pytest.raises(PermissionDenied, match="read_robot_logs"):
        fleet.logs.query(site.operator, site.far_part, PageRequest())
    with pytest.raises(PermissionDenied):
        fleet.logs.tail(site.operator, site.far_part)
    with pytest.raises(NotFound):
        fleet.logs.query(site.operator, UNKNOWN_PART, PageRequest())
    with pytest.raises(NotFound):
        fleet.logs.tail(admin, UNKNOWN_PART)
    # owners write any part's log
    assert fleet.logs.append(admin, site.far_part, line) == 1
    assert fleet.identity.check_permissions(
        admin, "robot", fleet.machines.get_part(admin, site.part).machine_id, ["write_robot_logs"]
    ) == ["write_robot_logs"]


def test_retention_by_count_on_write(fleet: Fleet, admin: Principal, site: Site) -> None:
    logs = Logs(fleet.store, fleet.bus, retention_count=10, retention_seconds=0)
    for batch in range(5):
        logs.append(admin, site.part, [_entry(f"{batch}.{i}") for i in range(5)])
    logs.append(admin, site.other_part, [_entry("other")])
    kept = _all(fleet, admin, site.part, order="asc")
    assert _messages(kept) == [f"{b}.{i}" for b in (3, 4) for i in range(5)]  # the 10 newest
    assert _messages(_all(fleet, admin, site.other_part)) == ["other"]
    # a larger limit trims once every tenth of it
    roomy = Logs(fleet.store, fleet.bus, retention_count=100, retention_seconds=0)
    for _ in range(9):
        roomy.append(admin, site.other_part, [_entry("more")] * 12)  # 109 entries, trimmed at 10 each
    assert 100 <= len(_all(fleet, admin, site.other_part)) < 110


def test_sweep_enforces_count_and_age(fleet: Fleet, admin: Principal, site: Site) -> None:
    now = datetime.now(UTC)
    unlimited = Logs(fleet.store, fleet.bus, retention_count=0, retention_seconds=0)
    unlimited.append(admin, site.part, [_entry(f"old {i}", at=now - timedelta(hours=2)) for i in range(3)])
    unlimited.append(admin, site.part, [_entry(f"new {i}", at=now) for i in range(4)])
    unlimited.append(admin, site.far_part, [_entry(f"far {i}", at=now - timedelta(days=2)) for i in range(2)])
    assert unlimited.sweep() == 0

    by_age = Logs(fleet.store, fleet.bus, retention_count=0, retention_seconds=3600)
    assert by_age.sweep() == 5
    assert _messages(_all(fleet, admin, site.part, order="asc")) == [f"new {i}" for i in range(4)]
    assert _all(fleet, admin, site.far_part) == []

    by_count = Logs(fleet.store, fleet.bus, retention_count=2, retention_seconds=0)
    assert by_count.sweep() == 2  # the first sweep checks every part
    assert _messages(_all(fleet, admin, site.part, order="asc")) == ["new 2", "new 3"]
    unlimited.append(admin, site.part, [_entry("newer")])
    assert by_count.sweep() == 0  # afterwards only the parts it appended to
    by_count.append(admin, site.part, [_entry("newest")])  # a limit this small trims on every append
    assert _messages(_all(fleet, admin, site.part, order="asc")) == ["newer", "newest"]

    lazy = Logs(fleet.store, fleet.bus, retention_count=30, retention_seconds=0)  # trims every 3 entries
    assert lazy.sweep() == 0
    unlimited.append(admin, site.part, [_entry(f"bulk {i}") for i in range(30)])
    lazy.append(admin, site.part, [_entry("last")])  # under its threshold: left to the sweep
    assert len(_all(fleet, admin, site.part)) == 33
    assert lazy.sweep() == 3
    kept = _all(fleet, admin, site.part, order="asc")
    assert _messages(kept) == [f"bulk {i}" for i in range(1, 30)] + ["last"]


def test_default_settings(fleet: Fleet) -> None:
    assert fleet.logs.retention_count == 100_000
    assert fleet.logs.retention_seconds == 30 * 24 * 3600
    assert fleet.logs.max_batch == 10_000


def test_tail_yields_new_batches_filtered(fleet: Fleet, admin: Principal, site: Site) -> None:
    async def scenario() -> None:
        fleet.logs.append(admin, site.part, [_entry("before the tail", "error")])
        everything = fleet.logs.tail(site.operator, site.part)
        errors = fleet.logs.tail(admin, site.part, errors_only=True)
        motors = fleet.logs.tail(admin, site.part, filter="MOTOR")
        fleet.logs.append(admin, site.other_part, [_entry("another part", "error")])
        fleet.logs.append(site.part_itself, site.part, [_entry("a", "info"), _entry("b", "debug")])
        fleet.logs.append(
            admin,
            site.part,
            [
                _entry("c", "warn"),
                _entry("motor stalled", "error"),
                _entry("d", "dpanic", logger_name="Motor"),
            ],
        )
        fleet.logs.append(admin, site.part, [_entry("e", "fatal"), _entry("f", "panic")])

        async def next_batch(tail: object) -> list[str]:
            batch = await asyncio.wait_for(anext(tail), 5)  # type: ignore[call-overload]
            assert batch, "a tail never yields an empty batch"
            return [e.message for e in batch]

        assert await next_batch(everything) == ["a", "b"]
        assert await next_batch(everything) == ["c", "motor stalled", "d"]
        assert await next_batch(everything) == ["e", "f"]
        # the batch of info and debug entries is skipped whole
        assert await next_batch(errors) == ["motor stalled", "d"]
        assert await next_batch(errors) == ["e", "f"]
        assert await next_batch(motors) == ["motor stalled", "d"]
        for tail in (everything, errors, motors):
            tail.close()
            with pytest.raises(StopAsyncIteration):
                await anext(tail)
        assert fleet.bus.subscribers(f"part-logs:{site.part}") == 0

    asyncio.run(scenario())


def test_tail_sees_entries_with_their_ids(fleet: Fleet, admin: Principal, site: Site) -> None:
    async def scenario() -> list[LogEntry]:
        tail = fleet.logs.tail(admin, site.part)
        fleet.logs.append(admin, site.part, [_entry("one"), _entry("two", "WARNING")])
        try:
            return await asyncio.wait_for(anext(tail), 5)
        finally:
            tail.close()

    live = asyncio.run(scenario())
    assert live == _all(fleet, admin, site.part, order="asc")


def _walk(fleet: Fleet, p: Principal, part_id: str, limit: int, **kwargs: object) -> list[str]:
    """Every page of a query, following its tokens."""
    seen: list[str] = []
    cursor = None
    while True:
        page = fleet.logs.query(p, part_id, PageRequest(limit, cursor), **kwargs)  # type: ignore[arg-type]
        seen += _messages(page.items)
        cursor = page.next_cursor
        if not cursor:
            return seen
        assert len(page.items) == limit


def test_queries_follow_the_entries_time_not_their_arrival(
    fleet: Fleet, admin: Principal, site: Site
) -> None:
    # arrival order: late, early, middle, then two entries at one time (ties keep arrival order)
    fleet.logs.append(admin, site.part, [_entry("late", at=T0 + timedelta(seconds=30))])
    fleet.logs.append(admin, site.part, [_entry("early", at=T0 - timedelta(days=1))])
    fleet.logs.append(
        admin,
        site.part,
        [
            _entry("middle", at=T0 + timedelta(microseconds=1)),
            _entry("tie 1", at=T0),
            _entry("tie 2", at=T0),
        ],
    )
    oldest_first = ["early", "tie 1", "tie 2", "middle", "late"]
    assert _messages(_all(fleet, admin, site.part)) == oldest_first[::-1]
    assert _messages(_all(fleet, admin, site.part, order="asc")) == oldest_first
    for limit in (1, 2, 3):
        assert _walk(fleet, admin, site.part, limit) == oldest_first[::-1]
        assert _walk(fleet, admin, site.part, limit, order="asc") == oldest_first
    newest = fleet.logs.query(admin, site.part, PageRequest(1)).items
    assert _messages(newest) == ["late"]


FOLDING_MESSAGES = ["ÄRGER im Motor", "Straße gesperrt", "ΣΟΦΙΑ", "plain ascii", "Ǆ digraph", "KELVIN \u212a"]
FOLDING_FILTERS = {
    "ärger": ["ÄRGER im Motor"],
    "ÄrGeR": ["ÄRGER im Motor"],
    "STRASSE": ["Straße gesperrt"],
    "straße": ["Straße gesperrt"],
    "σοφια": ["ΣΟΦΙΑ"],
    "ǆ": ["Ǆ digraph"],
    "kelvin k": ["KELVIN \u212a"],  # the Kelvin sign folds to k
    "PLAIN": ["plain ascii"],
}


def test_filters_fold_case_for_every_script_in_queries_and_tails_alike(
    fleet: Fleet, admin: Principal, site: Site
) -> None:
    async def tailed() -> list[list[str]]:
        """Per filter: what its tail saw of one batch of every message."""
        seen = []
        for text in FOLDING_FILTERS:
            tail = fleet.logs.tail(admin, site.part, filter=text)
            try:
                fleet.logs.append(admin, site.part, [_entry(m) for m in FOLDING_MESSAGES])
                seen.append([e.message for e in await asyncio.wait_for(anext(tail), 5)])
            finally:
                tail.close()
        return seen

    assert asyncio.run(tailed()) == list(FOLDING_FILTERS.values())
    batches = len(FOLDING_FILTERS)
    for text, expected in FOLDING_FILTERS.items():  # a query finds the same entries in every batch
        assert _messages(_all(fleet, admin, site.part, filter=text, order="asc")) == expected * batches, text
    assert _messages(_all(fleet, admin, site.part, filter="ÄRGER", levels=["error"])) == []


def test_a_sparse_filter_pages_through_a_long_log(fleet: Fleet, admin: Principal, site: Site) -> None:
    count = 10_500  # a long log with few matches, spread over it
    every = 997

    def entry(i: int) -> NewLogEntry:
        return _entry(f"Über {i}" if i % every == 0 else f"noise {i}", at=T0 + timedelta(seconds=i))

    for first in range(0, count, 5000):
        fleet.logs.append(admin, site.part, [entry(i) for i in range(first, min(first + 5000, count))])
    expected = [f"Über {i}" for i in range(0, count, every)]
    assert _walk(fleet, admin, site.part, 4, filter="üBER", order="asc") == expected
    assert _walk(fleet, admin, site.part, 5, filter="ÜBER") == expected[::-1]
    assert _walk(fleet, admin, site.part, 1000, filter="über") == expected[::-1]


LITERAL_MESSAGES = ["done 100%", "100 percent", "a_b", "axb", "C:\\temp\\x", "C:temp", "x/y", "x%/y", "plain"]
LITERAL_FILTERS = {
    "%": ["done 100%", "x%/y"],
    "0%": ["done 100%"],
    "_": ["a_b"],
    "a_b": ["a_b"],  # not "axb"
    "\\": ["C:\\temp\\x"],
    "c:\\t": ["C:\\temp\\x"],  # not "C:temp"
    "/": ["x/y", "x%/y"],
    "%/": ["x%/y"],
    "x/y": ["x/y"],
    "%%": [],
    "//": [],
    "\\\\": [],
}


def test_filters_match_like_wildcards_and_escapes_literally(
    fleet: Fleet, admin: Principal, site: Site
) -> None:
    fleet.logs.append(admin, site.part, [_entry(m) for m in LITERAL_MESSAGES])
    fleet.logs.append(admin, site.other_part, [_entry("-", logger_name=m) for m in LITERAL_MESSAGES])
    for text, expected in LITERAL_FILTERS.items():
        assert _messages(_all(fleet, admin, site.part, filter=text, order="asc")) == expected, text
        in_logger_names = [
            e.logger_name for e in _all(fleet, admin, site.other_part, filter=text, order="asc")
        ]
        assert in_logger_names == expected, text


LONG_S = "\N{LATIN SMALL LETTER LONG S}"
DOTLESS_I = "\N{LATIN SMALL LETTER DOTLESS I}"
CYRILLIC_VE, CYRILLIC_IE, CYRILLIC_A = "\N{CYRILLIC CAPITAL LETTER VE}", "\u0435", "\u0430"
GREEK_KAPPA, GREEK_SMALL_SIGMA = "\N{GREEK CAPITAL LETTER KAPPA}", "\N{GREEK SMALL LETTER SIGMA}"

# per message: the filters that find it, as str.casefold defines it
NON_ASCII = {
    "Grüße aus der Straße": ["GRÜSSE", "strasse", "STRAẞE", "grüße", f"{LONG_S}traße"],  # ẞ and long s fold
    "ΟΔΟΣ κλειστή": ["οδος", "ΟΔΟς", "ΚΛΕΙΣΤΉ"],  # a final sigma folds to a small sigma
    "λόγος": ["ΛΌΓΟΣ", f"λόγο{GREEK_SMALL_SIGMA}", "όγος"],
    "İstanbul": ["i̇stanbul", "İSTANBUL", "i"],  # İ folds to i and a combining dot above
    f"{DOTLESS_I}rmak": [f"{DOTLESS_I}rmak", "RMAK", DOTLESS_I],  # the dotless i folds to itself
    "ЁЛКА в лесу": ["ёлка", "ЁлКа", f"{CYRILLIC_VE} ЛЕСУ"],
    "ﬁle opened": ["FILE", "fi"],  # the ligature folds to two letters
}
NON_ASCII_MISSES = [
    "istanbul",
    "ISTANBUL",
    "IRMAK",
    "irmak",
    f"{CYRILLIC_IE}l\u043a{CYRILLIC_A}",  # a Latin l among Cyrillic letters
    "lesu",
    f"ΟΔΟΣ {GREEK_KAPPA} ",
]


def test_filters_fold_non_ascii_text_as_casefold_does(fleet: Fleet, admin: Principal, site: Site) -> None:
    messages = list(NON_ASCII)
    fleet.logs.append(
        admin, site.part, [_entry(m, at=T0 + timedelta(seconds=i)) for i, m in enumerate(messages)]
    )
    fleet.logs.append(admin, site.other_part, [_entry("-", logger_name=m) for m in messages])
    filters = [f for found_by in NON_ASCII.values() for f in found_by] + NON_ASCII_MISSES
    for text in filters:
        expected = [m for m in messages if matches(text.casefold(), m, "")]
        assert _messages(_all(fleet, admin, site.part, filter=text, order="asc")) == expected, text
        in_logger_names = [
            e.logger_name for e in _all(fleet, admin, site.other_part, filter=text, order="asc")
        ]
        assert in_logger_names == expected, text
    for message, found_by in NON_ASCII.items():  # what casefold defines, spelled out
        for text in found_by:
            assert message in _messages(_all(fleet, admin, site.part, filter=text)), (message, text)
    for text in NON_ASCII_MISSES:
        assert _all(fleet, admin, site.part, filter=text) == [], text


def test_folded_text_holds_no_ascii_capitals() -> None:
    """SQLite's LIKE ignores the case of ASCII letters: on folded text on both sides that can make
    no match a case-sensitive comparison would not, as long as folding leaves no A to Z."""
    folded = "".join(chr(c).casefold() for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    assert not any("A" <= ch <= "Z" for ch in folded)
