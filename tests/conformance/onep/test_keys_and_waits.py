"""One Platform on each database, over the raw wire and through fleetport.onep: a malformed wait is a
bad request (status ``error``); a provisioned device's key has one activation state, whether its
owner activates it over RPC or the device through /provision/activate; tokens from ``grant`` are
kept only as hashes, go on working, and can be revoked."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, create_engine, select

from tests.conformance.onep.client import client_for
from tests.conformance.onep.conftest import OneP
from tests.conftest import RunningServer, fresh_pg_database, start_server, stop_server

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, str]]:
    """A real server on each database, with the URL of its database (to look at what it keeps)."""
    data_dir = Path(tmp_path_factory.mktemp("keys"))
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            url = stack.enter_context(fresh_pg_database())
            env = {"FLEETPORT_DATABASE_URL": url}
        else:
            url, env = f"sqlite:///{data_dir / 'fleetport.db'}", {}
        server = start_server(data_dir, env=env)
        stack.callback(stop_server, server)
        yield server, url


@pytest.fixture(scope="module")
def running(served: tuple[RunningServer, str]) -> RunningServer:
    """The server the ``onep`` fixture opens a fresh organization on."""
    return served[0]


# --- wait -------------------------------------------------------------------------------------


MALFORMED_WAITS: list[Any] = [
    {"timeout": "soon"},
    {"timeout": -1},
    {"timeout": True},
    {"timeout": [1000]},
    {"since": 12.5},
    {"since": "yesterday"},
    {"since": False},
    {"timeout": 100, "since": "0"},
    "not an object",
]


@pytest.mark.parametrize("options", MALFORMED_WAITS)
def test_a_malformed_wait_answers_error(onep: OneP, options: Any) -> None:
    port = onep.dataport("w")
    reply = onep.one("wait", [port, options])
    assert reply["status"] == "error", reply
    assert isinstance(reply["result"], str) and reply["result"]  # says what is wrong
    # the same through fleetport.onep, as pyonep returns it
    assert client_for(onep.server.url).wait(onep.cik, port, options) == (False, "error")


def test_wait_errors_are_per_call_and_an_unknown_resource_stays_invalid(onep: OneP) -> None:
    port = onep.dataport("w")
    onep.ok("record", [port, [[5000, 1.0]], {}])
    wrong_shape, unknown, good, no_arguments = onep.rpc(
        ("wait", [port, {"timeout": -5}]),
        ("wait", [{"alias": "nope"}, {"timeout": 10}]),
        ("wait", [port, {"timeout": 1000, "since": 4000}]),
        ("wait", []),
    )
    assert wrong_shape["status"] == "error"
    assert unknown == {"id": 1, "status": "invalid"}
    assert good == {"id": 2, "status": "ok", "result": [5000, 1.0]}
    assert no_arguments["status"] == "error"
    # well-formed edge values still wait: a zero timeout expires, a float timeout is milliseconds
    assert onep.one("wait", [port, {"timeout": 0}])["status"] == "expire"
    assert onep.one("wait", [port, {"timeout": 10.5, "since": None}])["status"] == "expire"


# --- activation of a provisioned device's key -------------------------------------------------


def enabled_serial(onep: OneP, sn: str) -> tuple[str, str, str]:
    """A vendor (named after the organization's key), its model of a template client and serial
    number ``sn`` of it enabled for the root client: the vendor name, the device client's RID and key."""
    vendor = "v" + onep.cik[:8]
    headers = {"X-Exosite-CIK": onep.cik, **FORM}
    http = onep.http
    template = onep.ok("create", ["client", {"name": "template"}])
    code = onep.ok("share", [template, {}])
    assert http.post("/provision/register", content=f"vendor={vendor}", headers=headers).status_code == 205
    created = http.post("/provision/manage/model/", content=f"model=m&code={code}", headers=headers)
    assert created.status_code == 205
    added = http.post("/provision/manage/model/m/", content=f"add=true&sn={sn}", headers=headers)
    assert added.status_code == 205
    enabled = http.post(
        f"/provision/manage/model/m/{sn}", content=f"enable=true&owner={onep.rid}", headers=headers
    )
    assert enabled.status_code == 200, enabled.text
    rid = enabled.text
    return vendor, rid, onep.ok("info", [rid, {"key": True}])["key"]


def serial_status(onep: OneP, sn: str) -> str:
    answer = onep.http.get(f"/provision/manage/model/m/{sn}", headers={"X-Exosite-CIK": onep.cik})
    assert answer.status_code == 200, answer.text
    return answer.text.split(",")[0]


def device_activates(onep: OneP, vendor: str, sn: str) -> Any:
    return onep.http.post(
        "/provision/activate",
        content=f"vendor={vendor}&model=m&sn={sn}",
        headers={"X-Exosite-CIK": "", **FORM},
    )


def key_works(onep: OneP, key: str) -> bool:
    return onep.post(json.dumps({"auth": {"cik": key}, "calls": []})) == []


def test_the_owner_activates_over_rpc_then_the_device_cannot(onep: OneP) -> None:
    vendor, rid, key = enabled_serial(onep, "1")
    assert serial_status(onep, "1") == "notactivated" and not key_works(onep, key)
    assert client_for(onep.server.url).activate(onep.cik, "client", key) == (True, "ok")
    assert serial_status(onep, "1") == "activated"
    assert onep.ok("info", [rid, {"basic": True}])["basic"]["status"] == "activated"
    refused = device_activates(onep, vendor, "1")
    assert refused.status_code == 409 and key not in refused.text  # the key is not handed out again
    assert key_works(onep, key)
    assert onep.one("activate", ["client", key])["status"] == "invalid"  # once only, either way


def test_the_device_activates_then_the_owner_cannot(onep: OneP) -> None:
    vendor, rid, key = enabled_serial(onep, "2")
    handed = device_activates(onep, vendor, "2")
    assert handed.status_code == 200 and handed.text == key
    assert serial_status(onep, "2") == "activated"
    assert onep.ok("info", [rid, {"basic": True}])["basic"]["status"] == "activated"
    assert client_for(onep.server.url).activate(onep.cik, "client", key) == (False, "invalid")
    assert device_activates(onep, vendor, "2").status_code == 409
    assert key_works(onep, key)


def test_a_reenabled_serial_number_awaits_one_activation_again(onep: OneP) -> None:
    vendor, _, key = enabled_serial(onep, "3")
    assert onep.one("activate", ["client", key])["status"] == "ok"
    headers = {"X-Exosite-CIK": onep.cik, **FORM}
    reenabled = onep.http.post("/provision/manage/model/m/3", content="enable=true", headers=headers)
    assert reenabled.status_code == 205, reenabled.text
    assert serial_status(onep, "3") == "notactivated" and not key_works(onep, key)
    new_key = device_activates(onep, vendor, "3").text
    assert new_key != key and key_works(onep, new_key) and serial_status(onep, "3") == "activated"
    assert onep.one("activate", ["client", new_key])["status"] == "invalid"


# --- tokens from grant ------------------------------------------------------------------------


def stored_anywhere(database_url: str, secret: str) -> list[str]:
    """The tables in which some row holds ``secret`` in any column."""
    engine = create_engine(database_url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            return [
                table.name
                for table in metadata.sorted_tables
                if any(secret in repr(tuple(row)) for row in conn.execute(select(table)))
            ]
    finally:
        engine.dispose()


def test_tokens_are_kept_as_hashes_and_work(onep: OneP, served: tuple[RunningServer, str]) -> None:
    client = client_for(onep.server.url)
    port = onep.dataport("t")
    ok, token = client.grant(onep.cik, onep.rid, {onep.rid: ["read", "write", "listing"]}, 600)
    assert ok and isinstance(token, str) and len(token) == 40
    assert client.write({"token": token}, {"alias": "t"}, 2.5) == (True, "ok")
    assert client.read({"token": token}, port, {"limit": 1})[1][0][1] == 2.5
    assert stored_anywhere(served[1], token) == []
    assert stored_anywhere(served[1], hashlib.sha256(token.encode()).hexdigest()) == ["telemetry_tokens"]


def test_revoking_a_token_by_itself_or_by_its_listed_id(onep: OneP) -> None:
    client = client_for(onep.server.url)
    onep.dataport("t")
    first = onep.ok("grant", [onep.rid, {onep.rid: ["read"]}])
    second = onep.ok("grant", [onep.rid, {onep.rid: ["read"]}])
    ids = onep.ok("listing", [{"alias": ""}, ["token"], {}])["token"]
    assert len(ids) == 2 and first not in ids and second not in ids
    # revoked by the token itself, through fleetport.onep
    assert client.revoke(onep.cik, "token", first) == (True, "ok")
    refused = onep.post(json.dumps({"auth": {"token": first}, "calls": []}))
    assert refused == {"error": {"code": 401, "message": "Invalid", "context": "auth"}}
    (left,) = onep.ok("listing", [{"alias": ""}, ["token"], {}])["token"]
    assert onep.one("read", [{"alias": "t"}, {}], auth={"token": second})["status"] == "ok"
    # a client outside the token's tree may not revoke it; an unknown one is invalid
    child = onep.ok("create", ["client", {"name": "child"}])
    child_key = onep.ok("info", [child, {"key": True}])["key"]
    assert onep.one("revoke", ["token", left], auth={"cik": child_key})["status"] == "noauth"
    assert onep.one("revoke", ["token", first])["status"] == "invalid"  # gone already
    assert onep.one("revoke", ["token", "not a token"])["status"] == "invalid"
    # revoked by the id listing showed
    assert onep.one("revoke", ["token", left])["status"] == "ok"
    assert onep.ok("listing", [{"alias": ""}, ["token"], {}])["token"] == []
    assert "error" in onep.post(json.dumps({"auth": {"token": second}, "calls": []}))


@pytest.mark.parametrize("revoked", ["token", "client"])
def test_a_wait_whose_credential_is_revoked_meanwhile_answers_noauth(onep: OneP, revoked: str) -> None:
    """The point that arrives after the token or CIK was revoked is not handed to the waiter."""
    child = onep.ok("create", ["client", {"name": "device"}])
    device_cik = onep.ok("info", [child, {"key": True}])["key"]
    device = OneP(onep.server, onep.http, device_cik, child)
    device.dataport("t")
    token = device.ok("grant", [child, {child: ["read", "write", "wait"]}, {"ttl": 300}])
    auth = {"token": token} if revoked == "token" else {"cik": device_cik}
    answers: list[Any] = []

    def wait() -> None:
        with httpx.Client(base_url=onep.server.url, timeout=30) as http:
            waiter = OneP(onep.server, http, device_cik, child)
            answers.append(waiter.one("wait", [{"alias": "t"}, {"timeout": 10_000}], auth=auth))

    waiting = threading.Thread(target=wait)
    waiting.start()
    time.sleep(1.0)  # the wait is under way
    if revoked == "token":
        assert device.one("revoke", ["token", token])["status"] == "ok"
    else:
        assert onep.one("revoke", ["client", device_cik])["status"] == "ok"
    written = onep.one("write", [{"alias": "t"}, 1.5], auth={"cik": onep.cik, "client_id": child})
    assert written["status"] == "ok", written
    waiting.join(20)
    (answer,) = answers
    assert answer["status"] == "noauth" and "result" not in answer, answer
