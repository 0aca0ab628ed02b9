"""How many SQL statements a page of dataports costs, through the native API and through the One
Platform ``listing`` procedure: the same few for 5 dataports as for 50 (SQLite and PostgreSQL). The
page is checked against the dataports one by one, aliased ones by alias, then the others by RID."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from fleetport.core.fleet import Fleet
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import NewResource
from fleetport.dialects.onep import rpc
from tests.conformance.native.helpers import ok
from tests.conformance.viam.test_statement_counts import statements

PAGE = 50
NATIVE_MOST = 12  # the caller, the machine and its device client, the client's reach, the page
ONEP_MOST = 8  # the key, the client's reach, the children


def _machine(fleet: Fleet, admin: Principal) -> str:
    org = fleet.organizations.create(admin, "counted")
    location = fleet.locations.create(admin, org.id, "lab")
    return fleet.machines.create(admin, location.id, "rover").id


def _add_dataports(fleet: Fleet, admin: Principal, machine: str, start: int, stop: int) -> None:
    """Dataports ``start`` to ``stop``: most with an alias and points, every fifth without an alias
    (made through the tree, as a One Platform client would) and every third without points."""
    device = fleet.telemetry.clients.as_device(admin, machine, write=True)
    for n in range(start, stop):
        if n % 5 == 4:
            rid = fleet.telemetry.resources.create(device, NewResource(type="dataport", format="integer"))
        else:
            rid = fleet.dataports.create(admin, machine, f"port-{n:03}", "integer").rid
        if n % 3:
            fleet.telemetry.points.record(device, rid, [[100 + n, n], [50, -1], [100 + n, n * 10]])


def _native_page(fleet: Fleet, api: TestClient, machine: str) -> tuple[list[dict[str, Any]], list[str]]:
    api.get(f"/api/v1/machines/{machine}/dataports")  # the caller's credential is looked up, then cached
    with statements(fleet) as sent:
        page = ok(api.get(f"/api/v1/machines/{machine}/dataports", params={"limit": PAGE}))
    return page["items"], sent


def _onep_listing(fleet: Fleet, cik: str) -> tuple[Any, list[str]]:
    body = {
        "auth": {"cik": cik},
        "calls": [{"id": 1, "procedure": "listing", "arguments": [["dataport"], {}]}],
    }
    rpc.process(fleet, json.dumps(body).encode())  # the CIK is looked up, then cached
    with statements(fleet) as sent:
        answer = rpc.process(fleet, json.dumps(body).encode())
    return answer, sent


def test_a_page_of_dataports_costs_the_same_few_statements_for_5_as_for_50(
    fleet: Fleet, admin: Principal, api: TestClient
) -> None:
    machine = _machine(fleet, admin)
    cik = fleet.telemetry.clients.device_client(admin, machine).cik
    assert cik is not None
    _add_dataports(fleet, admin, machine, 0, 5)
    few, few_sent = _native_page(fleet, api, machine)
    few_listed, few_onep = _onep_listing(fleet, cik)
    _add_dataports(fleet, admin, machine, 5, PAGE + 3)
    many, many_sent = _native_page(fleet, api, machine)
    many_listed, many_onep = _onep_listing(fleet, cik)

    assert len(few) == 5 and len(many) == PAGE
    assert len(many_sent) == len(few_sent) <= NATIVE_MOST, many_sent
    assert len(few_listed[0]["result"]["dataport"]) == 5
    assert len(many_listed[0]["result"]["dataport"]) == PAGE + 3
    assert len(many_onep) == len(few_onep) <= ONEP_MOST, many_onep

    # the page says what each dataport says on its own, in the order of aliases, then RIDs
    one_by_one = [
        api.get(f"/api/v1/machines/{machine}/dataports/{d['alias'] or d['rid']}").json() for d in many
    ]
    assert many == one_by_one
    aliased = [d for d in many if d["alias"] is not None]
    assert [d["alias"] for d in aliased] == sorted(d["alias"] for d in aliased)
    assert [d["rid"] for d in many[len(aliased) :]] == sorted(d["rid"] for d in many[len(aliased) :])
    with_points = next(d for d in many if d["alias"] == "port-001")
    assert (with_points["count"], with_points["last_value"], with_points["last_timestamp"]) == (3, 10, 101)


def test_paging_through_dataports_visits_each_once(fleet: Fleet, admin: Principal, api: TestClient) -> None:
    machine = _machine(fleet, admin)
    _add_dataports(fleet, admin, machine, 0, 23)
    everything = ok(api.get(f"/api/v1/machines/{machine}/dataports", params={"limit": PAGE}))["items"]
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = ok(api.get(f"/api/v1/machines/{machine}/dataports", params=params))
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything and len(seen) == 23
    assert sum(d["alias"] is None for d in seen) == 4
