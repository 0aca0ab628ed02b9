"""Concurrent writers against real servers: every acknowledged point or log line is stored exactly
once, whatever the interleaving, on SQLite and PostgreSQL, and on two server processes sharing
one PostgreSQL database.

Each writer sends small writes carrying values no other write carries, all writers starting at
once; afterwards the stored values are compared with the acknowledged ones (count and distinct
values), and retention, where set, keeps exactly what it should.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

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

    def client(self, index: int = 0) -> httpx.Client:
        return httpx.Client(base_url=self.urls[index % len(self.urls)], timeout=60)

    def check_logs(self) -> None:
        """No server logged a deadlock or an error while the writers ran."""
        for log in self.logs:
            lines = log.read_text(errors="replace").splitlines()
            bad = [line for line in lines if "deadlock" in line.lower() or line.startswith("Traceback")]
            assert not bad, "\n".join(bad[:10])


@contextlib.contextmanager
def _servers(database: str, tmp: Path, count: int) -> Iterator[Servers]:
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


@pytest.fixture(scope="module", params=["sqlite", "postgres", "postgres-two-servers"])
def servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    database, _, two = str(request.param).partition("-")
    with _servers(database, Path(tmp_path_factory.mktemp("concurrent")), 2 if two else 1) as found:
        yield found


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


def _ok(reply: httpx.Response, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


@dataclass
class Machine:
    id: str
    part: str
    cik: str  # the key of its device client


def _machine(servers: Servers, *, device_client: bool = True) -> Machine:
    with servers.client() as http:
        org = _ok(http.post("/api/v1/organizations", json={"name": "Acme"}, headers=ADMIN), 201)
        body = {"organization_id": org["id"], "name": "Yard"}
        location = _ok(http.post("/api/v1/locations", json=body, headers=ADMIN), 201)
        body = {"location_id": location["id"], "name": "rover"}
        machine = _ok(http.post("/api/v1/machines", json=body, headers=ADMIN), 201)
        parts = _ok(http.get(f"/api/v1/machines/{machine['id']}/parts", headers=ADMIN))
        parts = parts["items"] if isinstance(parts, dict) else parts
        if not device_client:
            return Machine(machine["id"], parts[0]["id"], "")
        client = _ok(http.get(f"/api/v1/machines/{machine['id']}/telemetry/device-client", headers=ADMIN))
        return Machine(machine["id"], parts[0]["id"], client["cik"])


@pytest.fixture
def machine(servers: Servers) -> Machine:
    return _machine(servers)


def _dataport(servers: Servers, machine: Machine, alias: str, fmt: str = "float", **extra: Any) -> None:
    with servers.client() as http:
        body = {"alias": alias, "format": fmt, **extra}
        _ok(http.post(f"/api/v1/machines/{machine.id}/dataports", json=body, headers=ADMIN), 201)


def _stored(servers: Servers, machine: Machine, alias: str) -> list[tuple[int, Any]]:
    with servers.client() as http:
        params = {"start": 0, "end": 2**62, "limit": 100_000, "order": "asc"}
        path = f"/api/v1/machines/{machine.id}/dataports/{alias}/points"
        return [(p["timestamp"], p["value"]) for p in _ok(http.get(path, params=params, headers=ADMIN))]


def _rpc(http: httpx.Client, cik: str, *calls: tuple[str, list[Any]]) -> list[dict[str, Any]]:
    body = {
        "auth": {"cik": cik},
        "calls": [{"id": i, "procedure": p, "arguments": a} for i, (p, a) in enumerate(calls)],
    }
    reply = http.post(RPC, json=body)
    if reply.status_code != 200:
        return []
    answer = reply.json()
    return answer if isinstance(answer, list) else []


def _rpc_ok(http: httpx.Client, cik: str, *calls: tuple[str, list[Any]]) -> bool:
    replies = _rpc(http, cik, *calls)
    return len(replies) == len(calls) and all(r.get("status") == "ok" for r in replies)


def assert_exactly_once(stored_values: list[Any], acknowledged: list[Any]) -> None:
    """Every acknowledged value is stored once, and nothing else is."""
    print(f"acknowledged {len(acknowledged)}, stored {len(stored_values)}")
    assert len(stored_values) == len(set(stored_values)), "a value is stored twice"
    assert sorted(stored_values) == sorted(acknowledged)


# --- dataport points -----------------------------------------------------------------------------


def test_native_point_writes_are_all_stored(servers: Servers, machine: Machine) -> None:
    _dataport(servers, machine, "temp")
    path = f"/api/v1/machines/{machine.id}/dataports/temp/points"

    def write(http: httpx.Client, _writer: int, n: int) -> bool:
        reply = http.post(path, json={"points": [{"value": float(n)}]}, headers=ADMIN)
        return reply.status_code == 200 and reply.json()["written"] == 1

    acknowledged = hammer(servers, write)
    assert len(acknowledged) == WRITERS * WRITES
    assert_exactly_once([v for _, v in _stored(servers, machine, "temp")], [float(n) for n in acknowledged])
    servers.check_logs()


def test_native_batches_with_timestamps_are_all_stored(servers: Servers, machine: Machine) -> None:
    """Ten-point batches whose timestamps interleave with other writers' (late points start blocks
    of their own; the others append to the newest block)."""
    _dataport(servers, machine, "count", "integer")
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
    assert_exactly_once([v for _, v in _stored(servers, machine, "count")], expected)
    servers.check_logs()


def test_retention_keeps_the_newest_under_concurrent_writes(servers: Servers, machine: Machine) -> None:
    keep = 50
    _dataport(servers, machine, "kept", "integer", retention_count=keep)
    path = f"/api/v1/machines/{machine.id}/dataports/kept/points"

    def write(http: httpx.Client, writer: int, n: int) -> bool:
        step = n - writer * 1000
        points = [{"timestamp": 1_000_000 + step * WRITERS + writer, "value": n}]
        reply = http.post(path, json={"points": points}, headers=ADMIN)
        return reply.status_code == 200 and reply.json()["written"] == 1

    acknowledged = hammer(servers, write)
    assert len(acknowledged) == WRITERS * WRITES
    stored = _stored(servers, machine, "kept")
    newest = sorted(acknowledged, key=lambda n: (n - (n // 1000) * 1000) * WRITERS + n // 1000)[-keep:]
    assert_exactly_once([v for _, v in stored], newest)
    servers.check_logs()


def test_one_platform_write_record_recordbatch_writegroup(servers: Servers, machine: Machine) -> None:
    """Four writers per procedure, all at once, each procedure on its own dataports."""
    for alias in ("w", "r", "rb", "g1", "g2"):
        _dataport(servers, machine, alias)
    cik = machine.cik

    def write(http: httpx.Client, writer: int, n: int) -> bool:
        kind = writer % 4
        if kind == 0:
            return _rpc_ok(http, cik, ("write", [{"alias": "w"}, float(n)]))
        if kind == 1:
            return _rpc_ok(http, cik, ("record", [{"alias": "r"}, [[1_000_000 + n, float(n)]], {}]))
        if kind == 2:
            points = [[2_000_000 + n * 2, float(n)], [2_000_000 + n * 2 + 1, float(n) + 0.5]]
            return _rpc_ok(http, cik, ("recordbatch", [{"alias": "rb"}, points]))
        return _rpc_ok(
            http, cik, ("writegroup", [[[{"alias": "g1"}, float(n)], [{"alias": "g2"}, float(-n)]]])
        )

    acknowledged = hammer(servers, write)
    assert len(acknowledged) == WRITERS * WRITES
    by_kind: dict[int, list[int]] = {k: [n for n in acknowledged if (n // 1000) % 4 == k] for k in range(4)}
    values = {
        alias: [v for _, v in _stored(servers, machine, alias)] for alias in ("w", "r", "rb", "g1", "g2")
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
    _dataport(servers, machine, "strict")
    cik = machine.cik

    def write(http: httpx.Client, writer: int, n: int) -> bool:
        points: list[list[Any]] = [[1_000_000 + n * 3 + k, float(n * 3 + k)] for k in range(3)]
        if writer % 2:
            points[2][1] = "not a number"
        return _rpc_ok(http, cik, ("record", [{"alias": "strict"}, points, {}]))

    acknowledged = hammer(servers, write)
    assert len(acknowledged) == WRITERS // 2 * WRITES
    assert all((n // 1000) % 2 == 0 for n in acknowledged)
    expected = [float(n * 3 + k) for n in acknowledged for k in range(3)]
    assert_exactly_once([v for _, v in _stored(servers, machine, "strict")], expected)


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
        page = _ok(http.get(path, params={"limit": 500, "order": "asc"}, headers=ADMIN))
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


# --- provisioning and shares ---------------------------------------------------------------------


def _provisioned(servers: Servers, machine: Machine, serials: list[str]) -> tuple[str, str]:
    """A vendor (the device client) with model ``m`` whose serial numbers are enabled; the vendor
    name and the vendor client's key."""
    cik = machine.cik
    with servers.client() as http:
        (template,) = _rpc(http, cik, ("create", ["client", {"limits": {}}]))
        assert template["status"] == "ok", template
        (owner,) = _rpc(http, cik, ("create", ["client", {"limits": {}}]))
        vendor = f"v{machine.id[-8:]}"
        headers = {**FORM, "X-Exosite-CIK": cik}
        reply = http.post("/provision/register", content=urlencode({"vendor": vendor}), headers=headers)
        assert reply.status_code == 205, reply.text
        data = urlencode({"model": "m", "rid": template["result"]})
        assert http.post("/provision/manage/model/", content=data, headers=headers).status_code == 205
        data = urlencode({"add": "true", "sn[]": serials}, doseq=True)
        assert http.post("/provision/manage/model/m/", content=data, headers=headers).status_code == 205
        for sn in serials:
            data = urlencode({"enable": "true", "owner": owner["result"]})
            reply = http.post(f"/provision/manage/model/m/{sn}", content=data, headers=headers)
            assert reply.status_code == 200, reply.text
        return vendor, cik


