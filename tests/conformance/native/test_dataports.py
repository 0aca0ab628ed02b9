"""A machine's dataports through the native API (ASGI app, SQLite and PostgreSQL), the same data
through the One Platform dialect, and the SDK (sync and async) against a real server process."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import fleetport
from fleetport import AsyncClient, Client
from fleetport.core.credentials import BearerToken
from fleetport.core.fleet import Fleet
from fleetport.core.telemetry import NewResource, now
from fleetport.server import create_app, open_fleet
from fleetport.settings import Settings
from tests.conformance.native.helpers import error, ok
from tests.conftest import ADMIN_KEY, RunningServer

UNKNOWN_MACHINE = "00000000-0000-7000-8000-000000000000"


@pytest.fixture
def world(api: TestClient) -> dict[str, str]:
    """Org A: location L1 (machine M1), L2 (M2); org B: L3 (M3). Keys on L1: an owner, an operator."""
    ids: dict[str, str] = {}
    ids["A"] = ok(api.post("/api/v1/organizations", json={"name": "A"}), 201)["id"]
    ids["B"] = ok(api.post("/api/v1/organizations", json={"name": "B"}), 201)["id"]
    for name, org in (("L1", "A"), ("L2", "A"), ("L3", "B")):
        body = {"organization_id": ids[org], "name": name}
        ids[name] = ok(api.post("/api/v1/locations", json=body), 201)["id"]
    for name, loc in (("M1", "L1"), ("M2", "L2"), ("M3", "L3")):
        body = {"location_id": ids[loc], "name": name}
        ids[name] = ok(api.post("/api/v1/machines", json=body), 201)["id"]
    for role in ("owner", "operator"):
        grant = {"role": role, "resource_type": "location", "resource_id": ids["L1"]}
        key = api.post(
            f"/api/v1/organizations/{ids['A']}/keys", json={"name": role, "authorizations": [grant]}
        )
        ids[role] = ok(key, 201)["secret"]
    return ids


def _as(api: TestClient, token: str) -> TestClient:
    return TestClient(api.app, headers={"Authorization": f"Bearer {token}"})


def _ports(machine: str) -> str:
    return f"/api/v1/machines/{machine}/dataports"


def _create(api: TestClient, machine: str, alias: str, fmt: str = "float", **extra: Any) -> dict[str, Any]:
    return ok(api.post(_ports(machine), json={"alias": alias, "format": fmt, **extra}), 201)  # type: ignore[no-any-return]


def _write(api: TestClient, machine: str, alias: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    return ok(api.post(f"{_ports(machine)}/{alias}/points", json={"points": points}))  # type: ignore[no-any-return]


def _read(api: TestClient, machine: str, alias: str, **params: Any) -> list[list[Any]]:
    points = ok(api.get(f"{_ports(machine)}/{alias}/points", params=params))
    return [[p["timestamp"], p["value"]] for p in points]


def _rpc(api: TestClient, cik: str, *calls: tuple[str, list[Any]]) -> list[dict[str, Any]]:
    body = {
        "auth": {"cik": cik},
        "calls": [{"id": i, "procedure": proc, "arguments": args} for i, (proc, args) in enumerate(calls)],
    }
    return ok(api.post("/onep:v1/rpc/process", json=body))  # type: ignore[no-any-return]


# --- the dataports ---------------------------------------------------------------------------------


def test_create_get_update_delete(api: TestClient, world: dict[str, str]) -> None:
    m1 = world["M1"]
    made = _create(api, m1, "temp", name="Temperature", retention_count=3)
    assert made["alias"] == "temp" and made["name"] == "Temperature" and made["format"] == "float"
    assert (made["retention_count"], made["retention_seconds"]) == (3, None)
    assert (made["count"], made["first_timestamp"], made["last_timestamp"], made["last_value"]) == (
        0,
        None,
        None,
        None,
    )
    assert len(made["rid"]) == 40 and made["created_at"].endswith("Z")

    # by alias or by RID: the same dataport
    assert ok(api.get(f"{_ports(m1)}/temp")) == made
    assert ok(api.get(f"{_ports(m1)}/{made['rid']}")) == made

    _write(api, m1, "temp", [{"timestamp": t, "value": t / 10} for t in range(100, 105)])
    got = ok(api.get(f"{_ports(m1)}/temp"))
    assert (got["count"], got["first_timestamp"], got["last_timestamp"], got["last_value"]) == (
        3,
        102,
        104,
        10.4,
    )

    patched = ok(api.patch(f"{_ports(m1)}/temp", json={"name": "T", "retention_count": 2}))
    assert (patched["name"], patched["retention_count"], patched["count"]) == ("T", 2, 2)
    patched = ok(api.patch(f"{_ports(m1)}/temp", json={"retention_count": None, "retention_seconds": 3600}))
    assert (patched["name"], patched["retention_count"], patched["retention_seconds"]) == ("T", None, 3600)
    assert ok(api.patch(f"{_ports(m1)}/temp", json={}))["retention_seconds"] == 3600  # left out: kept

    assert api.delete(f"{_ports(m1)}/temp").status_code == 204
    error(api.get(f"{_ports(m1)}/temp"), 404, "not_found")
    error(api.get(f"{_ports(m1)}/{made['rid']}"), 404, "not_found")
    error(api.delete(f"{_ports(m1)}/temp"), 404, "not_found")
    again = _create(api, m1, "temp")  # the alias is free again, the points went with the dataport
    assert again["rid"] != made["rid"] and again["count"] == 0


def test_aliases_are_unique_per_machine(api: TestClient, world: dict[str, str]) -> None:
    _create(api, world["M1"], "temp")
    message = error(
        api.post(_ports(world["M1"]), json={"alias": "temp", "format": "integer"}), 409, "conflict"
    )
    assert "temp" in message
    _create(api, world["M2"], "temp", "integer")  # another machine: its own aliases
    assert [d["alias"] for d in ok(api.get(_ports(world["M1"])))["items"]] == ["temp"]


def test_list_orders_by_alias_and_pages(api: TestClient, world: dict[str, str]) -> None:
    m1 = world["M1"]
    for alias in ("delta", "alpha", "echo", "charlie", "bravo"):
        _create(api, m1, alias)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = ok(api.get(_ports(m1), params=params))
        assert len(page["items"]) <= 2
        seen += [d["alias"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["alpha", "bravo", "charlie", "delta", "echo"]
    error(api.get(_ports(m1), params={"cursor": "bogus"}), 422, "invalid_argument")
    error(api.get(_ports(m1), params={"limit": 10_000}), 422, "invalid_argument")


def test_bad_dataports_are_refused(api: TestClient, world: dict[str, str]) -> None:
    m1 = world["M1"]
    for body in (
        {"alias": "x", "format": "double"},
        {"alias": "x"},
        {"alias": "", "format": "float"},
        {"alias": "a/b", "format": "float"},
        {"alias": "..", "format": "float"},
        {"alias": "tab\there", "format": "float"},
        {"alias": "ab" * 20, "format": "float"},  # 40 hex digits: a RID
        {"alias": "x" * 256, "format": "float"},
        {"alias": "x", "format": "float", "retention_count": -1},
        {"alias": "x", "format": "float", "retention_seconds": "a day"},
        {"alias": "x", "format": "float", "unknown": 1},
    ):
        error(api.post(_ports(m1), json=body), 422, "invalid_argument")
    assert ok(api.get(_ports(m1)))["items"] == []
    _create(api, m1, "x")
    error(api.patch(f"{_ports(m1)}/x", json={"retention_count": -5}), 422, "invalid_argument")
    error(api.patch(f"{_ports(m1)}/x", json={"format": "integer"}), 422, "invalid_argument")
    error(api.get(f"{_ports(m1)}/nope"), 404, "not_found")
    error(api.get(f"{_ports(m1)}/{'0' * 40}"), 404, "not_found")  # a RID that names nothing
    error(api.get(f"{_ports(m1)}/nope/points"), 404, "not_found")
    error(api.post(f"{_ports(m1)}/nope/points", json={"points": []}), 404, "not_found")
    error(api.get(_ports(UNKNOWN_MACHINE)), 404, "not_found")
    error(api.get(_ports("not-a-uuid")), 404, "not_found")
    error(api.post(_ports(UNKNOWN_MACHINE), json={"alias": "x", "format": "float"}), 404, "not_found")


# --- points ----------------------------------------------------------------------------------------


def test_points_of_each_format(api: TestClient, world: dict[str, str]) -> None:
    m1 = world["M1"]
    for alias, fmt in (("f", "float"), ("i", "integer"), ("s", "string"), ("b", "binary")):
        _create(api, m1, alias, fmt)
    assert _write(api, m1, "f", [{"timestamp": 10, "value": 1.5}, {"timestamp": 11, "value": "2.5"}]) == {
        "written": 2,
        "failures": [],
    }
    _write(api, m1, "i", [{"timestamp": 10, "value": 7}, {"timestamp": 11, "value": "8"}])
    _write(api, m1, "s", [{"timestamp": 10, "value": "hello"}, {"timestamp": 11, "value": 3}])
    _write(api, m1, "b", [{"timestamp": 10, "value": "AAEC"}])
    assert _read(api, m1, "f", order="asc") == [[10, 1.5], [11, 2.5]]
    assert _read(api, m1, "i") == [[11, 8], [10, 7]]
    assert _read(api, m1, "s", order="asc") == [[10, "hello"], [11, "3"]]
    assert _read(api, m1, "b") == [[10, "AAEC"]]


def test_values_that_do_not_fit_are_reported_per_point(api: TestClient, world: dict[str, str]) -> None:
    m1 = world["M1"]
    _create(api, m1, "count", "integer")
    points = [
        {"timestamp": 100, "value": 1},
        {"timestamp": 101, "value": "many"},
        {"timestamp": 102, "value": 2.5},
        {"timestamp": 103, "value": True},
        {"timestamp": 104, "value": [1]},
        {"timestamp": 2**63, "value": 3},
        {"timestamp": 105, "value": 4},
    ]
    result = _write(api, m1, "count", points)
    assert result["written"] == 2
    assert [(f["index"], f["timestamp"]) for f in result["failures"]] == [
        (1, 101),
        (2, 102),
        (3, 103),
        (4, 104),
        (5, 2**63),
    ]
    assert all(f["reason"] for f in result["failures"])
    assert "many" in result["failures"][0]["reason"]
    assert _read(api, m1, "count", order="asc") == [[100, 1], [105, 4]]


def test_timestamps_default_to_now_and_may_count_back(api: TestClient, world: dict[str, str]) -> None:
    m1 = world["M1"]
    _create(api, m1, "temp")
    before = now()
    _write(api, m1, "temp", [{"value": 1}, {"timestamp": None, "value": 2}, {"timestamp": -3600, "value": 3}])
    after = now()
    points = _read(api, m1, "temp", limit=10, order="asc")
    assert [v for _, v in points] == [3.0, 1.0, 2.0]
    assert before - 3600 <= points[0][0] <= after - 3600
    assert all(before <= ts <= after for ts, _ in points[1:])


def test_read_windows(api: TestClient, world: dict[str, str]) -> None:
    m1 = world["M1"]
    _create(api, m1, "temp")
    _write(api, m1, "temp", [{"timestamp": t, "value": t} for t in range(1000, 1100)])
    assert _read(api, m1, "temp") == [[1099, 1099.0]] + [[t, float(t)] for t in range(1098, 999, -1)]
    assert _read(api, m1, "temp", limit=3) == [[1099, 1099.0], [1098, 1098.0], [1097, 1097.0]]
    assert _read(api, m1, "temp", start=1010, end=1012, order="asc") == [
        [1010, 1010.0],
        [1011, 1011.0],
        [1012, 1012.0],
    ]
    windows = _read(api, m1, "temp", start=1000, end=1099, limit=4, selection="givenwindow")
    assert len(windows) == 4 and windows[0][0] == 1099
    spread = _read(api, m1, "temp", start=1000, end=1099, limit=5, selection="autowindow", order="asc")
    assert len(spread) == 5 and spread[0][0] < spread[-1][0]
    for params in (
        {"order": "sideways"},
        {"selection": "some"},
        {"limit": 0},
        {"limit": 100_001},
        {"start": -1},
        {"end": "yesterday"},
    ):
        error(api.get(f"{_ports(m1)}/temp/points", params=params), 422, "invalid_argument")


def test_malformed_batches_are_refused_whole(api: TestClient, world: dict[str, str]) -> None:
    m1 = world["M1"]
    _create(api, m1, "temp")
    url = f"{_ports(m1)}/temp/points"
    error(api.post(url, content=b"{not json"), 400, "malformed_body")
    for body in (
        [{"value": 1}],
        {"points": {"value": 1}},
        {"points": [{"value": 1}], "more": 1},
        {"points": [{"value": 1}, {"timestamp": 5}]},
        {"points": [{"value": 1}, 7]},
        {"points": [{"value": 1, "unit": "C"}]},
        {"points": [{"timestamp": "2030-01-01T00:00:00Z", "value": 1}]},
        {"points": [{"timestamp": 1.5, "value": 1}]},
        {"points": [{"timestamp": True, "value": 1}]},
    ):
        message = error(api.post(url, json=body), 422, "invalid_argument")
        assert message
    assert ok(api.get(f"{_ports(m1)}/temp"))["count"] == 0  # nothing of a refused batch is stored


def test_batch_limits(api: TestClient, world: dict[str, str], tmp_path: Path) -> None:
    m1 = world["M1"]
    _create(api, m1, "log", "string")
    url = f"{_ports(m1)}/log/points"
    # 10,000 points of 100 characters: over the general body limit (1 MiB), within the points limit
    big = [{"timestamp": 1_000_000 + i, "value": "x" * 100} for i in range(10_000)]
    assert _write(api, m1, "log", big) == {"written": 10_000, "failures": []}
    assert ok(api.get(f"{_ports(m1)}/log"))["count"] == 10_000
    message = error(api.post(url, json={"points": [{"value": "x"}] * 10_001}), 422, "invalid_argument")
    assert "10000" in message and "10001" in message
    assert ok(api.get(f"{_ports(m1)}/log"))["count"] == 10_000

    # the byte limit of a points write is a setting of its own
    settings = Settings(data_dir=tmp_path / "small", points_max_batch_bytes=2000)
    small = open_fleet(settings)
    try:
        small.identity.bootstrap("admin@example.com", "admin-password", ADMIN_KEY)
        admin = small.identity.authenticate(BearerToken(ADMIN_KEY))
        org = small.organizations.create(admin, "O")
        machine = small.machines.create(admin, small.locations.create(admin, org.id, "L").id, "M")
        small.dataports.create(admin, machine.id, "log", "string")
        with TestClient(create_app(small), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
            points_url = f"{_ports(machine.id)}/log/points"
            error(client.post(points_url, json={"points": [{"value": "x" * 3000}]}), 413, "payload_too_large")
            assert ok(client.post(points_url, json={"points": [{"value": "x" * 100}]}))["written"] == 1
    finally:
        small.store.dispose()


# --- who may ---------------------------------------------------------------------------------------


def test_permission_matrix(api: TestClient, world: dict[str, str]) -> None:
    for machine in ("M1", "M2", "M3"):
        _create(api, world[machine], "temp")
        _write(api, world[machine], "temp", [{"timestamp": 50, "value": 1}])
    owner, operator = _as(api, world["owner"]), _as(api, world["operator"])

    # the owner of L1 does everything on M1
    m1 = _ports(world["M1"])
    assert _create(owner, world["M1"], "hum")["alias"] == "hum"
    assert _write(owner, world["M1"], "hum", [{"value": 40}])["written"] == 1
    assert ok(owner.patch(f"{m1}/hum", json={"name": "Humidity"}))["name"] == "Humidity"
    assert owner.delete(f"{m1}/hum").status_code == 204

    # the operator of L1 reads M1's dataports and points, and changes nothing
    assert [d["alias"] for d in ok(operator.get(m1))["items"]] == ["temp"]
    assert ok(operator.get(f"{m1}/temp"))["count"] == 1
    assert _read(operator, world["M1"], "temp", start=0) == [[50, 1.0]]
    for response in (
        operator.post(m1, json={"alias": "hum", "format": "float"}),
        operator.patch(f"{m1}/temp", json={"name": "x"}),
        operator.delete(f"{m1}/temp"),
        operator.post(f"{m1}/temp/points", json={"points": [{"value": 2}]}),
    ):
        assert "update_robot" in error(response, 403, "permission_denied")
    assert ok(api.get(f"{m1}/temp"))["count"] == 1

    # neither reaches the machines of another location or organization
    for client in (owner, operator):
        for machine in ("M2", "M3"):
            url = _ports(world[machine])
            for response in (
                client.get(url),
                client.get(f"{url}/temp"),
                client.get(f"{url}/temp/points"),
                client.post(url, json={"alias": "x", "format": "float"}),
                client.patch(f"{url}/temp", json={"name": "x"}),
                client.delete(f"{url}/temp"),
                client.post(f"{url}/temp/points", json={"points": [{"value": 2}]}),
            ):
                error(response, 403, "permission_denied")
        error(client.get(_ports(UNKNOWN_MACHINE)), 404, "not_found")
    error(TestClient(api.app).get(m1), 401, "unauthenticated")
    for machine in ("M2", "M3"):
        assert ok(api.get(f"{_ports(world[machine])}/temp"))["count"] == 1


# --- one fleet, two APIs ---------------------------------------------------------------------------


def test_native_dataports_through_one_platform(api: TestClient, world: dict[str, str]) -> None:
    m1 = world["M1"]
    made = _create(api, m1, "temp", retention_count=100)
    _write(api, m1, "temp", [{"timestamp": 1000 + i, "value": 20.0 + i} for i in range(7)])
    cik = ok(api.get(f"/api/v1/machines/{m1}/telemetry/device-client"))["cik"]
    assert cik

    [read, lookup, info] = _rpc(
        api,
        cik,
        ("read", [{"alias": "temp"}, {"limit": 5}]),
        ("lookup", ["alias", "temp"]),
        ("info", [{"alias": "temp"}, {"description": True}]),
    )
    assert read == {
        "id": 0,
        "status": "ok",
        "result": [[1006, 26.0], [1005, 25.0], [1004, 24.0], [1003, 23.0], [1002, 22.0]],
    }
    assert lookup["result"] == made["rid"]
    assert info["result"]["description"]["format"] == "float"
    assert info["result"]["description"]["retention"]["count"] == 100

    # and the other way: what a One Platform client writes and makes, the native API sees
    unlimited = {"count": "infinity", "duration": "infinity"}
    [write] = _rpc(api, cik, ("write", [{"alias": "temp"}, 99.5]))
    assert write["status"] == "ok"
    assert ok(api.get(f"{_ports(m1)}/temp"))["last_value"] == 99.5
    [created] = _rpc(
        api, cik, ("create", ["dataport", {"format": "integer", "name": "raw", "retention": unlimited}])
    )
    rid = created["result"]
    listed = {d["rid"]: d for d in ok(api.get(_ports(m1)))["items"]}
    assert listed[rid]["alias"] is None and listed[rid]["name"] == "raw"
    assert list(listed) == [made["rid"], rid]  # aliased first, then by RID
    assert _write(api, m1, rid, [{"timestamp": 5, "value": 9}])["written"] == 1
    assert _rpc(api, cik, ("read", [rid, {}]))[0]["result"] == [[5, 9]]
    [mapped] = _rpc(api, cik, ("map", ["alias", rid, "raw"]))
    assert mapped["status"] == "ok"
    assert ok(api.get(f"{_ports(m1)}/raw"))["rid"] == rid


def test_only_the_machines_own_dataports_are_listed(
    api: TestClient, world: dict[str, str], fleet: Fleet
) -> None:
    """A datarule or a sub-client's dataport under the device client is no dataport of the machine."""
    m1 = world["M1"]
    _create(api, m1, "temp")
    admin = fleet.identity.authenticate(BearerToken(ADMIN_KEY))
    device = fleet.telemetry.clients.as_device(admin, m1, write=True)
    source = fleet.telemetry.names.lookup_alias(device, "temp")
    rule = {"simple": {"comparison": "gt", "constant": 1, "repeat": True}}
    rule_rid = fleet.telemetry.resources.create(
        device, NewResource(type="datarule", rule=rule, subscribe=source)
    )
    fleet.telemetry.names.map_alias(device, rule_rid, "alarm")
    sub = fleet.telemetry.resources.create(device, NewResource(type="client", name="sub"))
    deep = fleet.telemetry.resources.create(device, NewResource(type="dataport", format="float"), under=sub)
    fleet.telemetry.names.map_alias(device, deep, "deep")

    assert [d["alias"] for d in ok(api.get(_ports(m1)))["items"]] == ["temp"]
    assert "datarule" in error(api.get(f"{_ports(m1)}/alarm"), 404, "not_found")
    error(api.get(f"{_ports(m1)}/deep"), 404, "not_found")
    error(api.get(f"{_ports(m1)}/{deep}"), 404, "not_found")
    error(api.post(f"{_ports(m1)}/alarm/points", json={"points": [{"value": 1}]}), 404, "not_found")


