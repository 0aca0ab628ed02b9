"""The bus shared by every server process through Redis pub/sub.

A message reaches the subscribers of its own process at once, as on the in-process bus, and goes
to Redis on channel ``prefix + topic`` in its wire form (``wire``). Each process listens to every
channel under the prefix (one pattern subscription, so a subscription made here is live the moment
it is made) and hands what other processes published to its own subscribers; it skips its own
messages by their origin and leaves undecoded the messages of topics nobody here follows.

``publish`` never waits on Redis: messages queue (at most ``MAX_OUTGOING``) for one sender task on
the event loop, which pipelines them in publish order. Redis unreachable at start stops the server
with a one-line error; a connection lost later is logged, retried with backoff, and never ends a
stream here: events published meanwhile do not reach the other processes, and each process drops
its credential cache when it reconnects (it may have missed a credential change).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from fleetport.bus import wire
from fleetport.bus.local import RECONNECTED, Bus, BusUnavailable, running_loop

log = logging.getLogger("fleetport.bus")

MAX_OUTGOING = 10_000  # messages waiting for Redis before new ones are dropped
PIPELINE = 500  # messages sent to Redis in one round trip at most
CONNECT_TIMEOUT = 3.0  # seconds
RETRY_MIN, RETRY_MAX = 0.2, 5.0  # seconds between reconnection attempts


class RedisBus(Bus):
    def __init__(self, url: str, prefix: str = "fleetport:") -> None:
        super().__init__()
        self.url = url
        self.prefix = prefix
        self.origin = secrets.token_hex(wire.ORIGIN_BYTES // 2).encode()
        self._redis: aioredis.Redis | None = None
        self._outgoing: asyncio.Queue[tuple[str, bytes]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dropped = 0
        self.connected = asyncio.Event()

    @property
    def client_name(self) -> str:
        """How this bus's connections are named on the Redis server (``CLIENT LIST``)."""
        return f"fleetport-bus-{self.origin.decode()}"

    @property
    def redacted_url(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}" if rest else self.url

    async def start(self) -> None:
        await super().start()
        try:
            redis = aioredis.Redis.from_url(
                self.url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                health_check_interval=15,
                client_name=self.client_name,
            )
        except ValueError as exc:  # not a Redis URL
            raise BusUnavailable(f"FLEETPORT_REDIS_URL is not a Redis URL: {_reason(exc)}") from None
        try:
            await redis.ping()
        except (RedisError, OSError, ValueError) as exc:
            await redis.aclose()
            raise BusUnavailable(
                f"cannot reach Redis at {self.redacted_url} (FLEETPORT_REDIS_URL): {_reason(exc)}"
            ) from None
        self._redis = redis
        self._outgoing = asyncio.Queue()
        listening = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(listening), name="bus-listen"),
            asyncio.create_task(self._send(), name="bus-send"),
        ]
        try:
            await asyncio.wait_for(listening.wait(), CONNECT_TIMEOUT * 2)
        except TimeoutError:
            await self.stop()
            raise BusUnavailable(
                f"cannot subscribe on Redis at {self.redacted_url} (FLEETPORT_REDIS_URL)"
            ) from None
        log.info("live events shared through Redis at %s as %s", self.redacted_url, self.client_name)

    async def stop(self) -> None:
        self.close()
        self._outgoing = None  # from now on, messages stay in this process
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def shared(self) -> bool:
        return self._outgoing is not None

    def wanted(self, topic: str) -> bool:
        return self._outgoing is not None or super().wanted(topic)

    def publish(self, topic: str, message: object) -> None:
        loop = self._loop
        if loop is None:
            return
        if super().wanted(topic):
            self._hand_over(loop, topic, message)
        if self._outgoing is None:
            return
        codec = self._codecs.get(wire.family(topic))
        if codec is None:
            log.error("no wire form is defined for %r: not sent to the other processes", topic)
            return
        try:
            data = wire.pack(self.origin, codec, message)
        except (TypeError, ValueError):
            log.exception("an event on %s cannot be encoded: not sent to the other processes", topic)
            return
        if running_loop() is loop:
            self._enqueue(self.prefix + topic, data)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is stopping
                loop.call_soon_threadsafe(self._enqueue, self.prefix + topic, data)

    # --- on the event loop ------------------------------------------------------------------------

    def _enqueue(self, channel: str, data: bytes) -> None:
        queue = self._outgoing
        if queue is None:
            return
        if queue.qsize() >= MAX_OUTGOING:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.warning("%d live events not sent to Redis: too many wait for it", self._dropped)
            return
        queue.put_nowait((channel, data))

    async def _send(self) -> None:
        assert self._outgoing is not None and self._redis is not None
        queue, redis = self._outgoing, self._redis
        failing = False
        while True:
            batch = [await queue.get()]
            while len(batch) < PIPELINE and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                async with redis.pipeline(transaction=False) as pipe:
                    for channel, data in batch:
                        pipe.publish(channel, data)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                if not failing:
                    log.warning(
                        "Redis unreachable: live events of this process do not reach the others (%s)",
                        _reason(exc),
                    )
                failing = True
                await asyncio.sleep(RETRY_MIN)
                continue
            if failing:
                log.info("Redis reachable again: live events reach the other processes")
                failing = False
            self._dropped = 0

    async def _listen(self, listening: asyncio.Event) -> None:
        assert self._redis is not None
        delay = RETRY_MIN
        lost = False
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.prefix + "*")
                self.connected.set()
                listening.set()
                if lost:
                    log.info("Redis reachable again: hearing the other processes' live events")
                    self._deliver(RECONNECTED, None)
                    lost = False
                delay = RETRY_MIN
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is not None:
                        self._receive(message)
            except (RedisError, OSError) as exc:
                self.connected.clear()
                if not lost:
                    log.warning(
                        "lost Redis: not hearing the other processes' live events until it is back (%s)",
                        _reason(exc),
                    )
                lost = True
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _receive(self, message: dict[str, Any]) -> None:
        channel, data = message.get("channel"), message.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        if wire.origin_of(data) == self.origin:
            return  # ours: delivered here when it was published
        topic = channel[len(self.prefix) :].decode("utf-8", "replace")
        if not super().wanted(topic):
            return
        codec = self._codecs.get(wire.family(topic))
        if codec is None:
            log.warning("dropped an event on %s: no wire form is defined for it", topic)
            return
        try:
            event = wire.unpack(codec, data)
        except wire.Undecodable as exc:
            log.warning("dropped an event on %s that does not decode: %s", topic, exc)
            return
        self._deliver(topic, event)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