def test_a_serial_number_is_activated_once(servers: Servers, machine: Machine) -> None:
    """All writers activate the same serial numbers at once: each hands out its key to exactly one
    of them, and that key works; the activation log holds every attempt."""
    serials = [f"sn{i}" for i in range(4)]
    vendor, vendor_cik = _provisioned(servers, machine, serials)
    keys: dict[str, list[str]] = {sn: [] for sn in serials}
    guard = threading.Lock()

    def activate(http: httpx.Client, _writer: int, n: int) -> bool:
        sn = serials[n % len(serials)]
        data = urlencode({"vendor": vendor, "model": "m", "sn": sn})
        reply = http.post("/provision/activate", content=data, headers=FORM)
        assert reply.status_code in (200, 409), reply.text
        if reply.status_code == 200:
            with guard:
                keys[sn].append(reply.text)
        return reply.status_code == 200

    acknowledged = hammer(servers, activate, writes=4)
    assert len(acknowledged) == len(serials)
    with servers.client() as http:
        for sn, handed in keys.items():
            assert len(handed) == 1, (sn, handed)
            (info,) = _rpc(http, handed[0], ("info", [{"alias": ""}, {"basic": True}]))
            assert info["status"] == "ok", info
            assert info["result"]["basic"]["status"] == "activated"
            reply = http.get(
                f"/provision/manage/model/m/{sn}",
                params={"show": "log"},
                headers={"X-Exosite-CIK": vendor_cik},
            )
            assert reply.status_code == 200, reply.text
            assert len(reply.text.strip().splitlines()) == WRITERS * 4 // len(serials)
    servers.check_logs()


