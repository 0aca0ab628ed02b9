"""Concurrent writers through every append path: every acknowledged point or log line is stored
exactly once, whatever the interleaving, on SQLite and PostgreSQL, and on two server processes
sharing one PostgreSQL database.

Each writer sends small writes carrying values no other write carries, all writers starting at
once; afterwards the stored values are compared with the acknowledged ones (count and distinct
values), and retention, where set, keeps exactly what it should.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.concurrency.helpers import (
    ADMIN,
    LINES,
    LOG_KEEP,
    WRITERS,
    WRITES,
    Machine,
    Servers,
    assert_exactly_once,
    hammer,
    new_dataport,
    ok,
    rpc_ok,
    stored,
)

# --- dataport points -----------------------------------------------------------------------------


def test_native_point_writes_are_all_stored(servers: Servers, machine: Machine) -> None:
    new_dataport(servers, machine, "temp")
    path = f"/api/v1/machines/{machine.id}/dataports/temp/points"

    def write(http: httpx.Client, _writer: int, n: int) -> bool:
        reply = http.post(path, json={"points": [{"value": float(n)}]}, headers=ADMIN)
        return reply.status_code == 200 and reply.json()["written"] == 1

    acknowledged = hammer(servers, write)
    assert len(acknowledged) == WRITERS * WRITES
    assert_exactly_once([v for _, v in stored(servers, machine, "temp")], [float(n) for n in acknowledged])
    servers.check_logs()


def test_native_batches_with_timestamps_are_all_stored(servers: Servers, machine: Machine) -> None:
    """Ten-point batches whose timestamps interleave with other writers' (late points start blocks
    of their own; the others append to the newest block)."""
    new_dataport(servers, machine, "count", "integer")
    path = f"/api/v1/machines/{machine.id}/dataports/count/points"

    def write(http: httpx.Client, writer: int, n: int) -> bool:
        step = n - writer * 1000
        points = [
            {"timestamp": 1_000_000 + step * 100 + k * 10 + writer, "value": n * 10 + k} for k in range(10)
        ]
        reply = http.post(path, json={"points": points}, headers=ADMIN)
        return reply.status_code == 200 and reply.json()["written"] == 10

    acknowledged = hammer(servers, write)
    expected = [n * 10 + k for n in acknowledged for k in range(10)]
    assert_exactly_once([v for _, v in stored(servers, machine, "count")], expected)
    servers.check_logs()


def test_retention_keeps_the_newest_under_concurrent_writes(servers: Servers, machine: Machine) -> None:
    keep = 50
    new_dataport(servers, machine, "kept", "integer", retention_count=keep)
    path = f"/api/v1/machines/{machine.id}/dataports/kept/points"

    def write(http: httpx.Client, writer: int, n: int) -> bool:
        step = n - writer * 1000
        points = [{"timestamp": 1_000_000 + step * WRITERS + writer, "value": n}]
        reply = http.post(path, json={"points": points}, headers=ADMIN)
        return reply.status_code == 200 and reply.json()["written"] == 1

    acknowledged = hammer(servers, write)
    assert len(acknowledged) == WRITERS * WRITES
    kept = stored(servers, machine, "kept")
    newest = sorted(acknowledged, key=lambda n: (n - (n // 1000) * 1000) * WRITERS + n // 1000)[-keep:]
    assert_exactly_once([v for _, v in kept], newest)
    servers.check_logs()


def test_one_platform_write_record_recordbatch_writegroup(servers: Servers, machine: Machine) -> None:
    """Four writers per procedure, all at once, each procedure on its own dataports."""
    for alias in ("w", "r", "rb", "g1", "g2"):
        new_dataport(servers, machine, alias)
    cik = machine.cik

    def write(http: httpx.Client, writer: int, n: int) -> bool:
        kind = writer % 4
        if kind == 0:
            return rpc_ok(http, cik, ("write", [{"alias": "w"}, float(n)]))
        if kind == 1:
            return rpc_ok(http, cik, ("record", [{"alias": "r"}, [[1_000_000 + n, float(n)]], {}]))
        if kind == 2:
            points = [[2_000_000 + n * 2, float(n)], [2_000_000 + n * 2 + 1, float(n) + 0.5]]
            return rpc_ok(http, cik, ("recordbatch", [{"alias": "rb"}, points]))
        return rpc_ok(
            http, cik, ("writegroup", [[[{"alias": "g1"}, float(n)], [{"alias": "g2"}, float(-n)]]])
        )

    acknowledged = hammer(servers, write)
    assert len(acknowledged) == WRITERS * WRITES
    by_kind: dict[int, list[int]] = {k: [n for n in acknowledged if (n // 1000) % 4 == k] for k in range(4)}
    values = {
        alias: [v for _, v in stored(servers, machine, alias)] for alias in ("w", "r", "rb", "g1", "g2")
    }
    assert_exactly_once(values["w"], [float(n) for n in by_kind[0]])
    assert_exactly_once(values["r"], [float(n) for n in by_kind[1]])
    assert_exactly_once(values["rb"], [float(n) + half for n in by_kind[2] for half in (0, 0.5)])
    assert_exactly_once(values["g1"], [float(n) for n in by_kind[3]])
    assert_exactly_once(values["g2"], [float(-n) for n in by_kind[3]])
    servers.check_logs()


def test_a_refused_batch_stores_nothing_of_itself(servers: Servers, machine: Machine) -> None:
    """``record`` is all or none: under concurrency a batch with a bad point leaves no trace,
    while its good neighbours are stored whole."""
    new_dataport(servers, machine, "strict")
    cik = machine.cik

    def write(http: httpx.Client, writer: int, n: int) -> bool:
        points: list[list[Any]] = [[1_000_000 + n * 3 + k, float(n * 3 + k)] for k in range(3)]
        if writer % 2:
            points[2][1] = "not a number"
        return rpc_ok(http, cik, ("record", [{"alias": "strict"}, points, {}]))

    acknowledged = hammer(servers, write)
    assert len(acknowledged) == WRITERS // 2 * WRITES
    assert all((n // 1000) % 2 == 0 for n in acknowledged)
    expected = [float(n * 3 + k) for n in acknowledged for k in range(3)]
    assert_exactly_once([v for _, v in stored(servers, machine, "strict")], expected)


# --- part logs -----------------------------------------------------------------------------------


def test_part_log_appends_are_all_stored_and_trimmed(servers: Servers, machine: Machine) -> None:
    """Appends of a few lines each; the servers keep the newest LOG_KEEP lines of a part and trim
    after every append, so the trims of the writers (and of two servers) overlap."""
    path = f"/api/v1/parts/{machine.part}/logs"

    def write(http: httpx.Client, _writer: int, n: int) -> bool:
        at = datetime.now(UTC)
        entries = [
            # lines past the retention age, in an order other than their arrival, and recent ones
            {
                "time": (at - timedelta(hours=2, seconds=n % 97 + k) if k % 2 else at).isoformat(),
                "level": "info",
                "message": f"{n}-{k}",
            }
            for k in range(LINES)
        ]
        reply = http.post(path, json={"entries": entries}, headers=ADMIN)
        return reply.status_code == 200 and reply.json()["count"] == LINES

    acknowledged = hammer(servers, write)
    assert len(acknowledged) == WRITERS * WRITES
    with servers.client() as http:
        page = ok(http.get(path, params={"limit": 500, "order": "asc"}, headers=ADMIN))
    messages = [e["message"] for e in page["items"]]
    print(f"log lines acknowledged {LINES * len(acknowledged)}, kept {len(messages)}")
    assert len(messages) == len(set(messages))
    assert set(messages) <= {f"{n}-{k}" for n in acknowledged for k in range(0, LINES, 2)}
    # each append trims once it is stored: the last trim sees every append
    assert len(messages) == LOG_KEEP
    # the lines of one append stay together, in order, and each writer's appends in its order
    for writer in range(WRITERS):
        mine = [m for m in messages if int(m.split("-")[0]) // 1000 == writer]
        assert mine == sorted(mine, key=lambda m: tuple(int(x) for x in m.split("-")))
    servers.check_logs()
