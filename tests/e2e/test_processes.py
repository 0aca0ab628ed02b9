"""Two real server processes on one PostgreSQL database and one Redis: a log tail or a One Platform
wait on one hears a write made through the other, a key deleted through one is refused by the other
at once (its credential cache lasts a minute), and each background duty runs on exactly one of
them, moving to the other within seconds after its holder is killed (kill -9)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis
from grpclib.client import Channel
from viam.app.app_client import AppClient

from fleetport import Client
from fleetport.core.duties import server_duties
from fleetport.server import open_fleet
from fleetport.settings import Settings
from fleetport.store import Store, leases
from tests.conftest import (
    ADMIN_KEY,
    REDIS_URL,
    RunningServer,
    free_port,
    fresh_pg_database,
    start_server,
    stop_server,
)
from tests.e2e.test_server_start import serve_once

LEASE_SECONDS = 2.0
CACHE_SECONDS = 60.0
DUTIES = ["part-log-retention", "datarule-clock", "dataport-retention", "remote-instances"]


@dataclass
class Pair:
    a: RunningServer
    b: RunningServer
    database_url: str


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with fresh_pg_database() as url:
        env = {
            "FLEETPORT_DATABASE_URL": url,
            "FLEETPORT_REDIS_URL": REDIS_URL,
            "FLEETPORT_REDIS_PREFIX": f"fleetport-test-{uuid.uuid4().hex}:",  # apart from other runs
            "FLEETPORT_CREDENTIAL_CACHE_SECONDS": str(CACHE_SECONDS),
            "FLEETPORT_DUTY_LEASE_SECONDS": str(LEASE_SECONDS),
        }
        a = start_server(tmp_path_factory.mktemp("a"), env=env)  # migrates and bootstraps first
        try:
            b = start_server(tmp_path_factory.mktemp("b"), env=env)
            try:
                yield Pair(a, b, url)
            finally:
                stop_server(b)
        finally:
            stop_server(a)


def _rover(url: str) -> tuple[str, str, str]:
    """An organization, a machine's main part and a secret of that part."""
    with Client(url, ADMIN_KEY) as fp:
        org = fp.organizations.create(f"Two Servers {uuid.uuid4().hex[:6]}")
        lab = fp.locations.create(org.id, "Lab")
        machine = fp.machines.create(lab.id, "rover")
        (part,) = list(fp.machines.parts(machine.id))
        return org.id, part.id, fp.parts.create_secret(part.id).secret


def test_a_log_tail_on_one_server_receives_lines_appended_through_the_other(pair: Pair) -> None:
    _, part, secret = _rover(pair.a.url)
    expected = [f"batch {b} line {i}" for b in range(10) for i in range(5)]
    with (
        Client(pair.a.url, ADMIN_KEY) as reader,
        Client(pair.b.url, secret) as agent,
        reader.logs.tail(part) as stream,  # on A, open once this returns
    ):

        def append() -> None:
            now = datetime.now(UTC)
            for b in range(10):
                entries = [{"time": now, "level": "info", "message": f"batch {b} line {i}"} for i in range(5)]
                assert agent.logs.append(part, entries) == 5  # through B

        writer = threading.Thread(target=append)
        writer.start()
        received: list[str] = []
        for batch in stream:
            received += [entry.message for entry in batch]
            if len(received) >= len(expected):
                break
        writer.join()
    assert received == expected


def test_a_viam_log_tail_on_one_server_receives_lines_appended_through_the_other(pair: Pair) -> None:
    _, part, secret = _rover(pair.a.url)
    expected = [f"line {i}" for i in range(20)]

    def append() -> None:
        with Client(pair.b.url, secret) as agent:  # through B
            for message in expected:
                agent.logs.append(part, [{"time": datetime.now(UTC), "level": "info", "message": message}])

    async def tail() -> list[str]:
        channel = Channel("127.0.0.1", pair.a.grpc_port)  # on A, the real viam-sdk client
        try:
            app = AppClient(channel, {"authorization": f"Bearer {ADMIN_KEY}"})
            stream = await app.tail_robot_part_logs(part, errors_only=False)
            got: list[str] = []
            try:
                iterator = stream.__aiter__()
                first = asyncio.create_task(anext(iterator))  # the client opens the stream here
                await asyncio.sleep(0.5)
                writer = threading.Thread(target=append)
                writer.start()
                batch = await asyncio.wait_for(first, 15)
                got += [entry.message for entry in batch]
                while len(got) < len(expected):
                    got += [entry.message for entry in await asyncio.wait_for(anext(iterator), 15)]
                writer.join()
                return got
            finally:
                await stream._stream.aclose()  # type: ignore[attr-defined]  # how the client ends a tail
        finally:
            channel.close()

    assert asyncio.run(tail()) == expected


