"""The One Platform procedures beyond the basics, against a real server: codes (share, activate,
deactivate, revoke), tokens from grant, move, tag, usage, writegroup, read windows, preprocess and
subscribe, datarules, dispatches, clone, and wait as a long poll with concurrent writers."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conformance.onep.conftest import HEADERS, OneP

INFINITE = {"count": "infinity", "duration": "infinity"}


def child_client(onep: OneP) -> tuple[str, str]:
    rid = onep.ok("create", ["client", {"name": "child"}])
    return rid, onep.ok("info", [rid, {"key": True}])["key"]


def test_share_activate_lookup_and_revoke(onep: OneP) -> None:
    port = onep.dataport("shared")
    onep.ok("write", [port, 21.5, {}])
    _, other_cik = child_client(onep)
    code = onep.ok("share", [port, {"meta": "for the child"}])
    assert isinstance(code, str) and len(code) == 40
    assert onep.ok("lookup", ["shared", code]) == port
    info = onep.ok("info", [port, {"shares": True}])
    assert info == {"shares": [{"activator": None, "code": code, "meta": "for the child"}]}
    other = {"cik": other_cik}
    # the child does not reach the parent's dataport until it activates the share
    assert onep.one("read", [port, {}], auth=other)["status"] == "restricted"
    assert onep.one("activate", ["share", code], auth=other)["status"] == "ok"
    assert onep.one("activate", ["share", code], auth=other)["status"] == "invalid"  # used already
    assert onep.ok("read", [port, {}], auth=other)[0][1] == 21.5
    assert onep.ok("listing", [["dataport"], {"activated": True}], auth=other) == {"dataport": [port]}
    # reading only: a write through the share is refused
    assert onep.one("write", [port, 1.0, {}], auth=other)["status"] == "restricted"
    assert onep.ok("info", [port, {"shares": True}])["shares"][0]["activator"] is not None
    assert onep.one("deactivate", ["share", code], auth=other)["status"] == "ok"
    assert onep.one("read", [port, {}], auth=other)["status"] == "restricted"
    assert onep.one("revoke", ["share", code], auth=other)["status"] == "noauth"  # not the child's share
    assert onep.one("revoke", ["share", code])["status"] == "ok"
    assert onep.one("lookup", ["shared", code])["status"] == "invalid"
    assert onep.one("revoke", ["share", code])["status"] == "invalid"


def test_client_keys_revoke_deactivate_activate(onep: OneP) -> None:
    rid, key = child_client(onep)
    assert onep.one("revoke", ["client", key])["status"] == "ok"
    new_key = onep.ok("info", [rid, {"key": True}])["key"]
    assert new_key != key
    assert "error" in onep.post(json.dumps({"auth": {"cik": key}, "calls": []}))
    assert (
        onep.ok("info", [{"alias": ""}, {"basic": True}], auth={"cik": new_key})["basic"]["status"]
        == "activated"
    )
    # the child cannot revoke or deactivate its own parent's key
    assert onep.one("revoke", ["client", onep.cik], auth={"cik": new_key})["status"] == "noauth"
    assert onep.one("activate", ["client", new_key])["status"] == "invalid"  # already activated
    assert onep.one("deactivate", ["client", new_key])["status"] == "ok"
    expired = onep.post(json.dumps({"auth": {"cik": new_key}, "calls": []}))
    assert expired == {"error": {"code": 401, "message": "Expired", "context": "auth"}}
    assert onep.ok("info", [rid, {"basic": True}])["basic"]["status"] == "expired"
    assert onep.one("activate", ["nonsense", "x"])["status"] == "invalid"


def test_grant_token_as_in_pyonep(onep: OneP) -> None:
    token = onep.ok("grant", [onep.rid, {onep.rid: ["read", "write"]}, {"ttl": 1000}])
    assert isinstance(token, str) and len(token) == 40
    onep.dataport("message", "string")
    auth = {"token": token}
    assert onep.one("write", [{"alias": "message"}, "你好", {}], auth=auth)["status"] == "ok"
    assert onep.ok("read", [{"alias": "message"}, {"limit": 1}], auth=auth)[0][1] == "你好"
    # outside the token's permissions
    assert onep.one("flush", [{"alias": "message"}], auth=auth)["status"] == "restricted"
    assert onep.one("create", ["dataport", {"format": "float", "retention": INFINITE}], auth=auth)[
        "status"
    ] == ("restricted")
    (listed,) = onep.ok("listing", [{"alias": ""}, ["token"], {}])["token"]  # its id: the token is not kept
    assert len(listed) == 40 and listed != token
    # a token limited to one dataport
    port = onep.dataport("only")
    narrow = onep.ok("grant", [{"alias": ""}, {"only": ["read"]}])
    assert onep.one("read", [port, {}], auth={"token": narrow})["status"] == "ok"
    assert onep.one("read", [{"alias": "message"}, {}], auth={"token": narrow})["status"] == "restricted"
    # bad grants
    assert onep.one("grant", [onep.rid, {onep.rid: ["fly"]}])["status"] == "invalid"
    assert onep.one("grant", [onep.rid, {"0" * 40: ["read"]}])["status"] == "restricted"
    assert onep.one("grant", [onep.rid, {onep.rid: ["read"]}, {"ttl": -5}])["status"] == "invalid"
    # an expired token is refused at the request level
    short = onep.ok("grant", [onep.rid, {onep.rid: ["read"]}, {"ttl": 1}])
    time.sleep(2.1)
    expired = onep.post(json.dumps({"auth": {"token": short}, "calls": []}))
    assert expired == {"error": {"code": 401, "message": "Expired", "context": "auth"}}
    unknown = onep.post(json.dumps({"auth": {"token": "f" * 40}, "calls": []}))
    assert unknown["error"]["code"] == 401


def test_move_tag_and_usage(onep: OneP) -> None:
    a, a_key = child_client(onep)
    b, _ = child_client(onep)
    port = onep.ok("create", ["dataport", {"format": "float", "retention": INFINITE}], auth={"cik": a_key})
    onep.ok("map", ["alias", port, "p"], auth={"cik": a_key})
    assert onep.one("move", [port, b, {"aliases": True}])["status"] == "ok"
    assert onep.ok("lookup", ["owner", port]) == b
    assert onep.ok("lookup", ["alias", "p"], auth={"cik": onep.cik, "client_id": b}) == port
    assert onep.one("move", [a, a])["status"] == "invalid"  # not under itself
    assert onep.one("move", [onep.rid, a])["status"] == "restricted"  # the caller itself
    # tags
    assert onep.one("tag", [port, "add", "hot"])["status"] == "ok"
    assert onep.ok("info", [port, {"tags": True}]) == {"tags": ["hot"]}
    assert onep.ok("listing", [b, ["dataport"], {"tagged": ["hot"]}]) == {"dataport": [port]}
    assert onep.ok("listing", [b, ["dataport"], {"tagged": ["cold"]}]) == {"dataport": []}
    assert onep.one("tag", [port, "remove", "cold"])["status"] == "badarg"
    assert onep.one("tag", [port, "paint", "x"])["status"] == "badarg"
    assert onep.one("tag", [port, "remove", "hot"])["status"] == "ok"
    # usage: entity-seconds and consumables
    now = int(time.time())
    assert onep.ok("usage", [{"alias": ""}, "dataport", now - 10, now + 10]) >= 0
    onep.ok("share", [port, {}])
    assert onep.ok("usage", [{"alias": ""}, "share", now - 10, now + 10]) == 1
    assert onep.one("usage", [{"alias": ""}, "coffee", 0, now])["status"] == "invalid"
    assert onep.one("usage", [{"alias": ""}, "share", now, 0])["status"] == "invalid"


def test_writegroup_is_all_or_nothing(onep: OneP) -> None:
    x, y = onep.dataport("x"), onep.dataport("y", "integer")
    assert onep.one("writegroup", [[[{"alias": "x"}, 1.5], [y, 7]]])["status"] == "ok"
    (tx, vx), (ty, vy) = onep.ok("read", [x, {}])[0], onep.ok("read", [y, {}])[0]
    assert (vx, vy) == (1.5, 7) and tx == ty
    assert onep.one("writegroup", [[[x, 2.5], [y, "not a number"]]])["status"] == "invalid"
    assert onep.ok("read", [x, {}])[0][1] == 1.5  # nothing written
    assert onep.one("writegroup", [[]])["status"] == "invalid"
    assert onep.one("writegroup", [[[x]]])["status"] == "invalid"


def test_read_selections(onep: OneP) -> None:
    port = onep.dataport("w", "integer")
    onep.ok("recordbatch", [port, [[t, t] for t in range(1000, 1100)]])
    window = onep.ok(
        "read", [port, {"starttime": 1000, "endtime": 1099, "limit": 10, "selection": "givenwindow"}]
    )
    assert [ts for ts, _ in window] == [1099, 1089, 1079, 1069, 1059, 1049, 1039, 1029, 1019, 1009]
    auto = onep.ok(
        "read",
        [port, {"starttime": 1000, "endtime": 1099, "limit": 4, "selection": "autowindow", "sort": "asc"}],
    )
    assert [ts for ts, _ in auto] == [1000, 1025, 1050, 1075]
    few = onep.ok(
        "read", [port, {"starttime": 1000, "endtime": 1002, "limit": 10, "selection": "autowindow"}]
    )
    assert [ts for ts, _ in few] == [1002, 1001, 1000]
    assert onep.one("read", [port, {"selection": "sometimes"}])["status"] == "invalid"


def test_preprocess_and_subscribe(onep: OneP) -> None:
    celsius = onep.dataport("celsius")
    fahrenheit = onep.ok(
        "create",
        [
            "dataport",
            {
                "format": "float",
                "retention": INFINITE,
                "subscribe": celsius,
                "preprocess": [["mul", 1.8], ["add", 32]],
            },
        ],
    )
    onep.ok("write", [celsius, 100, {}])
    assert onep.ok("read", [fahrenheit, {}])[0][1] == 212.0
    assert onep.ok("info", [celsius, {"subscribers": True}]) == {"subscribers": [fahrenheit]}
    bad = ["dataport", {"format": "float", "retention": INFINITE, "preprocess": [["pow", 2]]}]
    assert onep.one("create", bad)["status"] == "invalid"
    onep.ok("update", [fahrenheit, {"subscribe": None}])
    onep.ok("write", [celsius, 0, {}])
    assert onep.ok("read", [fahrenheit, {}])[0][1] == 212.0


def test_datarules(onep: OneP) -> None:
    temp = onep.dataport("temp")
    hot = onep.ok(
        "create",
        [
            "datarule",
            {
                "format": "integer",
                "subscribe": temp,
                "rule": {"simple": {"comparison": "gt", "constant": 30, "repeat": False}},
            },
        ],
    )
    onep.ok("recordbatch", [temp, [[1000, 20], [1001, 35], [1002, 36], [1003, 10]]])
    assert onep.ok("read", [hot, {"limit": 10, "sort": "asc", "starttime": 0}]) == [
        [1000, 0],
        [1001, 1],
        [1003, 0],
    ]
    burst = onep.ok(
        "create",
        [
            "datarule",
            {
                "subscribe": temp,
                "rule": {
                    "count": {"comparison": "geq", "constant": 50, "count": 3, "timeout": 60, "repeat": False}
                },
            },
        ],
    )
    onep.ok("recordbatch", [temp, [[2000, 50], [2010, 60], [2100, 70], [2110, 80], [2120, 90]]])
    assert onep.ok("read", [burst, {"limit": 10, "sort": "asc"}]) == [[2000, 0], [2120, 1]]
    silent = onep.ok(
        "create", ["datarule", {"subscribe": temp, "rule": {"timeout": {"timeout": 1, "repeat": False}}}]
    )
    deadline = time.time() + 10
    while time.time() < deadline and not onep.ok("read", [silent, {"limit": 5}]):
        time.sleep(0.2)
    (fired,) = onep.ok("read", [silent, {"limit": 5}])
    assert fired[1] == 1  # the server's clock fired it: no point for a second
    script = onep.one("create", ["datarule", {"subscribe": temp, "rule": {"script": "print(1)"}}])
    assert script["status"] == "fail" and script["error"]["code"] == 501
    assert "script" in script["error"]["message"].lower()
    no_rule = onep.one("create", ["datarule", {"rule": {"simple": {"comparison": "about", "constant": 1}}}])
    assert no_rule["status"] == "invalid"


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append((self.command, self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recipient() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Recorder", (_Recorder,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def test_dispatches_send_http(onep: OneP, recipient: tuple[str, list[tuple[str, str, bytes]]]) -> None:
    url, received = recipient
    alarm = onep.dataport("alarm", "string")
    post = onep.ok(
        "create", ["dispatch", {"method": "http_post", "recipient": f"{url}/hook", "subscribe": alarm}]
    )
    onep.ok(
        "create", ["dispatch", {"method": "http_get", "recipient": f"{url}/ping?x=1", "subscribe": alarm}]
    )
    onep.ok("write", [alarm, "fire!", {}])
    deadline = time.time() + 10
    while time.time() < deadline and len(received) < 2:
        time.sleep(0.1)
    assert sorted(received) == [("GET", "/ping?x=1", b""), ("POST", "/hook", b"fire!")]
    assert onep.ok("read", [post, {}])[0][1] == "fire!"
    now = int(time.time())
    assert onep.ok("usage", [{"alias": ""}, "http", now - 60, now + 60]) == 2
    email = onep.one("create", ["dispatch", {"method": "email", "recipient": "ops@example.com"}])
    assert email["status"] == "fail" and email["error"]["code"] == 501
    assert (
        onep.one("create", ["dispatch", {"method": "http_post", "recipient": "ftp://x"}])["status"]
        == "invalid"
    )


def test_clone_copies_a_client(onep: OneP) -> None:
    template, key = child_client(onep)
    port = onep.ok("create", ["dataport", {"format": "float", "retention": INFINITE}], auth={"cik": key})
    onep.ok("map", ["alias", port, "t"], auth={"cik": key})
    onep.ok("record", [port, [[100, 1.0], [200, 2.0]], {}], auth={"cik": key})
    copy = onep.ok("create", ["clone", {"rid": template}])
    copy_key = onep.ok("info", [copy, {"key": True}])["key"]
    assert copy != template and copy_key != key
    copied = onep.ok("lookup", ["alias", "t"], auth={"cik": copy_key})
    assert copied != port
    assert onep.ok("read", [copied, {"limit": 5, "sort": "asc"}], auth={"cik": copy_key}) == [
        [100, 1.0],
        [200, 2.0],
    ]
    bare = onep.ok("create", ["clone", {"rid": template, "noaliases": True, "nohistorical": True}])
    bare_key = onep.ok("info", [bare, {"key": True}])["key"]
    assert onep.one("lookup", ["alias", "t"], auth={"cik": bare_key})["status"] == "invalid"
    (bare_port,) = onep.ok("listing", [["dataport"], {}], auth={"cik": bare_key})["dataport"]
    assert onep.ok("read", [bare_port, {}], auth={"cik": bare_key}) == []
    code = onep.ok("share", [template, {}])
    assert len(onep.ok("create", ["clone", {"code": code}])) == 40
    assert onep.one("create", ["clone", {"rid": port}])["status"] == "invalid"  # not a client


def test_wait_long_poll(onep: OneP) -> None:
    port = onep.dataport("w")
    # expire
    started = time.monotonic()
    assert onep.one("wait", [port, {"timeout": 500}]) == {"id": 0, "status": "expire"}
    assert 0.4 < time.monotonic() - started < 5
    # a point after since exists already: at once
    onep.ok("record", [port, [[5000, 1.0]], {}])
    assert onep.ok("wait", [port, {"timeout": 10000, "since": 4000}]) == [5000, 1.0]

    # woken by concurrent writers: they keep writing until every waiter has its point
    clients = [httpx.Client(base_url=onep.server.url, timeout=30) for _ in range(20)]
    body = {
        "auth": {"cik": onep.cik},
        "calls": [{"id": 1, "procedure": "wait", "arguments": [{"alias": "w"}, {"timeout": 20000}]}],
    }

    def waiter(http: httpx.Client) -> Any:
        return http.post("/onep:v1/rpc/process", content=json.dumps(body), headers=HEADERS).json()

    started = time.monotonic()
    with ThreadPoolExecutor(len(clients)) as pool:
        waiting = [pool.submit(waiter, http) for http in clients]
        value = 0
        while not all(w.done() for w in waiting) and time.monotonic() - started < 15:
            with ThreadPoolExecutor(4) as writers:
                list(writers.map(lambda v: onep.ok("write", [port, float(v), {}]), range(value, value + 4)))
            value += 4
            time.sleep(0.2)
        answers = [w.result(timeout=30) for w in waiting]
    for client in clients:
        client.close()
    assert time.monotonic() - started < 15  # woken, not expired after 20 s
    for (answer,) in answers:
        assert answer["id"] == 1 and answer["status"] == "ok"
        ts, got = answer["result"]
        assert got in [float(v) for v in range(value)] and abs(ts - time.time()) < 30
    assert onep.one("wait", [port, {"timeout": "soon"}])["status"] == "error"  # a bad request
    assert onep.one("wait", [{"alias": "nope"}, {"timeout": 10}])["status"] == "invalid"


def test_a_wait_given_up_by_its_caller_ends(onep: OneP) -> None:
    port = onep.dataport("gone")
    body = {
        "auth": {"cik": onep.cik},
        "calls": [{"id": 1, "procedure": "wait", "arguments": [port, {"timeout": 60000}]}],
    }
    with httpx.Client(base_url=onep.server.url, timeout=0.5) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/onep:v1/rpc/process", content=json.dumps(body), headers=HEADERS)
    deadline = time.monotonic() + 15  # the server notices the closed connection within seconds
    while "POST /onep:v1/rpc/process 499 " not in onep.server.log_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "POST /onep:v1/rpc/process 499 " in onep.server.log_text()
    onep.ok("write", [port, 1.0, {}])
    assert onep.ok("wait", [port, {"timeout": 1000, "since": 0}])[1] == 1.0


def test_a_provisioned_key_works_only_once_activated(onep: OneP) -> None:
    template, _ = child_client(onep)
    code = onep.ok("share", [template, {}])
    prov = {"X-Exosite-CIK": onep.cik}
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    http = onep.http
    assert (
        http.post(
            "/provision/register", content="vendor=v" + onep.cik[:8], headers={**prov, **form}
        ).status_code
        == 205
    )
    assert (
        http.post(
            "/provision/manage/model/", content=f"model=m&code={code}", headers={**prov, **form}
        ).status_code
        == 205
    )
    assert (
        http.post("/provision/manage/model/m/", content="add=true&sn=1", headers={**prov, **form}).status_code
        == 205
    )
    rid = http.post(
        "/provision/manage/model/m/1", content=f"enable=true&owner={onep.rid}", headers={**prov, **form}
    ).text
    key = onep.ok("info", [rid, {"key": True}])["key"]
    refused = onep.post(json.dumps({"auth": {"cik": key}, "calls": []}))
    assert refused == {"error": {"code": 401, "message": "Invalid", "context": "auth"}}
    assert onep.ok("info", [rid, {"basic": True}])["basic"]["status"] == "notactivated"
    assert onep.one("activate", ["client", key])["status"] == "ok"  # the owner activates it over RPC
    assert onep.post(json.dumps({"auth": {"cik": key}, "calls": []})) == []
