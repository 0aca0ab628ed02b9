"""One page contract for every listing.

A caller asks for a page with a ``PageRequest`` (how many items, and the cursor of the previous
page or none) and gets a ``Page[T]`` (the items, and the cursor of the next page or None on the
last). Each listing declares itself once as a ``Listing``: its name, the sort key that orders it
and its default and maximum page sizes. A cursor is that listing's name and the sort key of the
last item given, as a JSON array in URL-safe base64 without padding: opaque to callers, refused by
every other listing, and checked field by field when it comes back. Dialects render a page in
their own wire form (``next_cursor``, page tokens, offsets, ``next`` URLs); core knows none of them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

import orjson

from fleetport.core.errors import Invalid
from fleetport.core.ids import is_uuid

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 100  # items per page when the caller names no limit
MAX_LIMIT = 1000  # the most items a page holds, unless a listing says otherwise
CURSOR_MAX = 2048  # characters: longer strings are refused before they are decoded
TEXT_MAX = 256  # characters of one text field of a sort key
INT_BOUND = 2**63  # integers of a sort key (and offsets) fit in a signed 64-bit column

Key = str | int | datetime | None  # one field of a sort key
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Refused(Exception):
    """A cursor (or one of its fields) that no listing of this server issued."""


@dataclass(frozen=True)
class PageRequest:
    """What a caller asks of a listing. ``limit`` None means the listing's default; ``cursor`` is
    the ``next_cursor`` of the previous page ("" and None both mean the first page). ``offset``
    is for wires that page by position (One Platform provisioning): only listings that say so take
    it, and not together with a cursor."""

    limit: int | None = None
    cursor: str | None = None
    offset: int | None = None

    def __post_init__(self) -> None:
        limit, cursor, offset = self.limit, self.cursor, self.offset
        if limit is not None and (type(limit) is not int or limit < 1):
            raise Invalid(f"limit must be a positive whole number, got {_shown(limit)}")
        if cursor is not None and not isinstance(cursor, str):
            raise Invalid("cursor must be a string: the next cursor of the previous page")
        if offset is not None and (type(offset) is not int or not 0 <= offset < INT_BOUND):
            raise Invalid(f"offset must be a whole number from 0 to {INT_BOUND - 1}, got {_shown(offset)}")
        if cursor == "":
            object.__setattr__(self, "cursor", None)
        if self.cursor is not None and offset is not None:
            raise Invalid("give a cursor or an offset, not both")


@dataclass
class Page(Generic[T]):
    """One page of a listing: its items and the cursor of the next page, None on the last."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Window:
    """Where a page starts and how long it is, as a listing reads it from a ``PageRequest``:
    ``after`` is the sort key of the last item of the previous page (None on the first page)."""

    limit: int
    after: tuple[Key, ...] | None
    offset: int = 0

    def after_text(self, index: int = 0) -> str | None:
        """Field ``index`` of ``after`` (a text field, or None), or None on the first page."""
        value = None if self.after is None else self.after[index]
        assert value is None or isinstance(value, str)
        return value


# --- the fields of a sort key ----------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A text field: checked by ``check`` when given, None allowed when ``optional``."""

    check: Callable[[str], bool] | None = None
    optional: bool = False

    def encode(self, value: Key) -> object:
        if value is None and self.optional:
            return None
        if not isinstance(value, str):
            raise TypeError(f"a text field of a sort key, got {value!r}")
        return value

    def decode(self, raw: object) -> Key:
        if raw is None and self.optional:
            return None
        if not isinstance(raw, str) or len(raw) > TEXT_MAX or "\x00" in raw:
            raise _Refused
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused from None  # a lone surrogate
        if self.check is not None and not self.check(raw):
            raise _Refused
        return raw


@dataclass(frozen=True)
class Integer:
    """A signed 64-bit integer field."""

    def encode(self, value: Key) -> object:
        if type(value) is not int:
            raise TypeError(f"an integer field of a sort key, got {value!r}")
        return value

    def decode(self, raw: object) -> Key:
        if type(raw) is not int or not -INT_BOUND <= raw < INT_BOUND:
            raise _Refused
        return raw


@dataclass(frozen=True)
class Time:
    """A time field (UTC), carried as whole microseconds since 1970."""

    def encode(self, value: Key) -> object:
        if not isinstance(value, datetime):
            raise TypeError(f"a time field of a sort key, got {value!r}")
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (moment - _EPOCH) // timedelta(microseconds=1)

    def decode(self, raw: object) -> Key:
        if type(raw) is not int or not -INT_BOUND <= raw < INT_BOUND:
            raise _Refused
        try:
            return _EPOCH + timedelta(microseconds=raw)
        except OverflowError:
            raise _Refused from None