def test_a_one_platform_wait_on_one_server_is_answered_by_a_write_on_the_other(pair: Pair) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with (
        httpx.Client(base_url=pair.a.url, timeout=30) as a,
        httpx.Client(base_url=pair.b.url, timeout=30) as b,
    ):
        org = a.post("/api/v1/organizations", json={"name": "Waiters"}, headers=admin).json()
        cik = a.get(f"/api/v1/organizations/{org['id']}/telemetry/root-client", headers=admin).json()["cik"]

        def rpc(http: httpx.Client, procedure: str, arguments: list[object]) -> dict[str, object]:
            body = {
                "auth": {"cik": cik},
                "calls": [{"id": 0, "procedure": procedure, "arguments": arguments}],
            }
            headers = {"Content-Type": "application/json; charset=utf-8"}
            (reply,) = http.post("/onep:v1/rpc/process", content=json.dumps(body), headers=headers).json()
            return dict(reply)

        retention = {"count": "infinity", "duration": "infinity"}
        created = rpc(a, "create", ["dataport", {"format": "float", "retention": retention}])
        assert created["status"] == "ok", created
        port = created["result"]
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            waiting = pool.submit(rpc, a, "wait", [port, {"timeout": 20000}])  # on A
            time.sleep(0.5)  # the wait is listening
            assert not waiting.done()
            assert rpc(b, "write", [port, 42.5, {}])["status"] == "ok"  # through B
            answer = waiting.result(timeout=25)
        assert answer["status"] == "ok", answer
        assert answer["result"][1] == 42.5  # type: ignore[index]
        assert time.monotonic() - started < 10  # woken, not expired after 20 s


def test_a_key_deleted_on_one_server_is_refused_by_the_other_at_once(pair: Pair) -> None:
    org, _, _ = _rover(pair.a.url)
    with Client(pair.a.url, ADMIN_KEY) as fp:
        key = fp.keys.create(
            org, "short-lived", [{"role": "owner", "resource_type": "organization", "resource_id": org}]
        )
        rotated = fp.keys.create(
            org, "rotated", [{"role": "owner", "resource_type": "organization", "resource_id": org}]
        )
    assert key.secret and rotated.secret

    def whoami(server: RunningServer, secret: str) -> int:
        headers = {"Authorization": f"Bearer {secret}"}
        return httpx.get(f"{server.url}/api/v1/auth/whoami", headers=headers, timeout=10).status_code

    for secret in (key.secret, rotated.secret):  # known to both (cached for a minute)
        assert whoami(pair.a, secret) == whoami(pair.b, secret) == 200

    with Client(pair.a.url, ADMIN_KEY) as fp:
        fp.keys.delete(key.id)
        deleted = time.monotonic()
        refused = _refused_within(lambda: whoami(pair.b, key.secret), 2.0)
        fp.keys.rotate(rotated.id)
        rotated_at = time.monotonic()
        refused_rotated = _refused_within(lambda: whoami(pair.b, rotated.secret), 2.0)
    assert refused - deleted < 2.0 and refused_rotated - rotated_at < 2.0  # not after 60 s


def _refused_within(status: object, limit: float) -> float:
    started = time.monotonic()
    while status() != 401:  # type: ignore[operator]
        assert time.monotonic() - started < limit, "the other server still accepts the key"
        time.sleep(0.01)
    return time.monotonic()


