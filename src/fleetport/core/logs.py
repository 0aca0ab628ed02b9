"""Part logs: batch ingest, filtered queries with keyset paging, a live tail, and retention.

Every entry gets an integer id when it is stored, in the order entries arrive; retention keeps the
newest by id. Queries follow the entries' own time (then id), newest first by default. A text
filter matches a substring of the message or logger name ignoring case (``fold``, the same for
queries, which run it in SQL on the folded text stored with each entry, and live tails, on every
database). Levels are stored normalized:
``debug``, ``info``, ``warn``, ``error``, ``dpanic``, ``panic``, ``fatal`` (``warning`` is taken as
``warn``, ``critical`` as ``fatal``, in any case). ``ERROR_LEVELS`` are the ones an errors-only tail
keeps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from fleetport.bus import Bus, Codec, Subscription, wire
from fleetport.core import access, validate
from fleetport.core.errors import Invalid
from fleetport.core.models import as_utc, utcnow
from fleetport.core.pages import Integer, Key, Listing, Page, PageRequest, Time
from fleetport.core.permissions import Principal
from fleetport.store import Store, Tx
from fleetport.store import logs as store_logs
from fleetport.store.logs import fold

if TYPE_CHECKING:
    from fleetport.core.scheduling import Call

log = logging.getLogger("fleetport.logs")

LEVELS: tuple[str, ...] = ("debug", "info", "warn", "error", "dpanic", "panic", "fatal")
LEVEL_ALIASES: dict[str, str] = {"warning": "warn", "critical": "fatal"}
ERROR_LEVELS = frozenset({"error", "dpanic", "panic", "fatal"})

MAX_BATCH = 10_000  # entries per append, unless the server's settings say otherwise
MESSAGE_MAX = 64 * 1024  # characters
STACK_MAX = 256 * 1024  # characters
LOGGER_NAME_MAX = 200
HOST_MAX = 255
CALLER_MAX_BYTES = 16 * 1024  # encoded JSON
FIELDS_MAX_BYTES = 64 * 1024  # encoded JSON, all of an entry's fields together
FILTER_MAX = 1000
LISTING = Listing("logs", key=(Time(), Integer()), maximum=10_000)  # sorted by (time, id)
TAIL_MAX_PENDING = 1000  # batches a tail may fall behind before it is closed
TRIM_EVERY_MAX = 10_000  # entries appended to a part between two retention passes on write


@dataclass
class NewLogEntry:
    """An entry to append. A naive ``time`` is taken as UTC; None is the time the server received it."""

    time: datetime | None
    level: str
    message: str
    logger_name: str = ""
    host: str = ""
    caller: dict[str, Any] | None = None  # e.g. {"File": "x.go", "Line": 12, "Function": "f"}
    stack: str = ""
    fields: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class LogEntry:
    """A stored entry: ``time`` in UTC, ``level`` normalized, ``id`` its place in the part's log."""

    id: int
    part_id: str
    time: datetime
    level: str
    message: str
    logger_name: str = ""
    host: str = ""
    caller: dict[str, Any] | None = None
    stack: str = ""
    fields: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, r: Mapping[Any, Any]) -> LogEntry:
        return cls(
            id=int(r["id"]),
            part_id=r["part_id"],
            time=as_utc(r["time"]),
            level=r["level"],
            message=r["message"],
            logger_name=r["logger_name"],
            host=r["host"],
            caller=r["caller"],
            stack=r["stack"],
            fields=r["fields"] or [],
        )


def matches(folded_filter: str, message: str, logger_name: str) -> bool:
    """Whether an entry's message or logger name holds the (folded) filter, ignoring case."""
    return not folded_filter or folded_filter in fold(message) or folded_filter in fold(logger_name)


def topic(part_id: str) -> str:
    """The bus topic a part's appended batches are published on (a tuple of LogEntry each)."""
    return f"part-logs:{part_id}"