Field = Text | Integer | Time
ID = Text(is_uuid)  # the id of a row: ids are time-ordered UUIDs


def row_id(row: Mapping[Any, Any]) -> tuple[Key, ...]:
    """The sort key of a row of a listing in id order."""
    return (row["id"],)


# --- listings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """One listing of core: ``name`` tags its cursors (and names it in messages), ``key`` are the
    fields of its sort key, ``default`` and ``maximum`` its page sizes; ``offsets`` says whether it
    also pages by position."""

    name: str
    key: tuple[Field, ...] = (ID,)
    default: int = DEFAULT_LIMIT
    maximum: int = MAX_LIMIT
    offsets: bool = False

    known: ClassVar[dict[str, Listing]] = {}

    def __post_init__(self) -> None:
        if self.name in Listing.known or not _ALPHABET.fullmatch(self.name):
            raise ValueError(f"listing {self.name!r} is declared twice or badly named")
        if not 1 <= self.default <= self.maximum:
            raise ValueError(f"listing {self.name!r}: the default page size is not within the maximum")
        Listing.known[self.name] = self

    def open(self, request: PageRequest) -> Window:
        """The window ``request`` asks of this listing; Invalid if its limit is over the maximum,
        its cursor is not one this listing issued, or it gives an offset this listing does not
        take."""
        limit = self.default if request.limit is None else request.limit
        if limit > self.maximum:
            raise Invalid(f"limit must be between 1 and {self.maximum} for {self.name}, got {limit}")
        if request.offset is not None and not self.offsets:
            raise Invalid(f"{self.name} are paged by cursor, not by offset")
        after = None if request.cursor is None else self.decode(request.cursor)
        return Window(limit, after, request.offset or 0)

    def encode(self, key: Sequence[Key]) -> str:
        """The cursor that continues this listing after the item whose sort key is ``key``."""
        if len(key) != len(self.key):
            raise TypeError(f"{self.name} are sorted by {len(self.key)} field(s), got {key!r}")
        fields = [self.name, *(f.encode(v) for f, v in zip(self.key, key, strict=True))]
        return base64.urlsafe_b64encode(orjson.dumps(fields)).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[Key, ...]:
        """The sort key ``cursor`` carries; Invalid (saying which listing it belongs to, when it
        is another one's) unless this listing issued it."""
        try:
            raw = _payload(cursor)
            if not raw or not isinstance(raw[0], str):
                raise _Refused
            if raw[0] != self.name:
                other = Listing.known.get(raw[0])
                if other is None:
                    raise _Refused
                raise Invalid(
                    f"this cursor continues the listing of {other.name}, not of {self.name}: "
                    "pass the next cursor of the previous page of this listing"
                )
            if len(raw) != len(self.key) + 1:
                raise _Refused
            key = tuple(f.decode(v) for f, v in zip(self.key, raw[1:], strict=True))
            if self.encode(key) != cursor:
                raise _Refused  # one key, one cursor: anything else was not issued here
        except _Refused:
            raise Invalid(
                f"cursor (page token) is not one this server issued for {self.name}: "
                "pass the one the previous page came with"
            ) from None
        return key

    def cut(
        self, rows: Sequence[R], window: Window, key: Callable[[R], Sequence[Key]]
    ) -> tuple[list[R], str | None]:
        """The rows of the page (at most ``window.limit``, out of the ``limit + 1`` a query
        fetched to tell whether another page follows) and the cursor of the next page."""
        kept = list(rows[: window.limit])
        more = len(rows) > window.limit and kept
        return kept, self.encode(key(kept[-1])) if more else None

    def page(
        self,
        rows: Sequence[R],
        window: Window,
        build: Callable[[R], T],
        key: Callable[[R], Sequence[Key]] = row_id,  # type: ignore[assignment]
    ) -> Page[T]:
        """``cut``, each kept row built into an item."""
        kept, cursor = self.cut(rows, window, key)
        return Page([build(r) for r in kept], cursor)


def _payload(cursor: str) -> list[object]:
    if not isinstance(cursor, str) or len(cursor) > CURSOR_MAX or not _ALPHABET.fullmatch(cursor):
        raise _Refused
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise _Refused from None
    if not isinstance(raw, list):
        raise _Refused
    return raw


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