def test_a_tail_outlives_the_loss_of_redis_and_hears_the_other_server_once_it_is_back(pair: Pair) -> None:
    _, part, secret = _rover(pair.a.url)
    (name,) = re.findall(r"live events shared through Redis at \S+ as (\S+)", pair.a.log_text())
    with (
        Client(pair.a.url, ADMIN_KEY) as reader,
        Client(pair.b.url, secret) as agent,
        reader.logs.tail(part) as stream,  # on A
    ):
        raw = redis.Redis.from_url(REDIS_URL)
        try:  # A's connections to Redis drop
            killed = [raw.client_kill_filter(_id=c["id"]) for c in raw.client_list() if c.get("name") == name]
        finally:
            raw.close()
        assert killed
        deadline = time.monotonic() + 10
        while "Redis reachable again: hearing the other processes" not in pair.a.log_text():
            assert time.monotonic() < deadline, pair.a.log_text()
            time.sleep(0.05)
        assert "lost Redis" in pair.a.log_text()
        now = datetime.now(UTC)
        assert agent.logs.append(part, [{"time": now, "level": "info", "message": "after the loss"}]) == 1
        (batch,) = [next(iter(stream))]
        assert [entry.message for entry in batch] == ["after the loss"]


def _holders(database_url: str) -> dict[str, str]:
    store = Store(database_url)
    try:
        with store.read() as conn:
            found = {name: leases.holder(conn, name) for name in DUTIES}
    finally:
        store.dispose()
    now = time.time() * 1000
    return {name: held[0] for name, held in found.items() if held is not None and held[1] > now}


def _pid(holder: str) -> int:
    return int(holder.split(":")[1])


def test_each_duty_runs_on_one_server_and_moves_to_the_other_when_it_is_killed(
    pair: Pair, tmp_path: Path
) -> None:
    fleet = open_fleet(Settings(data_dir=tmp_path))
    assert [duty.name for duty in server_duties(fleet)] == DUTIES
    fleet.store.dispose()
    servers = {pair.a.process.pid: pair.a, pair.b.process.pid: pair.b}
    deadline = time.monotonic() + 10
    while set(_holders(pair.database_url)) != set(DUTIES):
        assert time.monotonic() < deadline, "the duties were not all taken up"
        time.sleep(0.1)
    holders = _holders(pair.database_url)
    assert {_pid(h) for h in holders.values()} <= set(servers)
    for name, holder in holders.items():  # exactly the holder says it runs it
        says = [pid for pid, s in servers.items() if f"duty {name}: runs on this process" in s.log_text()]
        assert says == [_pid(holder)], (name, says)

    victim = servers[_pid(holders["datarule-clock"])]
    survivor = pair.b if victim is pair.a else pair.a
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=10)
    killed = time.monotonic()
    while True:
        now_held = _holders(pair.database_url)
        if set(now_held) == set(DUTIES) and {_pid(h) for h in now_held.values()} == {survivor.process.pid}:
            break
        assert time.monotonic() - killed < LEASE_SECONDS + 3, f"not taken over: {now_held}"
        time.sleep(0.05)
    taken_over = time.monotonic() - killed
    assert taken_over < LEASE_SECONDS + 3
    for name in DUTIES:
        assert f"duty {name}: runs on this process" in survivor.log_text()
    assert httpx.get(f"{survivor.url}/health", timeout=5).status_code == 200


def test_redis_unreachable_at_start_stops_the_server_with_one_line(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(RuntimeError, match="the server stopped before it answered") as raised:
        start_server(tmp_path, env={"FLEETPORT_REDIS_URL": url})
    log = str(raised.value)
    assert re.search(rf"^cannot reach Redis at {re.escape(url)} \(FLEETPORT_REDIS_URL\): .+$", log, re.M), log
    assert "Traceback" not in log


def test_a_duty_lease_must_be_positive(tmp_path: Path) -> None:
    result = serve_once(tmp_path / "data", {"FLEETPORT_DUTY_LEASE_SECONDS": "0"})
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0 and output.count("\n") == 0, output
    assert output == "FLEETPORT_DUTY_LEASE_SECONDS='0' is not valid: input should be greater than 0"
    assert not (tmp_path / "data").exists()
