"""Background duties: work the server does on its own every so often (part log retention, the
datarule clock, dataport retention), each run by one server process at a time.

Several server processes may share one database. Each duty runs only on the process holding its
lease in the database (``store.leases``): the holder renews it when half of it is left, the others
look every ``check_every`` seconds whether it expired and take it over if so. A process that dies
stops renewing, and another takes its duties over within ``lease_seconds`` plus ``check_every``; a
process that stops gives its leases up, and another takes over at its next look. A run longer than
the lease may meet a run on the process that took the lease over: duties are written to tolerate
that (retention deletes what is due, the datarule clock locks the rules it fires).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetport.core.calls import run_core
from fleetport.store import leases

if TYPE_CHECKING:
    from fleetport.core.fleet import Fleet

log = logging.getLogger("fleetport.duties")

LOG_RETENTION_EVERY = 60.0  # seconds between part log retention sweeps
DATARULE_CLOCK_EVERY = 1.0  # how often datarule timeouts are checked
DATAPORT_RETENTION_EVERY = 60.0  # how often dataport retention is enforced on points no write trims


@dataclass(frozen=True)
class Duty:
    """``work`` runs every ``every`` seconds (the first time one interval after the duty was taken
    up); ``long`` work runs on the thread pool even on SQLite."""

    name: str
    every: float
    work: Callable[[], object]
    long: bool = False


def server_duties(fleet: Fleet) -> list[Duty]:
    return [
        Duty("part-log-retention", LOG_RETENTION_EVERY, fleet.logs.sweep, long=True),
        Duty("datarule-clock", DATARULE_CLOCK_EVERY, fleet.telemetry.points.fire_due),
        Duty("dataport-retention", DATAPORT_RETENTION_EVERY, fleet.telemetry.points.sweep, long=True),
        # launch timeouts, expiries, teardowns never confirmed, reservations of freed deployments,
        # and CI jobs (time limits, the queue)
        Duty("remote-instances", fleet.settings.remote.sweep_every_seconds, fleet.remote.sweep),
    ]


def process_name() -> str:
    """Names this process among those sharing the database: host, process id and a random part
    (a process id comes back after a restart)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


class Duties:
    """Runs ``duties`` on this process while it holds their leases (``await run()`` until cancelled)."""

    def __init__(
        self,
        fleet: Fleet,
        duties: Sequence[Duty],
        *,
        lease_seconds: float = 5.0,
        check_every: float | None = None,
        holder: str | None = None,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.fleet = fleet
        self.duties = list(duties)
        self.lease_seconds = lease_seconds
        self.check_every = check_every if check_every is not None else min(1.0, lease_seconds / 5)
        self.holder = holder or process_name()
        self._held_until: dict[str, float] = {}  # duty -> when its lease ends, by time.time()
        self._unreachable: set[str] = set()  # duties whose lease the database did not answer for

    @property
    def held(self) -> set[str]:
        """The duties whose lease this process holds now."""
        now = time.time()
        return {name for name, until in self._held_until.items() if until > now}

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._keep(duty), name=f"duty-{duty.name}") for duty in self.duties]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._release_all()

    async def _keep(self, duty: Duty) -> None:
        loop = asyncio.get_running_loop()
        next_run = loop.time() + duty.every
        while True:
            if await self._hold(duty.name):
                if loop.time() >= next_run:
                    try:
                        await run_core(self.fleet, duty.work, long=duty.long)
                    except Exception:  # retried at the next run; the server goes on
                        log.exception("duty %s failed", duty.name)
                    next_run = loop.time() + duty.every
                pause = min(next_run - loop.time(), self.lease_seconds / 4)
            else:
                next_run = loop.time() + duty.every
                pause = self.check_every
            await asyncio.sleep(max(pause, 0.0))

    async def _hold(self, name: str) -> bool:
        """Whether this process holds the lease of ``name``, renewing or taking it when due."""
        before = self._held_until.get(name, 0.0)
        if before - time.time() > self.lease_seconds / 2:
            return True
        try:
            until = await run_core(self.fleet, lambda: self._take(name, holding=before > time.time()))
        except Exception as exc:  # the database is unreachable: run nothing until it is back
            if name not in self._unreachable:  # said once, not at every look
                log.warning("duty %s: its lease cannot be read or renewed (%s)", name, exc)
                self._unreachable.add(name)
            until = None
        else:
            self._unreachable.discard(name)
        if until is None:
            self._held_until.pop(name, None)
            if before > time.time():
                log.warning("duty %s: lease lost; another process runs it", name)
            return False
        self._held_until[name] = until
        if before <= time.time():
            log.info("duty %s: runs on this process (%s)", name, self.holder)
        return True

    def _take(self, name: str, *, holding: bool) -> float | None:
        """Renews or takes the lease; when it ends (by ``time.time()``), or None if another holds it."""
        started = time.time()
        now = int(started * 1000)
        store = self.fleet.store
        if not holding:  # a look first, so that the processes not holding it write nothing
            with store.read() as conn:
                current = leases.holder(conn, name)
            if current is not None and current[0] != self.holder and current[1] > now:
                return None
        with store.write() as conn:
            taken = leases.take(conn, name, self.holder, now, now + int(self.lease_seconds * 1000))
        return started + self.lease_seconds if taken else None

    async def _release_all(self) -> None:
        names = list(self._held_until)
        self._held_until.clear()
        if not names:
            return

        def release() -> None:
            with self.fleet.store.write() as conn:
                for name in names:
                    leases.release(conn, name, self.holder)

        try:
            await run_core(self.fleet, release)
        except Exception as exc:  # the leases then expire on their own
            log.warning("duty leases not given up (%s): they expire in %.0f s", exc, self.lease_seconds)
