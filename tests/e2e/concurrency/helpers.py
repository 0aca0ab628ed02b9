"""Servers on one database for the concurrency tests, writers that start together, and the
requests they make."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ADMIN_KEY, RunningServer, fresh_pg_database, start_server, stop_server

WRITERS = 8
WRITES = 20  # per writer
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
RPC = "/onep:v1/rpc/process"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
LOG_KEEP = 8  # the servers' part log retention (count): trimming runs on every append
LINES = 6  # log lines per append
SERVER_ENV = {"FLEETPORT_LOG_RETENTION_COUNT": str(LOG_KEEP), "FLEETPORT_LOG_RETENTION_SECONDS": "3600"}

# A write: (client, writer, number) -> True when the server acknowledged it.
Write = Callable[[httpx.Client, int, int], bool]


@dataclass
class Servers:
    """One or more servers on one database; writers spread over them."""

    urls: list[str]
    logs: list[Path]
    marks: list[int] = field(default_factory=list)  # where each log stood when the test began

    def client(self, index: int = 0) -> httpx.Client:
        return httpx.Client(base_url=self.urls[index % len(self.urls)], timeout=60)

    def mark(self) -> None:
        """Remembers where the logs stand: ``check_logs`` reads what comes after."""
        self.marks = [log.stat().st_size for log in self.logs]

    def check_logs(self) -> None:
        """No server logged a deadlock or an error since ``mark``."""
        for log, mark in zip(self.logs, self.marks or [0] * len(self.logs), strict=True):
            with log.open("rb") as file:
                file.seek(mark)
                lines = file.read().decode(errors="replace").splitlines()
            bad = [line for line in lines if "deadlock" in line.lower() or line.startswith("Traceback")]
            assert not bad, "\n".join(bad[:10])


@contextlib.contextmanager
def running_servers(database: str, tmp: Path, count: int) -> Iterator[Servers]:
    with contextlib.ExitStack() as stack:
        env = dict(SERVER_ENV)
        if database == "postgres":
            env["FLEETPORT_DATABASE_URL"] = stack.enter_context(fresh_pg_database())
        running: list[RunningServer] = []
        for index in range(count):  # one after the other: each runs the migrations on start
            server = start_server(tmp / f"server{index}", env=env)
            stack.callback(stop_server, server)
            running.append(server)
        yield Servers([s.url for s in running], [s.log for s in running])


def hammer(servers: Servers, write: Write, *, writers: int = WRITERS, writes: int = WRITES) -> list[int]:
    """Runs ``writers`` threads at once (spread over the servers), each making ``writes`` writes
    numbered ``writer * 1000 + i``; the numbers the server acknowledged."""
    start = threading.Barrier(writers)

    def run(writer: int) -> list[int]:
        with servers.client(writer) as http:
            start.wait()
            return [n for n in range(writer * 1000, writer * 1000 + writes) if write(http, writer, n)]

    with ThreadPoolExecutor(writers) as pool:
        return sorted(itertools.chain.from_iterable(pool.map(run, range(writers))))


def ok(reply: httpx.Response, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


@dataclass
class Machine:
    id: str
    part: str
    cik: str  # the key of its device client


def new_machine(servers: Servers, *, device_client: bool = True) -> Machine:
    with servers.client() as http:
        org = ok(http.post("/api/v1/organizations", json={"name": "Acme"}, headers=ADMIN), 201)
        body = {"organization_id": org["id"], "name": "Yard"}
        location = ok(http.post("/api/v1/locations", json=body, headers=ADMIN), 201)
        body = {"location_id": location["id"], "name": "rover"}
        machine = ok(http.post("/api/v1/machines", json=body, headers=ADMIN), 201)
        parts = ok(http.get(f"/api/v1/machines/{machine['id']}/parts", headers=ADMIN))["items"]
        if not device_client:
            return Machine(machine["id"], parts[0]["id"], "")
        client = ok(http.get(f"/api/v1/machines/{machine['id']}/telemetry/device-client", headers=ADMIN))
        return Machine(machine["id"], parts[0]["id"], client["cik"])


def new_dataport(servers: Servers, machine: Machine, alias: str, fmt: str = "float", **extra: Any) -> None:
    with servers.client() as http:
        body = {"alias": alias, "format": fmt, **extra}
        ok(http.post(f"/api/v1/machines/{machine.id}/dataports", json=body, headers=ADMIN), 201)


def stored(servers: Servers, machine: Machine, alias: str) -> list[tuple[int, Any]]:
    with servers.client() as http:
        params = {"start": 0, "end": 2**62, "limit": 100_000, "order": "asc"}
        path = f"/api/v1/machines/{machine.id}/dataports/{alias}/points"
        return [(p["timestamp"], p["value"]) for p in ok(http.get(path, params=params, headers=ADMIN))]


def rpc(http: httpx.Client, cik: str, *calls: tuple[str, list[Any]]) -> list[dict[str, Any]]:
    body = {
        "auth": {"cik": cik},
        "calls": [{"id": i, "procedure": p, "arguments": a} for i, (p, a) in enumerate(calls)],
    }
    reply = http.post(RPC, json=body)
    if reply.status_code != 200:
        return []
    answer = reply.json()
    return answer if isinstance(answer, list) else []


def rpc_ok(http: httpx.Client, cik: str, *calls: tuple[str, list[Any]]) -> bool:
    replies = rpc(http, cik, *calls)
    return len(replies) == len(calls) and all(r.get("status") == "ok" for r in replies)


def assert_exactly_once(stored_values: list[Any], acknowledged: list[Any]) -> None:
    """Every acknowledged value is stored once, and nothing else is."""
    print(f"acknowledged {len(acknowledged)}, stored {len(stored_values)}")
    assert len(stored_values) == len(set(stored_values)), "a value is stored twice"
    assert sorted(stored_values) == sorted(acknowledged)