def _decode_batch(data: object) -> tuple[LogEntry, ...]:
    if not isinstance(data, list):
        raise wire.Undecodable("a log batch is a list of entries")
    return tuple(
        LogEntry(
            id=wire.field(d, "id", int),
            part_id=wire.field(d, "part_id", str),
            time=wire.timestamp(d, "time"),
            level=wire.field(d, "level", str),
            message=wire.field(d, "message", str),
            logger_name=wire.field(d, "logger_name", str),
            host=wire.field(d, "host", str),
            caller=wire.optional_object(d, "caller"),
            stack=wire.field(d, "stack", str),
            fields=wire.objects(d, "fields"),
        )
        for d in data
    )


# A batch of appended entries between processes: a list of the entries' fields (orjson writes the
# dataclasses itself, times in RFC 3339), each checked and rebuilt on the way in.
LOG_BATCH_CODEC = Codec("part-logs", lambda batch: batch, _decode_batch)


def normalize_level(value: object, what: str = "level") -> str:
    """A level in its stored form; unknown levels are refused with Invalid."""
    if isinstance(value, str):
        level = value.strip().lower()
        level = LEVEL_ALIASES.get(level, level)
        if level in LEVELS:
            return level
    raise Invalid(
        f"{what} {value!r} is not a log level: use one of {', '.join(LEVELS)} (or warning, critical)"
    )


class LogTail:
    """Batches of entries appended after the tail started, as they arrive: an async iterator of
    non-empty ``list[LogEntry]``, each in id order. Ends when closed; raises ``SubscriberTooSlow``
    if its reader fell more than ``TAIL_MAX_PENDING`` batches behind."""

    def __init__(self, subscription: Subscription, *, errors_only: bool = False, text: str = "") -> None:
        self._subscription = subscription
        self.errors_only = errors_only
        self.text = fold(text)
        # checks that the caller still may read the log; raises a CoreError when it may not
        self.recheck: Callable[[], Awaitable[object]] | None = None

    def _keep(self, entry: LogEntry) -> bool:
        if self.errors_only and entry.level not in ERROR_LEVELS:
            return False
        return matches(self.text, entry.message, entry.logger_name)

    def __aiter__(self) -> LogTail:
        return self

    async def __anext__(self) -> list[LogEntry]:
        while True:
            batch: Sequence[LogEntry] = await self._subscription.__anext__()
            kept = [entry for entry in batch if self._keep(entry)]
            if kept:
                if self.recheck is not None:
                    await self.recheck()
                return kept

    def close(self) -> None:
        self._subscription.close()


class LogsWritten(NamedTuple):
    """An append stored in a transaction not yet committed: the part, the entries' ids and rows."""

    part_id: str
    ids: list[int]
    rows: list[dict[str, Any]]


