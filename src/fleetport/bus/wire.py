"""The wire form of events between processes: ``origin`` (16 hex digits naming the publishing
bus) + a space + the event as JSON (orjson) of its plain fields, encoded and decoded by the
``Codec`` its topic family was defined with. Decoders check every field: a message that does not
hold what its family promises raises ``Undecodable`` and is dropped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson

T = TypeVar("T")

ORIGIN_BYTES = 16


class Undecodable(ValueError):
    """A message from another process that is not the event its topic family carries."""


@dataclass(frozen=True)
class Codec:
    """How the events of one topic family travel: ``encode`` turns an event into what orjson writes
    as plain JSON (str, int, float, bool, None, lists, tuples, dicts with str keys, datetimes, and
    dataclasses of these, written as objects of their fields); ``decode`` checks the JSON read back
    and rebuilds the event, raising ``Undecodable`` (or ValueError, TypeError) otherwise."""

    family: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def family(topic: str) -> str:
    """``part-logs:<part id>`` is of family ``part-logs``."""
    return topic.partition(":")[0]


def pack(origin: bytes, codec: Codec, message: object) -> bytes:
    return origin + b" " + orjson.dumps(codec.encode(message))


def origin_of(data: bytes) -> bytes:
    return data[:ORIGIN_BYTES]


def unpack(codec: Codec, data: bytes) -> Any:
    if len(data) <= ORIGIN_BYTES or data[ORIGIN_BYTES : ORIGIN_BYTES + 1] != b" ":
        raise Undecodable("no origin")
    try:
        return codec.decode(orjson.loads(data[ORIGIN_BYTES + 1 :]))
    except Undecodable:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise Undecodable(str(exc)) from None


# --- checks for decoders ------------------------------------------------------------------------


def field(data: Any, name: str, kind: type[T] | tuple[type, ...]) -> T:
    """``data[name]``, which must be of ``kind`` (a bool is never taken for a number)."""
    if not isinstance(data, dict) or name not in data:
        raise Undecodable(f"{name} is missing")
    value = data[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise Undecodable(f"{name} is {type(value).__name__}")
    return value  # type: ignore[return-value]


def optional_object(data: Any, name: str) -> dict[str, Any] | None:
    value = data.get(name) if isinstance(data, dict) else None
    if value is not None and not isinstance(value, dict):
        raise Undecodable(f"{name} is {type(value).__name__}")
    return value


def objects(data: Any, name: str) -> list[dict[str, Any]]:
    value = field(data, name, list)
    if not all(isinstance(item, dict) for item in value):
        raise Undecodable(f"{name} holds something else than objects")
    return value


def timestamp(data: Any, name: str) -> datetime:
    """A datetime with its offset (orjson writes them as RFC 3339 text)."""
    value = datetime.fromisoformat(field(data, name, str))
    if value.tzinfo is None:
        raise Undecodable(f"{name} has no UTC offset")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
