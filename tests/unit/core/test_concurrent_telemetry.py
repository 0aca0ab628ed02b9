"""Telemetry read-modify-writes from many threads at once, in the core (SQLite and PostgreSQL):
tag lists, points that flow on to subscribers, group writes that name their dataports in opposite
orders, and retention sweeps running beside writers. Nothing is lost, nothing deadlocks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from fleetport.core.credentials import ClientCik
from fleetport.core.fleet import Fleet
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import NewResource

THREADS = 8


def _root(fleet: Fleet, admin: Principal) -> Principal:
    org = fleet.organizations.create(admin, "Acme")
    key = fleet.telemetry.clients.root_client(admin, org.id)
    assert key.cik is not None
    return fleet.identity.authenticate(ClientCik(key.cik))


def _at_once(work: Callable[[int], None], threads: int = THREADS) -> None:
    """Runs ``work(thread)`` on every thread, all starting together; re-raises the first failure."""
    start = threading.Barrier(threads)

    def run(thread: int) -> None:
        start.wait()
        work(thread)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(run, i) for i in range(threads)]:
            future.result()


def _values(fleet: Fleet, p: Principal, rid: str) -> list[float]:
    return sorted(float(v) for _, v in fleet.telemetry.points.read(p, rid, start=0, end=2**40, limit=100_000))


def test_concurrent_tags_are_all_kept(fleet: Fleet, admin: Principal) -> None:
    root = _root(fleet, admin)
    rid = fleet.telemetry.resources.create(root, NewResource(type="dataport", format="float"))
    _at_once(lambda i: [fleet.telemetry.resources.tag(root, rid, "add", f"t{i}-{k}") for k in range(5)])
    tags = fleet.telemetry.inventory.info(root, rid).resource.tags
    assert sorted(tags) == sorted(f"t{i}-{k}" for i in range(THREADS) for k in range(5))


def test_points_flow_on_to_subscribers_under_concurrency(fleet: Fleet, admin: Principal) -> None:
    """Writers of a dataport whose points flow into another; group writes naming two dataports in
    opposite orders (their locks are taken in one order whatever the call's)."""
    root = _root(fleet, admin)
    source = fleet.telemetry.resources.create(root, NewResource(type="dataport", format="float"))
    copy = fleet.telemetry.resources.create(
        root, NewResource(type="dataport", format="float", subscribe=source)
    )
    other = fleet.telemetry.resources.create(root, NewResource(type="dataport", format="float"))

    def write(thread: int) -> None:
        for k in range(20):
            value = float(thread * 1000 + k)
            if k % 2:
                fleet.telemetry.points.write(root, source, value)
            elif thread % 2:
                fleet.telemetry.points.writegroup(root, [(source, value), (other, -value)])
            else:
                fleet.telemetry.points.writegroup(root, [(other, -value), (source, value)])

    _at_once(write)
    written = sorted(float(t * 1000 + k) for t in range(THREADS) for k in range(20))
    assert _values(fleet, root, source) == written
    assert _values(fleet, root, copy) == written
    assert _values(fleet, root, other) == sorted(-v for v in written if int(v) % 2 == 0)


def test_retention_sweeps_beside_writers(fleet: Fleet, admin: Principal) -> None:
    """Sweeps run while writers record historical points into a dataport with a retention count:
    afterwards exactly the newest points are kept."""
    keep = 30
    root = _root(fleet, admin)
    rid = fleet.telemetry.resources.create(
        root, NewResource(type="dataport", format="float", retention_count=keep)
    )

    def work(thread: int) -> None:
        for k in range(25):
            if thread == 0:
                fleet.telemetry.points.sweep()
            else:
                stamp = 1_000_000 + k * THREADS + thread
                fleet.telemetry.points.record(root, rid, [[stamp, float(stamp)]])

    _at_once(work)
    fleet.telemetry.points.sweep()
    stamps = sorted(1_000_000 + k * THREADS + t for t in range(1, THREADS) for k in range(25))
    assert _values(fleet, root, rid) == [float(s) for s in stamps[-keep:]]