class Logs:
    """Retention: each part keeps at most ``retention_count`` entries (the newest by id) and none
    whose time is older than ``retention_seconds``; 0 turns a rule off. Appending enforces both
    every so many entries per part; ``sweep()`` enforces them everywhere (a background task)."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        retention_count: int,
        retention_seconds: float,
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.store = store
        self.bus = bus
        bus.define(LOG_BATCH_CODEC)
        self.retention_count = max(0, int(retention_count))
        self.retention_seconds = max(0.0, float(retention_seconds))
        self.max_batch = max_batch
        # how many entries each part got since its retention was last enforced
        self._written: dict[str, int] = {}
        self._swept_once = False
        self._lock = threading.Lock()
        count = self.retention_count
        self._trim_every = max(1, min(TRIM_EVERY_MAX, count // 10)) if count else TRIM_EVERY_MAX

    # --- writing --------------------------------------------------------------------------

    def append(self, p: Principal, part_id: str, entries: Sequence[NewLogEntry]) -> int:
        """Stores a batch of entries for a part (all or none) and publishes it to live tails.
        Allowed to the part itself (its secret) and to holders of write_robot_logs."""
        with self.store.write() as conn:
            written = self.append_in(conn, p, part_id, entries)
        self.after(written)
        return len(written.rows)

    def append_in(self, conn: Tx, p: Principal, part_id: str, entries: Sequence[NewLogEntry]) -> LogsWritten:
        """``append``'s work inside a transaction of the caller's (which also records something
        else in it); hand what it returns to ``after`` once that transaction committed."""
        if len(entries) > self.max_batch:
            raise Invalid(
                f"a batch holds at most {self.max_batch} log entries, got {len(entries)}: send it in parts"
            )
        received = utcnow()
        rows = [_row(i, entry, received) for i, entry in enumerate(entries)]
        part, _ = access.part(conn, p, "write_robot_logs", part_id)
        pid: str = part["id"]
        for row in rows:
            row["part_id"] = pid
        return LogsWritten(pid, store_logs.insert_entries(conn, rows), rows)

    def after(self, written: LogsWritten) -> None:
        """After the commit of an append: live tails hear the batch, retention counts it."""
        pid, ids, rows = written
        if rows and self.bus.wanted(topic(pid)):  # a tail may be open: publish the batch
            self._publish(pid, ids, rows)
        if rows:
            self._written_to(pid, len(rows))

    def _publish(self, part_id: str, ids: list[int], rows: list[dict[str, Any]]) -> None:
        batch = tuple(
            LogEntry(
                id=id_,
                part_id=part_id,
                time=row["time"],
                level=row["level"],
                message=row["message"],
                logger_name=row["logger_name"],
                host=row["host"],
                caller=row["caller"],
                stack=row["stack"],
                fields=row["fields"],
            )
            for id_, row in zip(ids, rows, strict=True)
        )
        self.bus.publish(topic(part_id), batch)

    def _written_to(self, part_id: str, count: int) -> None:
        with self._lock:
            total = self._written.get(part_id, 0) + count
            due = total >= self._trim_every
            if due:
                self._written.pop(part_id, None)
            else:
                self._written[part_id] = total
        if due:
            try:
                self._trim(part_id, by_count=True)
            except Exception:  # the entries are stored; the next pass or the sweep trims
                log.warning("could not enforce log retention on part %s", part_id, exc_info=True)

    def _cutoff(self) -> datetime | None:
        return utcnow() - timedelta(seconds=self.retention_seconds) if self.retention_seconds else None

    def _trim(self, part_id: str, *, by_count: bool) -> int:
        keep = self.retention_count if by_count and self.retention_count else None
        older_than = self._cutoff()
        if keep is None and older_than is None:
            return 0
        with self.store.write() as conn:
            return store_logs.trim(conn, part_id, keep=keep, older_than=older_than)

    def sweep(self) -> int:
        """Enforces retention on every part that has logs; returns how many entries it deleted.
        The age rule is checked on every part; the count rule (which reads up to
        ``retention_count`` index entries) on the parts appended to since the last sweep, and on
        all of them the first time."""
        with self._lock:
            written = set(self._written)
            self._written.clear()
            everything = not self._swept_once
            self._swept_once = True
        with self.store.read() as conn:
            part_ids = store_logs.parts_with_logs(conn)
        deleted = 0
        for part_id in part_ids:  # a short transaction each: writers wait for none of them long
            deleted += self._trim(part_id, by_count=everything or part_id in written)
        if deleted:
            log.info("log retention: deleted %d entries", deleted)
        return deleted

    # --- reading --------------------------------------------------------------------------

    def query(
        self,
        p: Principal,
        part_id: str,
        page: PageRequest,
        *,
        filter: str = "",
        levels: Iterable[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        order: str = "desc",
    ) -> Page[LogEntry]:
        """One page of a part's entries by their time, newest first (``order="desc"``) or oldest
        first (``"asc"``), 100 a page unless ``page`` says otherwise. ``filter`` is
        a case-insensitive substring of the message or logger name; ``levels`` any of these levels;
        ``start`` inclusive and ``end`` exclusive bounds on the entries' time."""
        text = _filter_text(filter)
        if isinstance(levels, str):
            levels = [levels]
        wanted = sorted({normalize_level(level, "levels item") for level in levels or ()})
        start = _utc(start, "start") if start is not None else None
        end = _utc(end, "end") if end is not None else None
        direction = order.strip().lower() if isinstance(order, str) else order
        if direction not in ("asc", "desc"):
            raise Invalid(f"order must be 'desc' (newest first) or 'asc', got {order!r}")
        window = LISTING.open(page)
        after = None if window.after is None else (_time_of(window.after[0]), _int_of(window.after[1]))
        with self.store.read() as conn:
            part, _ = access.part(conn, p, "read_robot_logs", part_id)
            if start is not None and end is not None and start >= end:
                return Page([], None)
            rows = store_logs.page(
                conn,
                part["id"],
                text=text,
                after=after,
                limit=window.limit,
                levels=wanted,
                start=start,
                end=end,
                descending=direction == "desc",
            )
        return LISTING.page(rows, window, LogEntry.from_row, lambda r: (as_utc(r["time"]), r["id"]))

    def tail(self, p: Principal, part_id: str, *, errors_only: bool = False, filter: str = "") -> LogTail:
        """A live tail of the part's log, checked now (read_robot_logs), yielding the entries
        appended from now on. ``errors_only`` keeps the ``ERROR_LEVELS`` (error, dpanic, panic,
        fatal); ``filter`` is a case-insensitive substring of the message or logger name."""
        text = _filter_text(filter)
        with self.store.read() as conn:
            part, _ = access.part(conn, p, "read_robot_logs", part_id)
        subscription = self.bus.subscribe(topic(part["id"]), max_pending=TAIL_MAX_PENDING)
        return LogTail(subscription, errors_only=errors_only, text=text)

    def check_tail(self, p: Principal, part_id: str) -> None:
        """Raises unless ``p`` may read the part's log (a tail asks again before each batch)."""
        with self.store.read() as conn:
            access.part(conn, p, "read_robot_logs", part_id)