# --- the SDK against a real server ----------------------------------------------------------------


def _machine(fp: Client, name: str) -> str:
    org = fp.organizations.create(f"SDK {name}")
    return fp.machines.create(fp.locations.create(org.id, "Lab").id, name).id


def test_sdk(server: RunningServer) -> None:
    with Client(server.url, ADMIN_KEY) as fp:
        machine = _machine(fp, "sdk")
        temp = fp.dataports.create(machine, "temp", "float", name="Temperature", retention_count=1000)
        assert isinstance(temp, fleetport.client.models.Dataport) and temp.alias == "temp"
        fp.dataports.create(machine, "state", "string")
        with pytest.raises(fleetport.Conflict):
            fp.dataports.create(machine, "temp", "integer")
        with pytest.raises(fleetport.InvalidArgument):
            fp.dataports.create(machine, "bad", "double")

        result = fp.dataports.write(
            machine,
            "temp",
            [
                {"timestamp": 100, "value": 20.5},
                (datetime(1970, 1, 1, 0, 1, 41, tzinfo=UTC), 21),
                fleetport.client.models.Point(timestamp=102, value=22.5),
                {"timestamp": 103, "value": "hot"},
            ],
        )
        assert result.written == 3
        assert [(f.index, f.timestamp) for f in result.failures] == [(3, 103)]
        points = fp.dataports.read(machine, "temp", start=0, order="asc")
        assert [(p.timestamp, p.value) for p in points] == [(100, 20.5), (101, 21.0), (102, 22.5)]
        assert [
            p.timestamp
            for p in fp.dataports.read(machine, "temp", start=datetime(1970, 1, 1, 0, 1, 41), limit=1)
        ] == [102]

        assert [d.alias for d in fp.dataports.list(machine, limit=1)] == ["state", "temp"]
        assert fp.dataports.get(machine, temp.rid).count == 3
        updated = fp.dataports.update(
            machine, "temp", name="T", retention_count="unlimited", retention_seconds=60
        )
        assert (updated.name, updated.retention_count, updated.retention_seconds) == ("T", None, 60)
        assert fp.dataports.update(machine, "temp").retention_seconds == 60

        device = fp.telemetry.device_client(machine)
        assert device.cik and len(device.rid) == 40
        root = fp.telemetry.root_client(fp.machines.get(machine).organization_id)
        assert root.cik and root.rid != device.rid

        fp.dataports.delete(machine, "temp")
        with pytest.raises(fleetport.NotFound):
            fp.dataports.get(machine, "temp")
        with pytest.raises(fleetport.InvalidArgument):
            fp.dataports.write(machine, "state", [{"value": "x"}] * 10_001)


