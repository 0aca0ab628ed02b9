"""The wire forms of the requests routed to the server process holding a robot's agent
(``agent-ask``) and of their answers (``agent-answer``): every request round-trips, hostile
payloads do not decode, and one arriving from Redis is dropped with a log line."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import orjson
import pytest
import redis

from fleetport.bus import wire
from fleetport.bus.redis import RedisBus
from fleetport.core.remote import Relay
from fleetport.dialects.agent.routing import ANSWER_CODEC, ASK_CODEC, Answer, Ask, ask_topic
from tests.conftest import REDIS_URL

ORIGIN = b"0123456789abcdef"
PART = "0192aaaa-0000-7000-8000-000000000001"
ASKS = [
    Ask("launch", "m1", "i1", public_key="ssh-ed25519 AAAA ünï", port=24600),
    Ask("destroy", "m1", "i1"),
    Ask("addon_start", "m1", "i1", "cam"),
    Ask("addon_start", "m1", "i1", "mistyproxy", relay=Relay("10.0.0.2:80", {"http": 1, "https": 2})),
    Ask("addon_start", "m1", "i1", "vnc", relay=Relay(None, {"vnc": 65535}, at_once=False)),
    Ask("addon_stop", "m1", "i1", "cam", request="r1", reply_to="p1"),
    Ask("relay_open", "m1", "i1", "vnc", request="r2", reply_to="p1"),
    Ask("relay_close", "m1", "i1", "vnc", request="r3", reply_to="p1"),
    Ask("snapshot", "m1", "i1", camera="0", timeout=10.0, request="r4", reply_to="p1"),
    Ask("tell", "m1", message="drive", fields={"instance": "i1", "command": {"linearv": 0.5, "x": [None]}}),
    Ask(
        "tell",
        "m1",
        message="ci_job",
        fields={"job": "j1", "instance": "i1", "repo_url": "https://example.com/r.git", "branch": "main"},
    ),
]
ANSWERS = [
    Answer("r1"),
    Answer("r4", b"\xff\xd8\xff\x00" * 100),
    Answer("r2", code="unavailable", error="gone ünï"),
]


def _ask(**changes: Any) -> bytes:
    """A valid snapshot request's wire form with some fields changed (or removed, with None)."""
    plain = ASK_CODEC.encode(ASKS[8])
    for name, value in changes.items():
        if value is None:
            plain.pop(name)
        else:
            plain[name] = value
    return ORIGIN + b" " + orjson.dumps(plain)


@pytest.mark.parametrize("ask", ASKS, ids=lambda a: a.kind)
def test_every_request_round_trips(ask: Ask) -> None:
    assert wire.unpack(ASK_CODEC, wire.pack(ORIGIN, ASK_CODEC, ask)) == ask


@pytest.mark.parametrize("answer", ANSWERS)
def test_every_answer_round_trips(answer: Answer) -> None:
    assert wire.unpack(ANSWER_CODEC, wire.pack(ORIGIN, ANSWER_CODEC, answer)) == answer


HOSTILE_ASKS = {
    "unknown kind": _ask(kind="exec"),
    "kind missing": _ask(kind=None),
    "NUL in an id": _ask(instance="i\x001"),
    "very long id": _ask(instance="i" * 101),
    "number for text": _ask(camera=7),
    "negative timeout": _ask(timeout=-1),
    "huge timeout": _ask(timeout=1e300),
    "boolean timeout": _ask(timeout=True),
    "port out of range": _ask(port=70000),
    "negative port": _ask(port=-22),
    "port as text": _ask(port="22"),
    "no reply address": _ask(reply_to=""),
    "relay not an object": _ask(relay=[1]),
    "relay of unknown kind": _ask(relay={"target": None, "ports": {"ssh": 22}, "at_once": True}),
    "relay with huge port": _ask(relay={"target": None, "ports": {"vnc": 2**63 - 1}, "at_once": True}),
    "tell of another message": _ask(kind="tell", message="launch"),
    "fields not an object": _ask(fields=[1, 2]),
    "not an object": ORIGIN + b" [1, 2, 3]",
    "not JSON": ORIGIN + b" {kind: snapshot",
    "lone surrogate": _ask().replace(b'"camera":"0"', b'"camera":"\\ud800"'),
    "no origin": b"{}",
    "integer over 64 bits": ORIGIN + b' {"kind": "launch", "port": ' + b"9" * 30 + b"}",
}


@pytest.mark.parametrize("data", HOSTILE_ASKS.values(), ids=HOSTILE_ASKS.keys())
def test_hostile_requests_do_not_decode(data: bytes) -> None:
    with pytest.raises(wire.Undecodable):
        wire.unpack(ASK_CODEC, data)


HOSTILE_ANSWERS = {
    "unknown error code": {"request": "r", "data": None, "code": "crash", "error": ""},
    "data not base64": {"request": "r", "data": "%%%", "code": "", "error": ""},
    "data a number": {"request": "r", "data": 5, "code": "", "error": ""},
    "request missing": {"data": None, "code": "", "error": ""},
    "NUL in the error": {"request": "r", "data": None, "code": "unavailable", "error": "a\x00b"},
}


@pytest.mark.parametrize("plain", HOSTILE_ANSWERS.values(), ids=HOSTILE_ANSWERS.keys())
def test_hostile_answers_do_not_decode(plain: dict[str, Any]) -> None:
    with pytest.raises(wire.Undecodable):
        wire.unpack(ANSWER_CODEC, ORIGIN + b" " + orjson.dumps(plain))


def test_a_request_from_redis_that_does_not_decode_is_dropped_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> list[Any]:
        prefix = f"fleetport-test-{uuid.uuid4().hex}:"
        bus = RedisBus(REDIS_URL, prefix)
        bus.define(ASK_CODEC)
        await bus.start()
        try:
            subscription = bus.subscribe(ask_topic(PART))
            raw = redis.Redis.from_url(REDIS_URL)
            try:
                for data in (_ask(kind="exec"), _ask(port=-1), wire.pack(b"f" * 16, ASK_CODEC, ASKS[1])):
                    raw.publish(prefix + ask_topic(PART), data)
            finally:
                raw.close()
            return [await asyncio.wait_for(subscription.__anext__(), 5)]
        finally:
            await bus.stop()

    with caplog.at_level(logging.WARNING, "fleetport.bus"):
        received = asyncio.run(scenario())
    assert received == [ASKS[1]]  # only the well-formed one
    assert sum("does not decode" in r.getMessage() for r in caplog.records) == 2