async def open_tail(call: Call, part_id: str, *, errors_only: bool = False, filter: str = "") -> LogTail:
    """A live tail for the caller of ``call`` that lasts as long as the caller may read the log:
    before each batch its credential is authenticated and checked again, so a withdrawn share, a
    removed role or a deleted key ends the tail (with the CoreError that says why) instead of
    letting it read on."""
    logs = call.fleet.logs
    tail: LogTail = await call(logs.tail, part_id, errors_only=errors_only, filter=filter)
    tail.recheck = lambda: call(logs.check_tail, part_id)
    return tail


# --- checks ---------------------------------------------------------------------------------


def _row(index: int, entry: NewLogEntry, received: datetime) -> dict[str, Any]:
    where = f"entries[{index}]"
    caller = entry.caller
    if caller is not None:
        caller = validate.json_object(caller, f"{where}.caller", CALLER_MAX_BYTES)
    fields = entry.fields if entry.fields is not None else []
    if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
        raise Invalid(f"{where}.fields must be a list of JSON objects")
    if fields:
        validate.json_object({"fields": fields}, f"{where}.fields", FIELDS_MAX_BYTES)
    return {
        "time": received if entry.time is None else _utc(entry.time, f"{where}.time"),
        "level": normalize_level(entry.level, f"{where}.level"),
        "message": _text(entry.message, f"{where}.message", MESSAGE_MAX),
        "logger_name": _text(entry.logger_name, f"{where}.logger_name", LOGGER_NAME_MAX),
        "host": _text(entry.host, f"{where}.host", HOST_MAX),
        "caller": caller,
        "stack": _text(entry.stack, f"{where}.stack", STACK_MAX),
        "fields": fields,
        "received_at": received,
    }


def _text(value: object, what: str, limit: int) -> str:
    """A string both databases can hold: no NUL character, no lone surrogate."""
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a string")
    if len(value) > limit:
        raise Invalid(f"{what} is {len(value)} characters; the limit is {limit}")
    if "\x00" in value:
        raise Invalid(f"{what} must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Invalid(f"{what} is not valid Unicode (it holds a lone surrogate)") from None
    return value


def _utc(value: object, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise Invalid(f"{what} must be a date and time")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise Invalid(f"{what} {value.isoformat()} is out of range") from None


def _filter_text(value: object) -> str:
    return _text(value, "filter", FILTER_MAX) if value else ""


def _time_of(value: Key) -> datetime:
    assert isinstance(value, datetime)
    return value


def _int_of(value: Key) -> int:
    assert isinstance(value, int)
    return value
