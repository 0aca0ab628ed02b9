"""In-process publish/subscribe for live events (log lines, new points, run events).

Publishers are core services, which run on the event loop's thread (SQLite) or on worker threads
(PostgreSQL); subscribers are async iterators on the event loop (an SSE log tail, a gRPC stream).
``publish`` never blocks and never waits for a subscriber: each subscription queues at most
``max_pending`` messages, and one that falls further behind is closed and raises
``SubscriberTooSlow`` from its iterator, so that the writer and the other subscribers go on at full
speed. Messages are shared between subscribers, never copied: publish immutable values.

Messages published by one thread reach each subscriber in the order they were published.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from typing import Any

from fleetport.core.errors import CoreError


class SubscriberTooSlow(CoreError):
    """The subscriber fell more than ``max_pending`` messages behind and was closed."""

    code = "subscriber_too_slow"


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Subscription:
    """Messages of one topic, in publish order; iterate with ``async for``. Ends when closed
    (``close()``, or the bus closing) and raises ``SubscriberTooSlow`` once if it fell behind."""

    def __init__(self, bus: Bus, topic: str, max_pending: int) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.topic = topic
        self.max_pending = max_pending
        self._bus = bus
        self._queue: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._too_slow = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _push(self, message: Any) -> None:
        """Runs on the bus's loop thread."""
        if self._closed:
            return
        if len(self._queue) >= self.max_pending:
            self._too_slow = True
            self._queue.clear()
            self._shut()
            return
        self._queue.append(message)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        loop = waiter.get_loop()
        if _running_loop() is loop:
            waiter.set_result(None)
        else:  # the consumer iterates on another loop or thread than the one closing or pushing
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_release, waiter)

    def _shut(self) -> None:
        self._closed = True
        self._bus._remove(self)
        self._wake()

    def close(self) -> None:
        """Stops the subscription; the iterator ends. Safe to call more than once."""
        if not self._closed:
            self._queue.clear()
            self._shut()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        # Cancellation-safe: a message is only taken from the queue when it is returned.
        while True:
            if self._too_slow:
                self._too_slow = False
                raise SubscriberTooSlow(
                    f"the subscriber fell more than {self.max_pending} messages behind on "
                    f"{self.topic!r} and was closed; subscribe again to go on"
                )
            if self._closed:
                raise StopAsyncIteration
            if self._queue:
                return self._queue.popleft()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Bus:
    """Topics are plain strings (``part-logs:<part id>``); a message is any immutable value."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._topics: dict[str, set[Subscription]] = {}
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Delivers messages on this loop from now on (called when the server starts)."""
        self._loop = loop

    def publish(self, topic: str, message: object) -> None:
        """Hands the message to the topic's subscribers; returns at once, from any thread. Without
        an event loop attached (the core used on its own) there is nobody to tell: it does nothing."""
        loop = self._loop
        if loop is None or topic not in self._topics:
            return
        if _running_loop() is loop:
            self._deliver(topic, message)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is stopping
            loop.call_soon_threadsafe(self._deliver, topic, message)

    def subscribe(self, topic: str, *, max_pending: int = 1000) -> Subscription:
        """A subscription to the messages published on ``topic`` from now on. Called on the event
        loop it attaches the bus to that loop, if none is attached yet."""
        if self._loop is None:
            loop = _running_loop()
            if loop is not None:
                self.attach(loop)
        subscription = Subscription(self, topic, max_pending)
        with self._lock:
            self._topics.setdefault(topic, set()).add(subscription)
        return subscription

    def subscribers(self, topic: str) -> int:
        with self._lock:
            return len(self._topics.get(topic, ()))

    def close(self) -> None:
        """Ends every subscription (the server is stopping): their iterators finish."""
        with self._lock:
            subscriptions = [s for subs in self._topics.values() for s in subs]
        for subscription in subscriptions:
            subscription.close()

    def _deliver(self, topic: str, message: object) -> None:
        with self._lock:
            subscriptions = tuple(self._topics.get(topic, ()))
        for subscription in subscriptions:
            subscription._push(message)

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            subs = self._topics.get(subscription.topic)
            if subs is not None:
                subs.discard(subscription)
                if not subs:
                    del self._topics[subscription.topic]