def test_a_share_is_activated_once(servers: Servers, machine: Machine) -> None:
    """Many clients activate one share code at once: exactly one gets it."""
    _dataport(servers, machine, "shared")
    with servers.client() as http:
        (share,) = _rpc(http, machine.cik, ("share", [{"alias": "shared"}, {}]))
        assert share["status"] == "ok", share
        code = share["result"]
        activators = []
        for _ in range(WRITERS):
            (made,) = _rpc(http, machine.cik, ("create", ["client", {"limits": {}}]))
            (cik,) = _rpc(http, machine.cik, ("info", [made["result"], {"key": True}]))
            activators.append(cik["result"]["key"])

    def activate(http: httpx.Client, writer: int, _n: int) -> bool:
        return _rpc_ok(http, activators[writer], ("activate", ["share", code]))

    acknowledged = hammer(servers, activate, writes=1)
    assert len(acknowledged) == 1
    servers.check_logs()


# --- read-modify-writes of the fleet -------------------------------------------------------------


def test_first_use_makes_one_device_client(servers: Servers) -> None:
    """Dataports made at once on a machine that has no device client yet: one client is made, and
    every dataport lands in it."""
    machine = _machine(servers, device_client=False)
    path = f"/api/v1/machines/{machine.id}/dataports"

    def create(http: httpx.Client, _writer: int, n: int) -> bool:
        reply = http.post(path, json={"alias": f"p{n}", "format": "float"}, headers=ADMIN)
        assert reply.status_code == 201, reply.text
        return True

    made = hammer(servers, create, writes=2)
    with servers.client() as http:
        listed = _ok(http.get(path, params={"limit": 100}, headers=ADMIN))["items"]
    assert sorted(d["alias"] for d in listed) == sorted(f"p{n}" for n in made)
    servers.check_logs()