def test_async_sdk(server: RunningServer) -> None:
    with Client(server.url, ADMIN_KEY) as fp:
        machine = _machine(fp, "async")

    async def scenario() -> None:
        async with AsyncClient(server.url, ADMIN_KEY) as fp:
            await fp.dataports.create(machine, "level", "integer")
            written = await fp.dataports.write(machine, "level", [{"timestamp": 5, "value": 1}, {"value": 2}])
            assert written.written == 2 and written.failures == []
            points = await fp.dataports.read(machine, "level", start=0, limit=10)
            assert [p.value for p in points] == [2, 1]
            assert [d.alias async for d in fp.dataports.list(machine)] == ["level"]
            assert (await fp.dataports.get(machine, "level")).last_value == 2
            assert (await fp.telemetry.device_client(machine)).cik
            await fp.dataports.delete(machine, "level")
            with pytest.raises(fleetport.NotFound):
                await fp.dataports.read(machine, "level")

    asyncio.run(scenario())


def test_sdk_quotes_aliases(server: RunningServer) -> None:
    with Client(server.url, ADMIN_KEY) as fp:
        machine = _machine(fp, "quoting")
        for alias in ("with space", "per%cent", "q?uery#frag", "ünï"):
            fp.dataports.create(machine, alias, "string")
            assert fp.dataports.write(machine, alias, [{"timestamp": 1, "value": alias}]).written == 1
            assert fp.dataports.get(machine, alias).last_value == alias
        assert sorted(d.alias or "" for d in fp.dataports.list(machine)) == sorted(
            ["with space", "per%cent", "q?uery#frag", "ünï"]
        )
