"""Background duties under a lease in the database: one holder at a time, taken over once the
holder stops renewing (it died) or gives the lease up (it stopped)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter

import pytest

from fleetport.core.duties import Duties, Duty
from fleetport.core.fleet import Fleet
from fleetport.store import leases
from fleetport.store.tables import duty_leases

LEASE = 1.0  # seconds
CHECK = 0.1


def _duties(fleet: Fleet, holder: str, ran: Counter[str]) -> Duties:
    def work() -> None:
        ran[holder] += 1

    return Duties(fleet, [Duty("count", 0.05, work)], lease_seconds=LEASE, check_every=CHECK, holder=holder)


def _holder(fleet: Fleet, duty: str = "count") -> tuple[str, int] | None:
    with fleet.store.read() as conn:
        return leases.holder(conn, duty)


def test_a_lease_is_taken_renewed_and_given_up_by_one_holder_at_a_time(fleet: Fleet) -> None:
    with fleet.store.write() as conn:
        assert leases.take(conn, "sweep", "a", now=1000, until=2000)
        assert not leases.take(conn, "sweep", "b", now=1500, until=2500)  # a holds it
        assert leases.take(conn, "sweep", "a", now=1500, until=2500)  # renewed
        assert not leases.take(conn, "sweep", "b", now=2499, until=3000)
        assert leases.take(conn, "sweep", "b", now=2500, until=3500)  # expired: taken over
        assert not leases.release(conn, "sweep", "a")  # a no longer holds it
        assert leases.holder(conn, "sweep") == ("b", 3500)
        assert leases.release(conn, "sweep", "b")
        assert leases.holder(conn, "sweep") is None
        assert leases.take(conn, "sweep", "c", now=0, until=1)


def test_processes_racing_for_a_lease_get_it_once(fleet: Fleet) -> None:
    """Sixteen racers, each in its own transaction on its own connection, for a lease nobody held
    and then for the expired lease: exactly one wins each round."""
    for now in (10_000, 20_000):
        start = threading.Barrier(16)
        won: list[str] = []

        def race(who: str, now: int = now, start: threading.Barrier = start, won: list[str] = won) -> None:
            start.wait()
            with fleet.store.write() as conn:
                if leases.take(conn, "race", who, now=now, until=now + 5000):
                    won.append(who)

        threads = [threading.Thread(target=race, args=(f"p{i}",)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1, won
        assert _holder(fleet, "race") == (won[0], now + 5000)


def test_a_duty_runs_on_one_process_and_moves_when_its_holder_stops(fleet: Fleet) -> None:
    ran: Counter[str] = Counter()

    async def scenario() -> None:
        a, b = _duties(fleet, "a", ran), _duties(fleet, "b", ran)
        running_a = asyncio.create_task(a.run())
        await asyncio.sleep(0.3)  # a takes the free lease first
        running_b = asyncio.create_task(b.run())
        await asyncio.sleep(1.5)  # longer than the lease: a renews it, b never gets it
        assert ran["a"] >= 10 and ran["b"] == 0
        assert a.held == {"count"} and b.held == set()
        assert _holder(fleet) is not None and _holder(fleet)[0] == "a"  # type: ignore[index]

        running_a.cancel()  # a stops and gives the lease up: b takes over at its next look
        stopped = time.monotonic()
        await asyncio.gather(running_a, return_exceptions=True)
        before = ran["a"]
        while ran["b"] == 0:
            assert time.monotonic() - stopped < CHECK * 5, "b did not take the duty over"
            await asyncio.sleep(0.01)
        assert ran["a"] == before  # a stopped for good
        assert _holder(fleet)[0] == "b"  # type: ignore[index]
        running_b.cancel()
        await asyncio.gather(running_b, return_exceptions=True)
        assert _holder(fleet) is None  # given up

    asyncio.run(scenario())


def test_a_dead_holders_duty_is_taken_over_once_its_lease_expires(fleet: Fleet) -> None:
    """A process that died holds the lease and renews it no more: the duty waits for the lease to
    expire, then runs here."""
    ran: Counter[str] = Counter()
    died_at = time.time()
    with fleet.store.write() as conn:
        assert leases.take(conn, "count", "dead", int(died_at * 1000), int((died_at + LEASE) * 1000))

    async def scenario() -> None:
        alive = _duties(fleet, "alive", ran)
        running = asyncio.create_task(alive.run())
        while ran["alive"] == 0:
            assert time.time() - died_at < LEASE + CHECK * 5, "the duty was not taken over"
            await asyncio.sleep(0.01)
        assert time.time() - died_at >= LEASE  # not before the dead holder's lease expired
        assert _holder(fleet)[0] == "alive"  # type: ignore[index]
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(scenario())


def test_a_failing_duty_is_logged_and_runs_again(fleet: Fleet) -> None:
    calls: list[float] = []

    def flaky() -> None:
        calls.append(time.monotonic())
        raise RuntimeError("database hiccup")

    async def scenario() -> None:
        duties = Duties(fleet, [Duty("flaky", 0.05, flaky)], lease_seconds=LEASE, check_every=CHECK)
        running = asyncio.create_task(duties.run())
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_while_the_lease_cannot_be_read_the_duty_waits_and_says_so_once(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    ran: Counter[str] = Counter()
    duty_leases.drop(fleet.store.engine)  # every look at the lease fails

    async def scenario() -> None:
        duties = _duties(fleet, "here", ran)
        running = asyncio.create_task(duties.run())
        await asyncio.sleep(CHECK * 6)  # several looks
        assert ran["here"] == 0
        duty_leases.create(fleet.store.engine)  # back
        started = time.monotonic()
        while ran["here"] == 0:
            assert time.monotonic() - started < CHECK * 10, "the duty did not start once the lease was back"
            await asyncio.sleep(0.01)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    with caplog.at_level(logging.WARNING, "fleetport.duties"):
        asyncio.run(scenario())
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "duty count: its lease cannot be read or renewed"
    ]
