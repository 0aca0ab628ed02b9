"""fleetport.onep against a real server (the procedures the One Platform dialect serves), and against
a capture server for what a real server cannot show: the exact bytes of every request, how replies of
every shape are read, timeouts and connection reuse."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fleetport.onep import DeferredRequests, OnepV1, Provision, ProvisionResponse
from fleetport.onep.exceptions import (
    JsonRPCRequestException,
    OneException,
    OnePlatformException,
    ProvisionException,
)
from tests.conformance.onep.client import (
    INFINITE,
    KEY,
    PROVISION_CALLS,
    RPC_CALLS,
    Canned,
    CaptureServer,
    Root,
    capture_server,
    client_for,
    key_header,
    open_root,
)
from tests.conftest import RunningServer, free_port

CIK = "c0ffee00" * 5


@pytest.fixture
def root(server: RunningServer) -> Root:
    return open_root(server)


@pytest.fixture
def onep(server: RunningServer) -> Iterator[OnepV1]:
    client = client_for(server.url)
    yield client
    client.close()


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with capture_server() as running:
        yield running


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """A fresh class-level request log for the test."""
    fresh: list[dict[str, Any]] = []
    monkeypatch.setattr(OnepV1, "_loggedrequests", fresh)
    return fresh


def is_rid(value: object) -> bool:
    return isinstance(value, str) and len(value) == 40 and all(c in "0123456789abcdef" for c in value)


# -- against a real server


def test_dataport_create_map_write_read(onep: OnepV1, root: Root) -> None:
    ok, rid = onep.createDataport(root.cik, {"format": "integer", "retention": INFINITE})
    assert ok is True and is_rid(rid)
    assert onep.map(root.cik, rid, "n") == (True, "ok")
    assert onep.lookup(root.cik, "alias", "n") == (True, rid)
    assert onep.lookup(root.cik, "alias", "") == (True, root.rid)
    assert onep.lookup(root.cik, "owner", rid) == (True, root.rid)
    assert onep.write(root.cik, {"alias": "n"}, 42) == (True, "ok")
    ok, points = onep.read(root.cik, {"alias": "n"}, {})
    assert ok is True
    [[ts, value]] = points
    assert value == 42 and abs(ts - time.time()) < 10
    assert onep.info(root.cik, rid, {"description": True}) == (
        True,
        {
            "description": {
                "format": "integer",
                "retention": INFINITE,
                "name": "",
                "meta": "",
                "public": False,
                "preprocess": [],
                "subscribe": None,
            }
        },
    )
    ok, everything = onep.info(root.cik, rid)  # options {} means all of them
    assert ok is True and {"basic", "description", "storage"} <= set(everything)
    assert everything["basic"]["type"] == "dataport"
    assert onep.unmap(root.cik, "n") == (True, "ok")
    assert onep.lookup(root.cik, "alias", "n") == (False, "invalid")
    assert onep.read(root.cik, {"alias": "n"}, {}) == (False, "invalid")


def test_listing_three_forms(onep: OnepV1, root: Root) -> None:
    ok, rid = onep.create(root.cik, "dataport", {"format": "float", "retention": INFINITE})
    assert ok is True
    assert onep.listing(root.cik, ["client", "dataport"], {}, {"alias": ""}) == (
        True,
        {"client": [], "dataport": [rid]},
    )
    assert onep.listing(root.cik, ["dataport"], {"owned": True}) == (True, {"dataport": [rid]})
    assert onep.listing(root.cik, ["client", "dataport"]) == (True, [[], [rid]])
    ok, error = onep.listing(root.cik, ["gadget"], {}, {"alias": ""})
    assert ok is False and error == "error"


def test_non_ascii_alias_and_values(onep: OnepV1, root: Root, logged: list[dict[str, Any]]) -> None:
    alias = "température-温度"
    ok, rid = onep.createDataport(root.cik, {"format": "string", "retention": INFINITE, "name": "Ünïcode"})
    assert ok is True
    assert onep.map(root.cik, rid, alias) == (True, "ok")
    assert onep.lookup(root.cik, "alias", alias) == (True, rid)
    text = "你好, wörld ✓ 🚀"
    assert onep.write(root.cik, {"alias": alias}, text) == (True, "ok")
    ok, [[_, value]] = onep.read(root.cik, {"alias": alias}, {})
    assert (ok, value) == (True, text)
    assert onep.info(root.cik, {"alias": ""}, {"aliases": True}) == (True, {"aliases": {rid: [alias]}})
    assert onep.info(root.cik, rid, {"description": True})[1]["description"]["name"] == "Ünïcode"


def test_record_recordbatch_partial_failure(onep: OnepV1, root: Root) -> None:
    _, rid = onep.createDataport(root.cik, {"format": "integer", "retention": INFINITE})
    onep.map(root.cik, rid, "n")
    points: list[list[Any]] = [[1421906170, 1], [1421906172, "nope"], [1421906173, 3], [1421906174, "x"]]
    assert onep.recordbatch(root.cik, {"alias": "n"}, points) == (
        False,
        [[1421906172, "invalid"], [1421906174, "invalid"]],
    )
    assert onep.read(root.cik, {"alias": "n"}, {"limit": 10, "sort": "asc"}) == (
        True,
        [[1421906170, 1], [1421906173, 3]],
    )
    assert onep.recordbatch(root.cik, rid, [[1, 1], [2, 2]]) == (True, "ok")
    assert onep.record(root.cik, rid, [[5, 5], [6, "x"]]) == (False, "invalid")  # all or nothing
    assert onep.record(root.cik, rid, [(5, 5), (6, 6)]) == (True, "ok")  # tuples are sent as arrays
    assert onep.read(root.cik, rid, {"starttime": 1, "endtime": 6, "limit": 10, "sort": "asc"}) == (
        True,
        [[1, 1], [2, 2], [5, 5], [6, 6]],
    )


def test_flush_update_drop(onep: OnepV1, root: Root) -> None:
    _, rid = onep.createDataport(root.cik, {"format": "integer", "retention": INFINITE})
    onep.recordbatch(root.cik, rid, [[t, t] for t in range(1, 11)])
    assert onep.flush(root.cik, rid, {"newerthan": 3, "olderthan": 6}) == (True, "ok")
    _, points = onep.read(root.cik, rid, {"limit": 20, "sort": "asc"})
    assert [ts for ts, _ in points] == [1, 2, 3, 6, 7, 8, 9, 10]
    assert onep.update(root.cik, rid, {"name": "renamed"}) == (True, "ok")
    assert onep.info(root.cik, rid, {"description": True})[1]["description"]["name"] == "renamed"
    assert onep.update(root.cik, rid, {"format": "string"}) == (False, "invalid")
    assert onep.flush(root.cik, rid) == (True, "ok")
    assert onep.read(root.cik, rid, {"limit": 20}) == (True, [])
    assert onep.drop(root.cik, rid) == (True, "ok")
    assert onep.info(root.cik, rid) == (False, "restricted")
    assert onep.drop(root.cik, {"alias": ""}) == (False, "restricted")


def test_bad_arguments_are_a_failed_status(onep: OnepV1, root: Root) -> None:
    """A call the server refuses is (False, <status>), not an exception."""
    ok, status = onep.read(root.cik, 12345, {})  # type: ignore[call-overload]
    assert ok is False and status in ("invalid", "fail")


def test_connect_as_and_connect_owner(onep: OnepV1, root: Root, logged: list[dict[str, Any]]) -> None:
    onep.logrequests = True
    ok, child = onep.create(root.cik, "client", {"name": "dev", "limits": {"dataport": "inherit"}})
    assert ok is True and is_rid(child)
    ok, info = onep.info(root.cik, child, {"key": True, "basic": True})
    assert ok is True and info["basic"]["status"] == "activated"
    child_cik = info["key"]

    onep.connect_as(child)
    ok, port = onep.createDataport(root.cik, {"format": "integer", "retention": {"count": 10, "duration": 1}})
    assert ok is True
    assert logged[-1]["auth"] == {"cik": root.cik, "client_id": child}
    assert onep.lookup(root.cik, "alias", "") == (True, child)

    onep.connect_owner(port)
    assert logged[-1]["auth"] == {"cik": root.cik, "client_id": child}  # nothing sent yet
    ok, described = onep.info(root.cik, port, {"description": True})
    assert ok is True and described["description"]["retention"] == {"count": 10, "duration": 1}
    assert logged[-1]["auth"] == {"cik": root.cik, "resource_id": port}

    onep.connect_owner(None)
    assert onep.lookup(root.cik, "owner", port) == (True, child)
    assert logged[-1]["auth"] == {"cik": root.cik}
    # a dict auth is sent as is, and is not touched by connect_as
    onep.connect_as(child)
    assert onep.lookup({"cik": child_cik}, "alias", "") == (True, child)
    assert logged[-1]["auth"] == {"cik": child_cik}
    onep.connect_as(None)
    assert onep.lookup(root.cik, "alias", "") == (True, root.rid)


def test_defer_and_send_deferred(server: RunningServer, root: Root, logged: list[dict[str, Any]]) -> None:
    onep = client_for(server.url, logrequests=True)
    _, rid = onep.createDataport(root.cik, {"format": "integer", "retention": INFINITE})  # id 0
    assert onep.map(root.cik, rid, "n") == (True, "ok")  # id 1
    assert onep.has_deferred(root.cik) is False
    assert onep.write(root.cik, {"alias": "n"}, 7, defer=True) is True
    assert onep.recordbatch(root.cik, {"alias": "n"}, [[100, 1], [101, "bad"]], defer=True) is True
    assert onep.read(root.cik, {"alias": "n"}, {"starttime": 100, "endtime": 101}, defer=True) is True
    assert onep.lookup(root.cik, "alias", "missing", defer=True) is True
    assert onep.has_deferred(root.cik) is True
    assert onep.has_deferred({"cik": root.cik}) is False  # another queue
    assert len(logged) == 2  # nothing sent while deferring

    replies = onep.send_deferred(root.cik)
    assert len(logged) == 3 and [c["id"] for c in logged[-1]["calls"]] == [2, 3, 4, 5]
    assert replies == [
        ({"id": 2, "procedure": "write", "arguments": [{"alias": "n"}, 7, {}]}, True, "ok"),
        (
            {"id": 3, "procedure": "recordbatch", "arguments": [{"alias": "n"}, [[100, 1], [101, "bad"]]]},
            False,
            [[101, "invalid"]],
        ),
        (
            {"id": 4, "procedure": "read", "arguments": [{"alias": "n"}, {"starttime": 100, "endtime": 101}]},
            True,
            [[100, 1]],
        ),
        ({"id": 5, "procedure": "lookup", "arguments": ["alias", "missing"]}, False, "invalid"),
    ]
    assert onep.has_deferred(root.cik) is False
    with pytest.raises(JsonRPCRequestException, match=r"^No deferred requests to send\.$"):
        onep.send_deferred(root.cik)
    assert onep.lookup(root.cik, "alias", "n") == (True, rid)
    assert logged[-1]["calls"][0]["id"] == 6  # numbering goes on

    # a dict auth has a queue of its own
    onep.lookup({"cik": root.cik}, "alias", "", defer=True)
    onep.lookup({"cik": root.cik}, "alias", "n", defer=True)
    assert onep.has_deferred(root.cik) is False
    assert [r[1:] for r in onep.send_deferred({"cik": root.cik})] == [(True, root.rid), (True, rid)]


def test_logrequests_is_shared_and_startid_numbers_calls(
    server: RunningServer, root: Root, logged: list[dict[str, Any]]
) -> None:
    first = client_for(server.url, logrequests=True, startid=100)
    second = client_for(server.url, logrequests=True)
    quiet = client_for(server.url)
    assert first.lookup(root.cik, "alias", "") == (True, root.rid)
    assert second.lookup(root.cik, "alias", "") == (True, root.rid)
    assert quiet.lookup(root.cik, "alias", "") == (True, root.rid)
    assert first.lookup(root.cik, "alias", "", defer=True) is True
    first.send_deferred(root.cik)
    call = {"procedure": "lookup", "arguments": ["alias", ""]}
    assert logged == [
        {"auth": {"cik": root.cik}, "calls": [{"id": 100, **call}]},
        {"auth": {"cik": root.cik}, "calls": [{"id": 0, **call}]},
        {"auth": {"cik": root.cik}, "calls": [{"id": 101, **call}]},
    ]
    assert first.loggedrequests() is second.loggedrequests() is quiet.loggedrequests() is logged
    assert first.startid == 102


@pytest.mark.parametrize("reuse", [False, True])
def test_reuseconnection_against_the_server(server: RunningServer, root: Root, reuse: bool) -> None:
    onep = client_for(server.url, reuseconnection=reuse)
    for _ in range(3):
        assert onep.lookup(root.cik, "alias", "") == (True, root.rid)
    onep.close()
    assert onep.lookup(root.cik, "alias", "") == (True, root.rid)  # a closed client opens again
    onep.close()
    onep.close()


def test_bad_cik_raises_platform_error(onep: OnepV1) -> None:
    with pytest.raises(OnePlatformException) as raised:
        onep.info("0" * 40, {"alias": ""})
    assert str(raised.value) == "{'code': 401, 'message': 'Invalid', 'context': 'auth'}"
    with pytest.raises(OnePlatformException):
        onep.read({"token": "t" * 40}, {"alias": "x"}, {})


def test_refused_connection_raises_request_error(root: Root) -> None:
    onep = client_for(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(JsonRPCRequestException, match=r"^Failed to make http request: "):
        onep.info(root.cik, {"alias": ""})
    onep.write(root.cik, {"alias": "x"}, 1, defer=True)
    with pytest.raises(JsonRPCRequestException, match=r"^Failed to make http request: "):
        onep.send_deferred(root.cik)
    assert onep.has_deferred(root.cik) is False  # emptied even so


# -- on the wire, through a capture server


@pytest.mark.parametrize(("method", "args", "procedure", "arguments"), RPC_CALLS)
def test_every_procedure_sends_pyonep_arguments(
    capture: CaptureServer, method: str, args: tuple[Any, ...], procedure: str, arguments: list[Any]
) -> None:
    onep = client_for(capture.url)
    assert getattr(onep, method)(CIK, *args) == (True, "ok")
    expected = {"auth": {"cik": CIK}, "calls": [{"id": 0, "procedure": procedure, "arguments": arguments}]}
    assert capture.last.body == json.dumps(expected).encode("ascii")
    assert getattr(onep, method)(CIK, *args, defer=True) is True
    assert onep.send_deferred(CIK) == [
        ({"id": 1, "procedure": procedure, "arguments": arguments}, True, "ok")
    ]
    assert capture.last.json()["calls"][0]["arguments"] == arguments


def test_envelope_bytes_and_headers(capture: CaptureServer) -> None:
    onep = client_for(capture.url, agent="fleet-agent/1.0")
    onep.write(CIK, {"alias": "x"}, "你好")
    request = capture.last
    assert (request.method, request.target) == ("POST", "/onep:v1/rpc/process")
    assert request.body == (
        b'{"auth": {"cik": "' + CIK.encode() + b'"}, "calls": [{"id": 0, "procedure": "write", '
        b'"arguments": [{"alias": "x"}, "\\u4f60\\u597d", {}]}]}'
    )
    assert request.header("Content-Type") == "application/json; charset=utf-8"
    assert request.header("User-Agent") == "fleet-agent/1.0"
    assert request.header("Content-Length") == str(len(request.body))
    assert client_for(capture.url).lookup(CIK, "alias", "") == (True, "ok")
    assert capture.last.header("User-Agent") != "fleet-agent/1.0"


def test_auth_forms(capture: CaptureServer) -> None:
    onep = client_for(capture.url)
    client, resource, token = "a" * 40, "b" * 40, {"token": "t" * 40}
    steps: list[tuple[Any, dict[str, str]]] = [
        (lambda: None, {"cik": CIK}),
        (lambda: onep.connect_as(client), {"cik": CIK, "client_id": client}),
        (lambda: onep.connect_owner(resource), {"cik": CIK, "resource_id": resource}),
        (lambda: onep.connect_as(client), {"cik": CIK, "client_id": client}),
        (lambda: onep.connect_as(None), {"cik": CIK}),
        (lambda: onep.connect_owner(resource), {"cik": CIK, "resource_id": resource}),
        (lambda: onep.connect_owner(None), {"cik": CIK}),
    ]
    for step, auth in steps:
        step()
        onep.lookup(CIK, "alias", "")
        assert capture.last.body.startswith(b'{"auth": ' + json.dumps(auth).encode() + b', "calls": [')
    onep.connect_as(client)
    onep.lookup(token, "alias", "")  # a dict is sent as is
    assert capture.last.json()["auth"] == token


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[{"id":0,"status":"ok","result":[[1390622248,"v"]]}]', (True, [[1390622248, "v"]])),
        ('[{"id":0,"status":"ok"}]', (True, "ok")),
        ('[{"id":0,"status":"ok","result":null}]', (True, None)),
        ('[{"id":0,"status":"invalid"}]', (False, "invalid")),
        ('[{"id":0,"status":"fail","error":{"code":501,"message":"x"}}]', (False, "fail")),
        ('[{"id":0,"status":[[1421906172,"invalid"]]}]', (False, [[1421906172, "invalid"]])),
        ('[{"id":0},{"id":0,"status":"ok","result":1}]', (True, 1)),  # no status, no error: skipped
        ('[{"id":9,"status":"ok","result":1}]', (True, 1)),  # an unknown id still answers
    ],
)
def test_reply_shapes(capture: CaptureServer, body: str, expected: tuple[bool, Any]) -> None:
    capture.answer(Canned(body=body))
    assert client_for(capture.url).read(CIK, {"alias": "x"}, {}) == expected


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (
            401,
            '{"error":{"code":401,"message":"Invalid","context":"auth"}}',
            OnePlatformException,
            "{'code': 401, ",
        ),
        (
            200,
            '{"error":{"code":400,"message":"bad","context":"calls"}}',
            OnePlatformException,
            "{'code': 400, ",
        ),
        (200, '[{"id":0,"error":{"code":500,"message":"boom"}}]', OnePlatformException, "{'code': 500, "),
        (200, '{"foo":1}', OneException, "Unknown error"),
        (200, '"text"', OneException, "Unknown error"),
        (
            502,
            "<html>Bad gateway</html>",
            OnePlatformException,
            "Exception while parsing JSON response: <html>",
        ),
        (200, "[]", IndexError, ""),
    ],
)
def test_reply_errors(
    capture: CaptureServer, status: int, body: str, error: type[Exception], message: str
) -> None:
    capture.answer(Canned(status=status, body=body))
    with pytest.raises(error) as raised:
        client_for(capture.url).read(CIK, {"alias": "x"}, {})
    assert str(raised.value).startswith(message)


def test_deferred_replies_match_calls_by_id(capture: CaptureServer) -> None:
    onep = client_for(capture.url, startid=10)
    onep.read(CIK, {"alias": "a"}, {}, defer=True)
    onep.read(CIK, {"alias": "b"}, {}, defer=True)
    capture.answer(
        Canned(
            body='[{"id":11,"status":"ok","result":2},{"id":10,"status":"invalid"},{"id":99,"status":"ok"}]'
        )
    )
    assert onep.send_deferred(CIK) == [
        ({"id": 11, "procedure": "read", "arguments": [{"alias": "b"}, {}]}, True, 2),
        ({"id": 10, "procedure": "read", "arguments": [{"alias": "a"}, {}]}, False, "invalid"),
        (None, True, "ok"),
    ]
    onep.read(CIK, {"alias": "a"}, {}, defer=True)
    capture.answer(Canned(body="[]"))
    assert onep.send_deferred(CIK) == []
    onep.read(CIK, {"alias": "a"}, {}, defer=True)
    capture.answer(Canned(body="nonsense"))
    with pytest.raises(OnePlatformException):
        onep.send_deferred(CIK)
    assert not onep.has_deferred(CIK)


def test_deferred_requests_queue() -> None:
    queue = DeferredRequests()
    assert queue.key(CIK) == CIK
    assert (
        queue.key({"cik": "c", "client_id": "r"})
        == queue.key({"client_id": "r", "cik": "c"})
        == "{cik:c,client_id:r}"
    )
    queue.add(CIK, "read", [1])
    queue.add(CIK, "wait", [2], notimeout=True)
    queue.add(CIK, "read", [3])
    assert queue.get_method_args_pairs(CIK) == [("read", [1]), ("wait", [2]), ("read", [3])]
    assert queue.get_notimeout(CIK) is True and queue.has_requests(CIK)
    queue.reset(CIK)
    assert not queue.has_requests(CIK) and queue.get_notimeout(CIK) is False
    queue.reset(CIK)  # nothing queued: no error


def test_wait_runs_without_a_timeout(capture: CaptureServer) -> None:
    onep = client_for(capture.url, httptimeout=0.2)
    slow = Canned(body='[{"id":0,"status":"ok","result":[1,2]}]', delay=0.6)
    capture.answer(slow)
    with pytest.raises(JsonRPCRequestException, match=r"^Failed to make http request: "):
        onep.read(CIK, {"alias": "x"}, {})
    capture.answer(Canned(body='[{"id":1,"status":"ok","result":[5,6]}]', delay=0.6))
    assert onep.wait(CIK, {"alias": "x"}, {"timeout": 600}) == (True, [5, 6])
    # a deferred batch holding a wait has no timeout either; one without a wait has
    onep.write(CIK, {"alias": "x"}, 1, defer=True)
    onep.wait(CIK, {"alias": "x"}, {"timeout": 600}, defer=True)
    capture.answer(Canned(body='[{"id":2,"status":"ok"},{"id":3,"status":"expire"}]', delay=0.6))
    assert [r[1:] for r in onep.send_deferred(CIK)] == [(True, "ok"), (False, "expire")]
    onep.write(CIK, {"alias": "x"}, 1, defer=True)
    capture.answer(Canned(body='[{"id":4,"status":"ok"}]', delay=0.6))
    with pytest.raises(JsonRPCRequestException):
        onep.send_deferred(CIK)


def test_connection_reuse_on_the_wire(capture: CaptureServer) -> None:
    fresh = client_for(capture.url)
    for _ in range(3):
        fresh.drop(CIK, "x")
    assert len({r.client_port for r in capture.requests}) == 3  # a new connection per call

    capture.requests.clear()
    kept = client_for(capture.url, reuseconnection=True)
    kept.drop(CIK, "x")
    kept.drop(CIK, "x")
    kept.wait(CIK, "x", {"timeout": 1})  # a long poll gets a connection of its own
    kept.drop(CIK, "x")
    kept.close()
    kept.drop(CIK, "x")
    ports = [r.client_port for r in capture.requests]
    assert ports[0] == ports[1] == ports[3]
    assert ports[2] != ports[0] and ports[4] not in (ports[0], ports[2])
    kept.close()


def test_curldebug_logs_a_curl_command(capture: CaptureServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="fleetport.onep")
    client_for(capture.url, curldebug=True).drop(CIK, "x")
    [record] = [r for r in caplog.records if r.name == "fleetport.onep"]
    assert record.levelno == logging.DEBUG
    assert record.getMessage().startswith(f"curl {capture.url}/onep:v1/rpc/process -X POST -m 10 ")
    assert "'Content-Type: application/json; charset=utf-8'" in record.getMessage()
    assert f'-d \'{{"auth": {{"cik": "{CIK}"}}' in record.getMessage()
    caplog.clear()
    client_for(capture.url).drop(CIK, "x")
    assert not [r for r in caplog.records if r.name == "fleetport.onep"]


def test_default_endpoint() -> None:
    onep = OnepV1()
    assert onep._transport.base_url + onep.url == "https://m2.exosite.com:443/onep:v1/rpc/process"
    assert Provision()._transport.base_url == "http://m2.exosite.com:80"


# -- provisioning, through a capture server


@pytest.mark.parametrize("manage_by_cik", [True, False])
@pytest.mark.parametrize(("method", "args", "verb", "target", "body", "who", "content_type"), PROVISION_CALLS)
def test_every_provision_request(
    capture: CaptureServer,
    manage_by_cik: bool,
    method: str,
    args: tuple[Any, ...],
    verb: str,
    target: str,
    body: bytes,
    who: str,
    content_type: str | None,
) -> None:
    provision = Provision("127.0.0.1", str(capture.port), manage_by_cik=manage_by_cik)
    answer = getattr(provision, method)(*args)
    assert isinstance(answer, ProvisionResponse) and answer.status() == 205 and answer.isok
    request = capture.last
    assert (request.method, request.target, request.body) == (verb, target, body)
    name, value = key_header(who, manage_by_cik)
    assert request.header(name) == value
    other = "X-Exosite-Token" if name == "X-Exosite-CIK" else "X-Exosite-CIK"
    assert request.header(other) is None
    assert request.header("Content-Type") == content_type
    if verb == "GET":
        assert request.header("Content-Length") is None
    else:
        assert request.header("Content-Length") == str(len(body))


def test_model_create_by_share_code(capture: CaptureServer) -> None:
    provision = Provision("127.0.0.1", capture.port, manage_by_sharecode=True)
    provision.model_create(KEY, "m", "code1", historical=False)
    assert capture.last.body == b"model=m&code=code1&options%5B%5D=nohistorical"
    provision.model_update(KEY, "m", "rid1")
    assert capture.last.body == b"rid=rid1"


def test_provision_responses(capture: CaptureServer) -> None:
    provision = Provision("https://127.0.0.1", capture.port)  # the scheme is dropped; https=False
    capture.answer(Canned(body="a" * 40, content_type="text/plain; charset=utf-8"))
    activated = provision.serialnumber_activate("m", "sn1", "v")
    assert (activated.body, activated.status(), activated.reason(), activated.isok) == (
        "a" * 40,
        200,
        "OK",
        True,
    )
    assert isinstance(activated.response, httpx.Response)
    assert str(activated) == f"Status: 200, Reason: OK, Body: {'a' * 40}"
    capture.answer(Canned(status=409, body="sn already activated", content_type="text/plain"))
    conflict = provision.serialnumber_activate("m", "sn1", "v")
    assert (conflict.status(), conflict.reason(), conflict.isok, conflict.body) == (
        409,
        "Conflict",
        False,
        "sn already activated",
    )
    empty = provision.model_list(KEY)
    assert (empty.status(), empty.body, empty.isok) == (205, "", True)

    raising = Provision("127.0.0.1", capture.port, raise_api_exceptions=True)
    capture.answer(Canned(status=404, body="", content_type="text/plain"))
    with pytest.raises(ProvisionException) as raised:
        raising.model_info(KEY, "missing")
    assert str(raised.value) == "404 Not Found" and raised.value.response.status() == 404
    assert isinstance(raised.value, OneException)
    assert raising.model_list(KEY).status() == 205


def test_provision_connections_and_errors(capture: CaptureServer) -> None:
    kept = Provision("127.0.0.1", capture.port, reuseconnection=True)
    kept.model_list(KEY)
    kept.model_list(KEY)
    kept.close()
    kept.model_list(KEY)
    kept.close()
    ports = [r.client_port for r in capture.requests]
    assert ports[0] == ports[1] != ports[2]
    with pytest.raises(httpx.ConnectError):
        Provision("127.0.0.1", free_port()).model_list(KEY)
    capture.answer(Canned(status=205, delay=0.6, content_type=""))
    with pytest.raises(httpx.TimeoutException):
        Provision("127.0.0.1", capture.port, httptimeout=0.2).model_list(KEY)
