"""Events between processes through Redis: each of two buses on one prefix stands for a server
process. Every event family the server publishes goes over in its wire form and comes back equal;
what does not decode is dropped; a lost connection is logged and made again without ending a
subscription; Redis unreachable at start is one clear error."""

from __future__ import annotations

import asyncio
import logging
import pickle
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis

from fleetport.bus import Bus, BusUnavailable, wire
from fleetport.bus.redis import RedisBus
from fleetport.core.identity import CredentialsChanged
from fleetport.core.logs import LogEntry
from fleetport.core.machines import PartConfigChanged
from fleetport.server import open_fleet
from fleetport.settings import Settings
from tests.conftest import REDIS_URL, free_port

# A sample of each event the server publishes, by topic family: a family without samples here
# fails test_every_published_family_has_samples.
SAMPLES: dict[str, tuple[str, list[Any]]] = {
    "part-logs": (
        "part-logs:0192aaaa-0000-7000-8000-000000000001",
        [
            (
                LogEntry(
                    id=7,
                    part_id="0192aaaa-0000-7000-8000-000000000001",
                    time=datetime(2026, 11, 29, 0, 30, 1, 123456, tzinfo=UTC),
                    level="error",
                    message="wheel stuck — ünïcödé ✓ \\ \" '\n",
                    logger_name="rdk.motor",
                    host="rover-1",
                    caller={"File": "motor.go", "Line": 12, "Defined": True, "Nested": {"x": [1, 2.5]}},
                    stack="goroutine 1 [running]:",
                    fields=[{"key": "speed", "value": 1.5}, {"key": "none", "value": None}],
                ),
                LogEntry(
                    id=8,
                    part_id="0192aaaa-0000-7000-8000-000000000001",
                    time=datetime(1999, 1, 1, tzinfo=timezone(timedelta(hours=-5))),
                    level="info",
                    message="",
                ),
            ),
        ],
    ),
    "points": (
        "points:" + "ab" * 20,
        [(1764376201, 21.5), (0, 2**63 - 1), (2**62, -(2**63)), (5, 'text ünï "quoted"'), (6, 1e-300)],
    ),
    "credentials": ("credentials", [CredentialsChanged()]),
    "part-config": (
        "part-config:0192aaaa-0000-7000-8000-000000000001",
        [
            PartConfigChanged(
                "0192aaaa-0000-7000-8000-000000000001", datetime(2026, 11, 29, 3, 0, 0, 1, tzinfo=UTC)
            )
        ],
    ),
}


@asynccontextmanager
async def two_processes(defined_by: Bus | None = None) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """Two started buses on channels of their own, with the wire forms ``defined_by`` defines."""
    prefix = f"fleetport-test-{uuid.uuid4().hex}:"
    first, second = RedisBus(REDIS_URL, prefix), RedisBus(REDIS_URL, prefix)
    for bus in (first, second):
        for codec in (defined_by.codecs if defined_by is not None else {}).values():
            bus.define(codec)
        await bus.start()
    try:
        yield first, second
    finally:
        await first.stop()
        await second.stop()


def _server_bus(tmp_path: Path) -> Bus:
    """The bus of a fleet as the server makes it, with every family its services define."""
    fleet = open_fleet(Settings(data_dir=tmp_path))
    fleet.store.dispose()
    return fleet.bus


def test_every_published_family_has_samples(tmp_path: Path) -> None:
    assert set(_server_bus(tmp_path).codecs) == set(SAMPLES)


def test_every_event_the_server_publishes_round_trips_through_its_wire_form(tmp_path: Path) -> None:
    codecs = _server_bus(tmp_path).codecs
    origin = b"0123456789abcdef"
    for family, (topic, events) in SAMPLES.items():
        assert wire.family(topic) == family
        for event in events:
            data = wire.pack(origin, codecs[family], event)
            assert data.startswith(origin + b" ")
            back = wire.unpack(codecs[family], data)
            assert back == event and type(back) is type(event)
            if family == "points":
                assert [type(x) for x in back] == [type(x) for x in event]  # 1.0 stays a float