def test_config_history_keeps_every_config(servers: Servers, machine: Machine) -> None:
    """Configs set at once: each replaced config goes to the history exactly once."""
    path = f"/api/v1/parts/{machine.part}/config"

    def put(http: httpx.Client, _writer: int, n: int) -> bool:
        reply = http.put(path, json={"config": {"n": n}}, headers=ADMIN)
        assert reply.status_code == 200, reply.text
        return True

    written = hammer(servers, put, writes=5)
    with servers.client() as http:
        history = _ok(http.get(path + "/history", params={"limit": 500}, headers=ADMIN))["items"]
        current = _ok(http.get(path, headers=ADMIN))["config"]
    previous = [revision["previous_config"].get("n") for revision in history]
    assert len(previous) == len(written)
    assert sorted([*previous, current["n"]], key=lambda n: -1 if n is None else n) == [None, *written]
    servers.check_logs()


def test_one_main_part(servers: Servers, machine: Machine) -> None:
    """Parts made main at once: the machine ends with exactly one main part."""
    with servers.client() as http:
        parts = [machine.part]
        for index in range(3):
            body = {"name": f"arm{index}"}
            parts.append(
                _ok(http.post(f"/api/v1/machines/{machine.id}/parts", json=body, headers=ADMIN), 201)["id"]
            )

    def promote(http: httpx.Client, writer: int, n: int) -> bool:
        part = parts[(writer + n) % len(parts)]
        reply = http.patch(f"/api/v1/parts/{part}", json={"main_part": True}, headers=ADMIN)
        assert reply.status_code == 200, reply.text
        return True

    hammer(servers, promote, writes=3)
    with servers.client() as http:
        listed = _ok(http.get(f"/api/v1/machines/{machine.id}/parts", headers=ADMIN))
    listed = listed["items"] if isinstance(listed, dict) else listed
    assert sum(1 for part in listed if part["main_part"]) == 1
    servers.check_logs()


def test_invite_resends_are_all_counted(servers: Servers, machine: Machine) -> None:
    with servers.client() as http:
        org = _ok(http.get(f"/api/v1/machines/{machine.id}", headers=ADMIN))["organization_id"]
        grant = {"role": "operator", "resource_type": "organization", "resource_id": org}
        body = {"email": "new@example.com", "authorizations": [grant]}
        invite = _ok(http.post(f"/api/v1/organizations/{org}/invites", json=body, headers=ADMIN), 201)
    path = f"/api/v1/organizations/{org}/invites/{invite['id']}/resend"

    def resend(http: httpx.Client, _writer: int, _n: int) -> bool:
        return http.post(path, headers=ADMIN).status_code == 200

    sent = hammer(servers, resend, writes=3)
    with servers.client() as http:
        listed = _ok(http.get(f"/api/v1/organizations/{org}/invites", headers=ADMIN))["items"]
    assert [i["sent_count"] for i in listed] == [1 + len(sent)]


def test_one_alias_is_given_once(servers: Servers, machine: Machine) -> None:
    """Dataports asked for at once under one alias: one is made, the others are told it is taken."""
    path = f"/api/v1/machines/{machine.id}/dataports"
    codes: list[int] = []

    def create(http: httpx.Client, _writer: int, _n: int) -> bool:
        reply = http.post(path, json={"alias": "same", "format": "float"}, headers=ADMIN)
        codes.append(reply.status_code)
        return reply.status_code == 201

    assert len(hammer(servers, create, writes=1)) == 1
    assert sorted(codes) == [201] + [409] * (WRITERS - 1)
    with servers.client() as http:
        assert len(_ok(http.get(path, params={"limit": 100}, headers=ADMIN))["items"]) == 1
    servers.check_logs()
