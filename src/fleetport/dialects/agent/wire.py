"""The agent wire's control messages: JSON objects in text frames, each with a ``type``.

Agent to server: ``heartbeat``; ``logs`` (``stream``, ``seq``, ``entries``); ``points``
(``stream``, ``seq``, ``alias``, ``points``); ``stream_failed`` (``stream``, ``error``);
``launched`` (``instance``, ``hostkey``, ``port``); ``launch_failed`` (``instance``, ``error``);
``destroyed`` (``instance``); ``addon_active`` (``instance``, ``addon``, and for a relayed
add-on the ``target`` it dials) and ``addon_failed`` (``instance``, ``addon``, ``error``);
``snapshot`` (``request``, ``data``) and ``snapshot_failed`` (``request``, ``error``); of a CI job ``ci_log``
(``job``, ``data``), ``ci_needs`` (``job``, ``workspace``) and ``ci_done`` (``job``, ``status``,
``exit_code``, ``reason``).
Server to agent: ``welcome`` (``part_id``, ``machine_id``, ``heartbeat_seconds``, ``delivered``);
``config`` (``config``, ``updated_at``); ``ack`` (``stream``, ``seq``, and for points ``written``
and ``failures``); ``refused`` (``stream``, ``seq``, ``error``: the message can never be stored,
the agent drops it); ``open_stream`` (``stream``, ``target``); ``launch`` (``instance``,
``public_key``) and ``destroy`` (``instance``) of a remote-access workspace; ``addon_start``
(``instance``, ``addon``, and the ``target`` the deployment's add-on config names, if any) and
``addon_stop`` (``instance``, ``addon``), ``snapshot`` (``request``, ``instance``,
``camera``) and ``drive`` (``instance``, ``command``) of its add-ons; ``ci_job`` (``job``,
``instance``, ``repo_url``, ``branch``, ``ref``, ``workspace_type``, ``time_limit_seconds``,
``log_bytes``) of a CI job to run in the instance's workspace.

A message that is not one of these (not JSON, not an object, an unknown type, a field of the
wrong kind) is a ``Hostile`` one: the hub closes the connection that sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from fleetport.core.logs import NewLogEntry

AGENT_TYPES = (
    "heartbeat",
    "logs",
    "points",
    "stream_failed",
    "launched",
    "launch_failed",
    "destroyed",
    "addon_active",
    "addon_failed",
    "snapshot",
    "snapshot_failed",
    "ci_log",
    "ci_needs",
    "ci_done",
)


class Hostile(ValueError):
    """A control message the wire does not allow."""


@dataclass(frozen=True)
class Message:
    type: str
    body: dict[str, Any]


def parse(text: str) -> Message:
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise Hostile("a control message that is not JSON") from None
    if not isinstance(body, dict):
        raise Hostile("a control message that is not a JSON object")
    kind = body.get("type")
    if kind not in AGENT_TYPES:
        shown = repr(kind)[:60]
        raise Hostile(f"a control message of unknown type {shown}")
    return Message(kind, body)


def text(body: dict[str, Any], name: str, limit: int = 1000) -> str:
    value = body.get(name)
    if not isinstance(value, str) or len(value) > limit:
        raise Hostile(f"{name} is not text of at most {limit} characters")
    return value


def integer(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if type(value) is not int:
        raise Hostile(f"{name} is not a whole number")
    return value


def optional_integer(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is not None and type(value) is not int:
        raise Hostile(f"{name} is not a whole number or null")
    return value


def objects(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Hostile(f"{name} is not a list of objects")
    return value


def log_entries(body: dict[str, Any]) -> list[NewLogEntry]:
    """The entries of a ``logs`` message, in the fields of the native log append (their values
    are checked by the core, which refuses the batch when one is wrong)."""
    entries = []
    for item in objects(body, "entries"):
        fields = item.get("fields", [])
        entries.append(
            NewLogEntry(
                time=_time(item.get("time")),
                level=item.get("level", "info"),
                message=item.get("message", ""),
                logger_name=item.get("logger_name", ""),
                host=item.get("host", ""),
                caller=item.get("caller"),
                stack=item.get("stack", ""),
                fields=fields if isinstance(fields, list) else [],
            )
        )
    return entries


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Hostile("an entry's time is RFC 3339 text")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise Hostile("an entry's time is RFC 3339 text") from None


def dump(kind: str, **fields: Any) -> str:
    return orjson.dumps({"type": kind, **fields}).decode()
