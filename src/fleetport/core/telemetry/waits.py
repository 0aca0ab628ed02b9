"""A One Platform ``wait``: a long poll for the next point of a series, on the bus.

``Points.wait`` checks the caller, subscribes to the resource's topic and reads the newest point
stored after ``since``, in that order, so that no point slips between; it returns a ``PointWait``.
``wait_for_point`` runs the whole wait for a request: the check and subscription as core work, then
the waiting on the event loop without holding a thread, then a second check of the caller's
credential before the point is handed over. With the Redis bus a write on another server process
answers the wait as well."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fleetport.bus import SubscriberTooSlow, Subscription
from fleetport.core.calls import run_core
from fleetport.core.permissions import Principal
from fleetport.core.telemetry.model import Ref, Value

if TYPE_CHECKING:
    from fleetport.core.fleet import Fleet

WAIT_MAX_PENDING = 64  # points a wait may fall behind before it gives up (answering none)

Point = tuple[int, Value]


class PointWait:
    """The point a wait answers with: ``await point()`` gives the point found when the wait
    started, else the first one published with a timestamp of at least ``earliest``, or None when
    the time is up (or the server stops, or the wait fell behind). ``close()`` lets go of the
    subscription."""

    def __init__(
        self, subscription: Subscription, found: Point | None, earliest: int, seconds: float
    ) -> None:
        self._subscription = subscription
        self.found = found
        self.earliest = earliest
        self.seconds = seconds
        # checks that the caller still may wait on the resource; raises a CoreError when it may not
        self.recheck: Callable[[], Awaitable[object]] | None = None

    async def point(self) -> Point | None:
        if self.found is not None:
            return self.found
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                published = await asyncio.wait_for(self._subscription.__anext__(), remaining)
            except (TimeoutError, StopAsyncIteration, SubscriberTooSlow):
                return None  # the time is up, the server is stopping, or the wait fell behind
            if published[0] >= self.earliest:
                if self.recheck is not None:
                    await self.recheck()
                return (int(published[0]), published[1])

    def close(self) -> None:
        self._subscription.close()


async def wait_for_point(
    fleet: Fleet,
    p: Principal,
    ref: Ref,
    since: int | None,
    timeout_ms: float | None,
    *,
    reauthenticate: Callable[[], Principal],
) -> Point | None:
    """The newest point of ``ref`` after ``since`` (None: after the call arrived), or None once
    ``timeout_ms`` passed. A point that arrives while waiting is handed over only if
    ``reauthenticate()`` (the caller's credential, authenticated again) still reaches the resource:
    a revoked key or token, or a resource moved out of reach, ends the wait with the CoreError
    that says why."""
    points = fleet.telemetry.points
    waiting = await run_core(fleet, lambda: points.wait(p, ref, since, timeout_ms))
    waiting.recheck = lambda: run_core(fleet, lambda: points.check_wait(reauthenticate(), ref))
    try:
        return await waiting.point()
    finally:
        waiting.close()
