"""Checks on values entering the domain, shared by every core service."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

import orjson

from fleetport.core.errors import FailedPrecondition, Invalid, MalformedId
from fleetport.core.ids import is_uuid
from fleetport.core.models import as_utc

NAME_MAX = 200
ORG_TAG_MAX = 64  # an organization's region and cid
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
METADATA_MAX_BYTES = 64 * 1024
CONFIG_MAX_BYTES = 512 * 1024
# objects and arrays nested in a JSON document: well within what a protocol buffers Struct may
# carry to a Viam client (a Struct costs two levels of its limit of 100 per level of nesting)
JSON_DEPTH_MAX = 32
_NAMESPACE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def name(value: str, what: str = "name") -> str:
    value = value.strip() if isinstance(value, str) else value
    if not isinstance(value, str) or not value:
        raise Invalid(f"{what} must not be empty")
    if len(value) > NAME_MAX:
        raise Invalid(f"{what} is {len(value)} characters; the limit is {NAME_MAX}")
    if any(ord(c) < 32 for c in value):
        raise Invalid(f"{what} must not contain control characters")
    return value


def namespace(value: str) -> str:
    if not _NAMESPACE.match(value or ""):
        raise Invalid(
            f"public namespace {value!r} is invalid: use 1-63 lowercase letters, digits and dashes, "
            "starting and ending with a letter or digit"
        )
    return value


def email(value: str) -> str:
    value = (value or "").strip().lower()
    if not _EMAIL.match(value) or len(value) > 320:
        raise Invalid(f"{value!r} is not an email address")
    return value


def entity_id(value: str, what: str) -> str:
    """Ids that cannot exist are reported as missing, with the id echoed back."""
    if not value:
        raise MalformedId(f"a {what} id is required")
    if not isinstance(value, str) or not is_uuid(value):
        raise MalformedId(f"no {what} has the id {value!r}: ids are UUIDs")
    return value.lower()


def json_object(value: Any, what: str, limit: int = METADATA_MAX_BYTES) -> dict[str, Any]:
    """A JSON object that every client and both databases can hold: 64-bit integers at most, no
    NaN or Infinity, and at most ``limit`` bytes encoded."""
    if not isinstance(value, dict):
        raise Invalid(f"{what} must be a JSON object")
    storable_json(value, what)
    depth = _depth(value)
    if depth > JSON_DEPTH_MAX:
        raise Invalid(f"{what} is nested {depth} objects and arrays deep; the limit is {JSON_DEPTH_MAX}")
    size = len(orjson.dumps(value))
    if size > limit:
        raise Invalid(f"{what} is {size} bytes encoded; the limit is {limit}")
    return value


def password(value: str) -> str:
    if not isinstance(value, str) or len(value) < 8:
        raise Invalid("password must be at least 8 characters")
    if len(value) > 1024:
        raise Invalid("password must be at most 1024 characters")
    return value


def _depth(value: Any) -> int:
    """How many objects and arrays deep a JSON value is nested (a scalar: 0)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in children)
    return deepest


# --- what both databases hold alike ----------------------------------------------------------
# PostgreSQL refuses the NUL character in text, which SQLite stores; neither holds a lone surrogate
# (text that is not Unicode); integer columns and JSON numbers stop at 64 bits. Such values are
# refused, with the field named, wherever they would be stored or looked up.


def text_problem(value: str) -> str | None:
    """Why the databases cannot hold ``value`` alike, or None when they can."""
    if "\x00" in value:
        return "must not contain the NUL character (\\u0000)"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be Unicode text: it holds a lone surrogate (\\ud800-\\udfff)"
    return None


def storable_text(value: str, what: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise Invalid(f"{what} {problem}")
    return value


def bounded_text(value: str, what: str, limit: int) -> str:
    """Text both databases hold alike, of at most ``limit`` characters."""
    storable_text(value, what)
    if len(value) > limit:
        raise Invalid(f"{what} is {len(value)} characters; the limit is {limit}")
    return value


def storable_integer(value: int, what: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    if not low <= value <= high:
        raise Invalid(f"{what} is out of range: it must lie between {low} and {high}")
    return value


_LONG_DIGITS = re.compile(r"\d{19}")  # an integer that may lie beyond 64 bits (or digits in a string)


def storable_json(value: Any, what: str) -> Any:
    """A JSON document whose every string, key and number both databases and every client hold
    alike: no NUL, no lone surrogate, integers of 64 bits at most, no NaN or Infinity.

    Documents are checked on every write, so the common case takes one pass of the C encoder: it
    refuses NaN and Infinity, its text refuses to encode a lone surrogate, and a NUL or a long run
    of digits shows in it. Anything it cannot clear is walked item by item for the exact verdict."""
    try:
        encoded = json.dumps(value, allow_nan=False, ensure_ascii=False)
        encoded.encode("utf-8")
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError is a ValueError
        return _walk_json(value, what)
    if "\\u0000" in encoded or _LONG_DIGITS.search(encoded):
        return _walk_json(value, what)
    return value


def _walk_json(value: Any, what: str) -> Any:
    """``storable_json`` item by item (without recursion: a document may nest as deep as the JSON
    parser allows)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            storable_text(item, what)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            storable_integer(item, what)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise Invalid(f"{what} must not contain NaN or Infinity")
        elif isinstance(item, dict):
            for key in item:
                if isinstance(key, str):
                    storable_text(key, f"{what} (a key)")
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return value


def unchanged_since(changed_at: datetime, since: datetime | None, what: str) -> None:
    """Refuses a write made from a copy older than the last change (``since``: the time of the last
    change the writer saw; None: no such check)."""
    if since is None:
        return
    changed_at = as_utc(changed_at)
    if changed_at > since:
        raise FailedPrecondition(
            f"{what} changed at {changed_at.isoformat()}, after the last update you know of "
            f"({since.isoformat()}): read it again and repeat the change"
        )
