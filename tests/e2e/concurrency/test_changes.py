"""Concurrent changes that read what they change: activations of serial numbers and shares, a
machine's first device client, config history, the main part, invite counts and aliases. One
request wins where one may; no change is lost; nothing deadlocks.
"""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import httpx

from tests.e2e.concurrency.helpers import (
    ADMIN,
    FORM,
    WRITERS,
    Machine,
    Servers,
    hammer,
    new_dataport,
    new_machine,
    ok,
    rpc,
    rpc_ok,
)

ROUNDS = 10  # a race one try may miss

# --- provisioning and shares ---------------------------------------------------------------------


def _provisioned(servers: Servers, machine: Machine, serials: list[str]) -> tuple[str, str]:
    """A vendor (the device client) with model ``m`` whose serial numbers are enabled; the vendor
    name and the vendor client's key."""
    cik = machine.cik
    with servers.client() as http:
        (template,) = rpc(http, cik, ("create", ["client", {"limits": {}}]))
        assert template["status"] == "ok", template
        (owner,) = rpc(http, cik, ("create", ["client", {"limits": {}}]))
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
            (info,) = rpc(http, handed[0], ("info", [{"alias": ""}, {"basic": True}]))
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
    new_dataport(servers, machine, "shared")
    with servers.client() as http:
        (share,) = rpc(http, machine.cik, ("share", [{"alias": "shared"}, {}]))
        assert share["status"] == "ok", share
        code = share["result"]
        activators = []
        for _ in range(WRITERS):
            (made,) = rpc(http, machine.cik, ("create", ["client", {"limits": {}}]))
            (cik,) = rpc(http, machine.cik, ("info", [made["result"], {"key": True}]))
            activators.append(cik["result"]["key"])

    def activate(http: httpx.Client, writer: int, _n: int) -> bool:
        return rpc_ok(http, activators[writer], ("activate", ["share", code]))

    acknowledged = hammer(servers, activate, writes=1)
    assert len(acknowledged) == 1
    servers.check_logs()


# --- read-modify-writes of the fleet -------------------------------------------------------------


def test_first_use_makes_one_device_client(servers: Servers) -> None:
    """Dataports made at once on a machine that has no device client yet: one client is made, and
    every dataport lands in it."""
    machine = new_machine(servers, device_client=False)
    path = f"/api/v1/machines/{machine.id}/dataports"

    def create(http: httpx.Client, _writer: int, n: int) -> bool:
        reply = http.post(path, json={"alias": f"p{n}", "format": "float"}, headers=ADMIN)
        assert reply.status_code == 201, reply.text
        return True

    made = hammer(servers, create, writes=2)
    with servers.client() as http:
        listed = ok(http.get(path, params={"limit": 100}, headers=ADMIN))["items"]
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
        history = ok(http.get(path + "/history", params={"limit": 500}, headers=ADMIN))["items"]
        current = ok(http.get(path, headers=ADMIN))["config"]
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
                ok(http.post(f"/api/v1/machines/{machine.id}/parts", json=body, headers=ADMIN), 201)["id"]
            )

    def promote(http: httpx.Client, writer: int, n: int) -> bool:
        part = parts[(writer + n) % len(parts)]
        reply = http.patch(f"/api/v1/parts/{part}", json={"main_part": True}, headers=ADMIN)
        assert reply.status_code == 200, reply.text
        return True

    hammer(servers, promote, writes=3)
    with servers.client() as http:
        listed = ok(http.get(f"/api/v1/machines/{machine.id}/parts", headers=ADMIN))
    listed = listed["items"] if isinstance(listed, dict) else listed
    assert sum(1 for part in listed if part["main_part"]) == 1
    servers.check_logs()


def test_invite_resends_are_all_counted(servers: Servers, machine: Machine) -> None:
    with servers.client() as http:
        org = ok(http.get(f"/api/v1/machines/{machine.id}", headers=ADMIN))["organization_id"]
        grant = {"role": "operator", "resource_type": "organization", "resource_id": org}
        body = {"email": "new@example.com", "authorizations": [grant]}
        invite = ok(http.post(f"/api/v1/organizations/{org}/invites", json=body, headers=ADMIN), 201)
    path = f"/api/v1/organizations/{org}/invites/{invite['id']}/resend"

    def resend(http: httpx.Client, _writer: int, _n: int) -> bool:
        return http.post(path, headers=ADMIN).status_code == 200

    sent = hammer(servers, resend, writes=3)
    with servers.client() as http:
        listed = ok(http.get(f"/api/v1/organizations/{org}/invites", headers=ADMIN))["items"]
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
        assert len(ok(http.get(path, params={"limit": 100}, headers=ADMIN))["items"]) == 1
    servers.check_logs()


def test_one_user_and_one_namespace_per_name(servers: Servers, machine: Machine) -> None:
    """Users asked for at once under one email, organizations under one public namespace: one of
    each is made, the other requests are told it is taken."""
    suffix = machine.id[-8:]
    codes: dict[str, list[int]] = {"user": [], "organization": []}

    def create(http: httpx.Client, writer: int, _n: int) -> bool:
        if writer % 2:
            body = {"email": f"u{suffix}@example.com", "password": "long enough"}
            kind, reply = "user", http.post("/api/v1/users", json=body, headers=ADMIN)
        else:
            body = {"name": "Same", "public_namespace": f"ns{suffix}"}
            kind, reply = "organization", http.post("/api/v1/organizations", json=body, headers=ADMIN)
        codes[kind].append(reply.status_code)
        return reply.status_code == 201

    assert len(hammer(servers, create, writes=1)) == 2
    for kind in codes:
        assert sorted(codes[kind]) == [201] + [409] * (WRITERS // 2 - 1), kind
    servers.check_logs()


def test_a_location_is_shared_once_with_an_organization(servers: Servers, machine: Machine) -> None:
    """Shares of one location with one organization asked for at once (several rounds, a new
    organization each): one is made, the others are told it exists."""
    with servers.client() as http:
        location = ok(http.get(f"/api/v1/machines/{machine.id}", headers=ADMIN))["location_id"]
        guests = [
            ok(http.post("/api/v1/organizations", json={"name": f"Guest {i}"}, headers=ADMIN), 201)["id"]
            for i in range(ROUNDS)
        ]
    for guest in guests:
        codes: list[int] = []

        def share(
            http: httpx.Client, _writer: int, _n: int, guest: str = guest, codes: list[int] = codes
        ) -> bool:
            body = {"organization_id": guest}
            reply = http.post(f"/api/v1/locations/{location}/shares", json=body, headers=ADMIN)
            codes.append(reply.status_code)
            return reply.status_code == 204

        assert len(hammer(servers, share, writes=1)) == 1
        assert sorted(codes) == [204] + [409] * (WRITERS - 1)
    with servers.client() as http:
        for guest in guests:
            params = {"organization_id": guest}
            listed = ok(http.get("/api/v1/locations", params=params, headers=ADMIN))["items"]
            assert [item["id"] for item in listed] == [location]
    servers.check_logs()
