"""The bus, in process and through Redis: ordered delivery, slow subscribers cut off, publishers
never held up. (tests/unit/bus/test_bus_redis.py: events between processes.)"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable

import pytest

from fleetport.bus import Bus, Codec, SubscriberTooSlow, wire
from fleetport.bus.redis import RedisBus
from tests.conftest import REDIS_URL


def _plain(data: object) -> object:
    if isinstance(data, bool) or not isinstance(data, int | str):
        raise wire.Undecodable("a test message is a number or a string")
    return data


def make(kind: str) -> Bus:
    """A bus of each implementation; the Redis one on channels of its own, with a wire form for
    the test topics (numbers and strings)."""
    bus: Bus = Bus() if kind == "in-process" else RedisBus(REDIS_URL, f"fleetport-test-{uuid.uuid4().hex}:")
    for family in ("a", "b", "t", "nobody", "logs", "edge"):
        bus.define(Codec(family, lambda m: m, _plain))
    return bus


@pytest.fixture(params=["in-process", "redis"])
def new_bus(request: pytest.FixtureRequest) -> Callable[[], Bus]:
    kind: str = request.param
    return lambda: make(kind)


async def _drain(subscription: object, count: int) -> list[object]:
    got = []
    async for message in subscription:  # type: ignore[attr-defined]
        got.append(message)
        if len(got) == count:
            break
    return got


def test_publish_without_a_loop_does_nothing(new_bus: Callable[[], Bus]) -> None:
    bus = new_bus()
    bus.publish("t", 1)  # no loop attached, no subscriber: nothing to do, nothing raised
    subscription = bus.subscribe("t")  # outside a loop: still no loop attached
    bus.publish("t", 2)
    assert bus.loop is None
    subscription.close()
    assert bus.subscribers("t") == 0


def test_subscribers_get_their_topic_in_order_until_closed(new_bus: Callable[[], Bus]) -> None:
    async def scenario() -> None:
        bus = new_bus()
        first, second, other = bus.subscribe("a"), bus.subscribe("a"), bus.subscribe("b")
        assert bus.loop is asyncio.get_running_loop()  # attached by the first subscribe on a loop
        await bus.start()  # (the Redis bus connects)
        for i in range(5):
            bus.publish("a", i)
        bus.publish("b", "b-message")
        bus.publish("nobody", "lost")
        assert await _drain(first, 5) == [0, 1, 2, 3, 4]
        assert await _drain(second, 5) == [0, 1, 2, 3, 4]
        assert await _drain(other, 1) == ["b-message"]

        waiting = asyncio.create_task(_drain(first, 1))
        await asyncio.sleep(0)
        bus.publish("a", "late")
        assert await asyncio.wait_for(waiting, 5) == ["late"]

        first.close()
        first.close()  # twice is fine
        bus.publish("a", "after close")
        assert await _drain(first, 1) == []  # the iterator has ended
        assert await _drain(second, 2) == ["late", "after close"]
        assert bus.subscribers("a") == 1

        pending = asyncio.create_task(_drain(second, 2))
        await asyncio.sleep(0)
        bus.close()  # the server stopping: waiting subscribers end
        assert await asyncio.wait_for(pending, 5) == []
        assert bus.subscribers("a") == bus.subscribers("b") == 0
        await bus.stop()

    asyncio.run(scenario())


def test_slow_subscriber_is_cut_off_while_fast_one_gets_everything(new_bus: Callable[[], Bus]) -> None:
    """A subscriber that does not read falls more than max_pending behind and is closed; the
    publisher, on another thread, goes on at once although the loop is busy the whole time, and a
    subscriber that keeps up receives every message in order."""
    total = 5000

    async def scenario() -> None:
        bus = new_bus()
        await bus.start()
        slow = bus.subscribe("logs", max_pending=100)
        fast = bus.subscribe("logs", max_pending=total)
        published = threading.Event()

        def publisher() -> None:
            for i in range(total):
                bus.publish("logs", i)
            published.set()

        thread = threading.Thread(target=publisher)
        thread.start()
        # Block the event loop until the publisher is done: had publish waited on the loop (or on
        # a subscriber), this would time out.
        assert published.wait(timeout=30), "publish blocked"
        thread.join()

        assert await asyncio.wait_for(_drain(fast, total), 30) == list(range(total))
        with pytest.raises(SubscriberTooSlow, match="more than 100 messages behind"):
            await anext(slow)
        with pytest.raises(StopAsyncIteration):  # then it is simply over
            await anext(slow)
        assert bus.subscribers("logs") == 1

        # exactly max_pending behind is still fine
        edge = bus.subscribe("edge", max_pending=3)
        for i in range(3):
            bus.publish("edge", i)
        assert await _drain(edge, 3) == [0, 1, 2]
        for i in range(4):
            bus.publish("edge", i)
        with pytest.raises(SubscriberTooSlow):
            await anext(edge)
        await bus.stop()

    asyncio.run(scenario())


def test_waiting_subscriber_is_woken_by_a_publish_from_another_thread(new_bus: Callable[[], Bus]) -> None:
    async def scenario() -> None:
        bus = new_bus()
        await bus.start()
        subscription = bus.subscribe("t")
        waiting = asyncio.create_task(_drain(subscription, 3))
        await asyncio.sleep(0)
        thread = threading.Thread(target=lambda: [bus.publish("t", i) for i in range(3)])
        thread.start()
        assert await asyncio.wait_for(waiting, 5) == [0, 1, 2]
        thread.join()
        # a cancelled wait loses nothing
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(subscription), 0.05)
        bus.publish("t", "kept")
        assert await asyncio.wait_for(anext(subscription), 5) == "kept"
        await bus.stop()

    asyncio.run(scenario())


def test_publish_to_a_closed_loop_is_ignored(new_bus: Callable[[], Bus]) -> None:
    loop = asyncio.new_event_loop()
    bus = new_bus()
    bus.attach(loop)
    bus.subscribe("t")
    loop.close()
    bus.publish("t", 1)  # from this thread, onto a closed loop: dropped, no error


def test_watchers_hear_every_message_of_their_topic(new_bus: Callable[[], Bus]) -> None:
    async def scenario() -> None:
        bus = new_bus()
        await bus.start()
        heard: list[object] = []
        bus.watch("t", heard.append)
        bus.watch("t", lambda _: 1 / 0)  # a failing watcher is logged; the others still hear
        assert bus.wanted("t")
        bus.publish("t", 1)
        thread = threading.Thread(target=lambda: bus.publish("t", 2))
        thread.start()
        thread.join()
        for _ in range(100):
            if len(heard) == 2:
                break
            await asyncio.sleep(0.01)
        assert heard == [1, 2]
        await bus.stop()

    asyncio.run(scenario())
