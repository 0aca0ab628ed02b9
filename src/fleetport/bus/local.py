"""The in-process bus: subscriptions, watchers and delivery on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from fleetport.bus.wire import Codec
from fleetport.core.errors import CoreError

log = logging.getLogger("fleetport.bus")


class SubscriberTooSlow(CoreError):
    """The subscriber fell more than ``max_pending`` messages behind and was closed."""

    code = "subscriber_too_slow"


class BusUnavailable(RuntimeError):
    """The link between server processes (Redis) cannot be made when the server starts."""


def running_loop() -> asyncio.AbstractEventLoop | None:
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
        if running_loop() is loop:
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


Watcher = Callable[[Any], None]
RECONNECTED = "bus:reconnected"  # local only: the link to the other processes came back after a loss


class Bus:
    """Topics are plain strings (``part-logs:<part id>``); a message is any immutable value. This
    implementation delivers within the process; ``RedisBus`` carries messages between processes too."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._topics: dict[str, set[Subscription]] = {}
        self._watchers: dict[str, list[Watcher]] = {}
        self._codecs: dict[str, Codec] = {}
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    @property
    def shared(self) -> bool:
        """Whether messages reach other server processes too (never, in process)."""
        return False

    @property
    def codecs(self) -> dict[str, Codec]:
        """The wire form of each topic family defined so far."""
        return dict(self._codecs)

    def define(self, codec: Codec) -> None:
        """Declares how the events of a topic family travel between processes (see ``wire``).
        Every service that publishes defines its families when it is made."""
        self._codecs[codec.family] = codec

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Delivers messages on this loop from now on."""
        self._loop = loop

    async def start(self) -> None:
        """Called by the server on its event loop before it serves: delivers on that loop."""
        self.attach(asyncio.get_running_loop())

    async def stop(self) -> None:
        """Called by the server once it stopped serving."""
        self.close()

    def wanted(self, topic: str) -> bool:
        """Whether a message published on ``topic`` may reach anyone: publishers skip building
        messages nobody hears."""
        return topic in self._topics or topic in self._watchers

    def publish(self, topic: str, message: object) -> None:
        """Hands the message to the topic's subscribers; returns at once, from any thread. Without
        an event loop attached (the core used on its own) there is nobody to tell: it does nothing."""
        loop = self._loop
        if loop is None or not self.wanted(topic):
            return
        self._hand_over(loop, topic, message)

    def _hand_over(self, loop: asyncio.AbstractEventLoop, topic: str, message: object) -> None:
        if running_loop() is loop:
            self._deliver(topic, message)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is stopping
            loop.call_soon_threadsafe(self._deliver, topic, message)

    def subscribe(self, topic: str, *, max_pending: int = 1000) -> Subscription:
        """A subscription to the messages published on ``topic`` from now on. Called on the event
        loop it attaches the bus to that loop, if none is attached yet."""
        if self._loop is None:
            loop = running_loop()
            if loop is not None:
                self.attach(loop)
        subscription = Subscription(self, topic, max_pending)
        with self._lock:
            self._topics.setdefault(topic, set()).add(subscription)
        return subscription

    def watch(self, topic: str, watcher: Watcher) -> None:
        """Calls ``watcher(message)`` on the event loop for every message published on ``topic``,
        for as long as the bus lives. A watcher must return quickly and not raise."""
        with self._lock:
            self._watchers.setdefault(topic, []).append(watcher)

    def when_reconnected(self, watcher: Watcher) -> None:
        """Calls ``watcher(None)`` each time the link to the other processes comes back after a
        loss, during which their events were missed (never, in process)."""
        self.watch(RECONNECTED, watcher)

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
            watchers = tuple(self._watchers.get(topic, ()))
        for subscription in subscriptions:
            subscription._push(message)
        for watcher in watchers:
            try:
                watcher(message)
            except Exception:  # a watcher's fault stays its own: delivery goes on
                log.exception("watcher of %s failed", topic)

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            subs = self._topics.get(subscription.topic)
            if subs is not None:
                subs.discard(subscription)
                if not subs:
                    del self._topics[subscription.topic]
