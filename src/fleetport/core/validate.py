"""Checks on values entering the domain, shared by every core service."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from fleetport.core.errors import Invalid, MalformedId
from fleetport.core.ids import is_uuid

NAME_MAX = 200
METADATA_MAX_BYTES = 64 * 1024
CONFIG_MAX_BYTES = 512 * 1024
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
    try:
        encoded = orjson.dumps(value)
    except TypeError as exc:  # orjson refuses integers beyond 64 bits
        raise Invalid(f"{what} is not storable JSON: {exc}") from None
    if b"null" in encoded and _has_non_finite(value):  # orjson writes NaN and Infinity as null
        raise Invalid(f"{what} must not contain NaN or Infinity")
    size = len(encoded)
    if size > limit:
        raise Invalid(f"{what} is {size} bytes encoded; the limit is {limit}")
    return value


def password(value: str) -> str:
    if not isinstance(value, str) or len(value) < 8:
        raise Invalid("password must be at least 8 characters")
    if len(value) > 1024:
        raise Invalid("password must be at most 1024 characters")
    return value


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False