def test_events_reach_the_other_process_in_order_and_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with two_processes(_server_bus(tmp_path)) as (here, there):
            for topic, events in SAMPLES.values():
                local, remote = here.subscribe(topic), there.subscribe(topic)
                for event in events:
                    here.publish(topic, event)
                got = [await asyncio.wait_for(anext(remote), 5) for _ in events]
                assert got == events
                assert [await asyncio.wait_for(anext(local), 5) for _ in events] == events
                here.publish(topic, events[0])  # a marker: nothing came in between, no echo
                assert await asyncio.wait_for(anext(local), 5) == events[0]
                assert await asyncio.wait_for(anext(remote), 5) == events[0]
                local.close()
                remote.close()

    asyncio.run(scenario())


def test_messages_that_do_not_decode_are_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    topic, (good, *_) = SAMPLES["points"]

    async def scenario() -> None:
        async with two_processes(_server_bus(tmp_path)) as (here, there):
            subscription = there.subscribe(topic)
            raw = redis.Redis.from_url(REDIS_URL)
            origin = b"fedcba9876543210 "
            for junk in [
                b"no origin",
                origin + b"not json",
                origin + b"[1, true]",
                origin + b'[1.5, "x"]',
                origin + b'{"timestamp": 1}',
                origin + pickle.dumps((1, 2.0)),  # never unpickled: not JSON, dropped
            ]:
                raw.publish(here.prefix + topic, junk)
            raw.close()
            here.publish(topic, good)
            assert await asyncio.wait_for(anext(subscription), 5) == good  # the one good message
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(subscription), 0.2)

    with caplog.at_level(logging.WARNING, "fleetport.bus"):
        asyncio.run(scenario())
    assert sum("does not decode" in r.getMessage() for r in caplog.records) == 6
    assert sum("no origin" in r.getMessage() for r in caplog.records) == 1


def _kill_connections(name: str) -> int:
    raw = redis.Redis.from_url(REDIS_URL)
    try:
        ids = [c["id"] for c in raw.client_list() if c.get("name") == name]
        for id_ in ids:
            raw.client_kill_filter(_id=id_)
        return len(ids)
    finally:
        raw.close()


def test_a_lost_connection_is_made_again_and_streams_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    topic, events = SAMPLES["points"]

    async def scenario() -> None:
        async with two_processes(_server_bus(tmp_path)) as (here, there):
            reconnected: list[object] = []
            there.when_reconnected(reconnected.append)
            subscription = there.subscribe(topic)
            here.publish(topic, events[0])
            assert await asyncio.wait_for(anext(subscription), 5) == events[0]

            for bus in (here, there):  # both the listening and the publishing connections
                assert await asyncio.to_thread(_kill_connections, bus.client_name) >= 1
            await _eventually(lambda: reconnected == [None] and there.connected.is_set())
            # published until one arrives: some sent while the link was down are lost, not queued forever
            for _ in range(100):
                here.publish(topic, events[1])
                try:
                    got = await asyncio.wait_for(anext(subscription), 0.1)
                except TimeoutError:
                    continue
                assert got == events[1]
                break
            else:
                pytest.fail("no event came through after the reconnection")
            assert not subscription.closed

    with caplog.at_level(logging.INFO, "fleetport.bus"):
        asyncio.run(scenario())
    text = caplog.text
    assert "lost Redis" in text and "Redis reachable again" in text


async def _eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_redis_unreachable_at_start_is_one_clear_error() -> None:
    url = f"redis://fleet:s3cret@127.0.0.1:{free_port()}/0"

    async def scenario() -> None:
        with pytest.raises(BusUnavailable) as raised:
            await RedisBus(url).start()
        message = str(raised.value)
        assert "\n" not in message
        assert message.startswith(f"cannot reach Redis at redis://127.0.0.1:{url.rsplit(':', 1)[1]}")
        assert "FLEETPORT_REDIS_URL" in message and "s3cret" not in message
        with pytest.raises(BusUnavailable, match=r"^FLEETPORT_REDIS_URL is not a Redis URL: .*redis://"):
            await RedisBus("http://127.0.0.1:6379").start()

    asyncio.run(scenario())
