"""The in-process bus: ordered delivery, slow subscribers cut off, publishers never held up."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fleetport.bus import Bus, SubscriberTooSlow


async def _drain(subscription: object, count: int) -> list[object]:
    got = []
    async for message in subscription:  # type: ignore[attr-defined]
        got.append(message)
        if len(got) == count:
            break
    return got


def test_publish_without_a_loop_does_nothing() -> None:
    bus = Bus()
    bus.publish("t", 1)  # no loop attached, no subscriber: nothing to do, nothing raised
    subscription = bus.subscribe("t")  # outside a loop: still no loop attached
    bus.publish("t", 2)
    assert bus.loop is None
    subscription.close()
    assert bus.subscribers("t") == 0


def test_subscribers_get_their_topic_in_order_until_closed() -> None:
    async def scenario() -> None:
        bus = Bus()
        first, second, other = bus.subscribe("a"), bus.subscribe("a"), bus.subscribe("b")
        assert bus.loop is asyncio.get_running_loop()  # attached by the first subscribe on a loop
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

    asyncio.run(scenario())


def test_slow_subscriber_is_cut_off_while_fast_one_gets_everything() -> None:
    """A subscriber that does not read falls more than max_pending behind and is closed; the
    publisher, on another thread, goes on at once although the loop is busy the whole time, and a
    subscriber that keeps up receives every message in order."""
    total = 5000

    async def scenario() -> None:
        bus = Bus()
        bus.attach(asyncio.get_running_loop())
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

    asyncio.run(scenario())


def test_waiting_subscriber_is_woken_by_a_publish_from_another_thread() -> None:
    async def scenario() -> None:
        bus = Bus()
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

    asyncio.run(scenario())


def test_publish_to_a_closed_loop_is_ignored() -> None:
    loop = asyncio.new_event_loop()
    bus = Bus()
    bus.attach(loop)
    bus.subscribe("t")
    loop.close()
    bus.publish("t", 1)  # from this thread, onto a closed loop: dropped, no error
