"""The One Platform JSON-RPC endpoint of a real server, driven with the envelopes pyonep sends
(onep.md §3-§8), posted as pyonep posts them (``json.dumps``, which escapes non-ASCII)."""

from __future__ import annotations

import json
import time

import pytest

from tests.conformance.onep.conftest import OneP


def test_request_level_errors(onep: OneP) -> None:
    not_json = onep.post("not json")["error"]
    assert (not_json["code"], not_json["context"]) == (-1, "calls") and not_json["message"]
    for body, context in (
        ('{"foo": 1}', "auth"),
        ("[1, 2]", "calls"),
        ('{"auth": {"cik": "x"}, "calls": {}}', "calls"),
    ):
        error = onep.post(body)["error"]
        assert (error["code"], error["context"]) == (400, context) and error["message"]
    bad_cik = json.dumps(
        {"auth": {"cik": "0" * 40}, "calls": [{"id": 0, "procedure": "info", "arguments": []}]}
    )
    assert onep.post(bad_cik) == {"error": {"code": 401, "message": "Invalid", "context": "auth"}}
    token = json.dumps({"auth": {"token": "t" * 40}, "calls": []})
    assert onep.post(token) == {"error": {"code": 401, "message": "Invalid", "context": "auth"}}


def test_deferred_batch_from_onep_md(onep: OneP) -> None:
    """The §5 example: write, read and wait in one envelope, ids echoed in order."""
    onep.dataport("x", "string")
    body = (
        '{"auth":{"cik":"' + onep.cik + '"},"calls":[{"id":2,"procedure":"write","arguments":[{"alias":"x"},'
        '"\\u4f60\\u597d",{}]},{"id":3,"procedure":"read","arguments":[{"alias":"x"},{}]},'
        '{"id":4,"procedure":"wait","arguments":[{"alias":"x"},{"timeout":1000}]}]}'
    )
    write, read, wait = onep.post(body)
    assert write == {"id": 2, "status": "ok"}
    assert read["id"] == 3 and read["status"] == "ok"
    [[ts, value]] = read["result"]
    assert value == "你好" and abs(ts - time.time()) < 5
    assert wait == {"id": 4, "status": "expire"}  # no point arrived after the wait began


def test_create_info_and_key(onep: OneP) -> None:
    desc = {
        "limits": {"client": "inherit", "dataport": "inherit"},
        "locked": False,
        "meta": "",
        "name": "dev",
        "public": False,
        "writeinterval": "inherit",
        "visibility": "parent",
    }
    child = onep.ok("create", ["client", desc])
    assert isinstance(child, str) and len(child) == 40 and int(child, 16) >= 0
    info = onep.ok("info", [child, {"key": True, "basic": True}])
    assert set(info) == {"key", "basic"}
    assert info["basic"]["type"] == "client" and info["basic"]["status"] == "activated"
    child_cik = info["key"]
    own = onep.ok("info", [{"alias": ""}, {}], auth={"cik": child_cik})
    assert own["basic"]["status"] == "activated"
    assert "key" not in own  # only the direct owner reads it
    assert own["description"]["name"] == "dev" and own["description"]["writeinterval"] == "inherit"
    assert onep.one("info", [{"alias": ""}, {"key": True}], auth={"cik": child_cik})["status"] == "restricted"
    # the child acts through connect_as and connect_owner
    port = onep.ok(
        "create",
        ["dataport", {"format": "integer", "retention": {"count": 10, "duration": 1}}],
        auth={"cik": onep.cik, "client_id": child},
    )
    assert onep.ok("lookup", ["owner", port]) == child
    assert onep.ok("info", [port, {"description": True}], auth={"cik": onep.cik, "resource_id": port}) == {
        "description": {
            "format": "integer",
            "retention": {"count": 10, "duration": 1},
            "name": "",
            "meta": "",
            "public": False,
            "preprocess": [],
            "subscribe": None,
        }
    }
    storage = onep.ok("info", [port, {"storage": True}])
    assert storage == {"storage": {"count": 0, "first": 0, "last": 0, "size": 0}}


def test_listing_forms(onep: OneP) -> None:
    """The doc example: one dataport under the caller gives 0 clients and 1 dataport."""
    rid = onep.dataport("temp")
    assert onep.ok("listing", [{"alias": ""}, ["client", "dataport"], {}]) == {
        "client": [],
        "dataport": [rid],
    }
    assert onep.ok("listing", [["dataport"], {"owned": True}]) == {"dataport": [rid]}
    assert onep.ok("listing", [["client", "dataport"]]) == [[], [rid]]
    assert onep.ok("listing", [{"alias": ""}, ["client", "token"], []]) == {"client": [], "token": []}
    bad = onep.one("listing", [{"alias": ""}, ["gadget"], {}])
    assert bad["status"] == "error" and isinstance(bad["result"], str)


def test_alias_lookup_map_unmap(onep: OneP) -> None:
    rid = onep.dataport("temp")
    assert onep.ok("lookup", ["alias", "temp"]) == rid
    assert onep.ok("lookup", ["alias", ""]) == onep.rid
    assert onep.ok("lookup", [{"alias": ""}, "alias", "temp"]) == rid
    assert onep.ok("info", [{"alias": ""}, {"aliases": True}]) == {"aliases": {rid: ["temp"]}}
    assert onep.one("map", ["alias", rid, "temp"]) == {"id": 0, "status": "invalid"}
    assert onep.one("unmap", ["alias", "temp"]) == {"id": 0, "status": "ok"}
    assert onep.one("lookup", ["alias", "temp"]) == {"id": 0, "status": "invalid"}
    assert onep.one("read", [{"alias": "temp"}, {}]) == {"id": 0, "status": "invalid"}
    assert onep.one("unmap", [{"alias": ""}, "alias", "temp"]) == {"id": 0, "status": "invalid"}


def test_read_options(onep: OneP) -> None:
    onep.dataport("n", "integer")
    assert onep.ok("record", [{"alias": "n"}, [[t, t - 1000] for t in range(1000, 1010)], {}]) is None
    assert onep.ok("read", [{"alias": "n"}, {}]) == [[1009, 9]]
    assert onep.ok(
        "read",
        [
            {"alias": "n"},
            {"starttime": 1002, "endtime": 1004, "sort": "asc", "limit": 10, "selection": "all"},
        ],
    ) == [[1002, 2], [1003, 3], [1004, 4]]
    assert onep.ok("read", [{"alias": "n"}, {"sort": "desc", "limit": 2}]) == [[1009, 9], [1008, 8]]
    for bad in ({"limit": -1}, {"starttime": -1}, {"sort": "up"}):
        assert onep.one("read", [{"alias": "n"}, bad]) == {"id": 0, "status": "invalid"}


def test_recordbatch_partial_failure(onep: OneP) -> None:
    onep.dataport("n", "integer")
    reply = onep.one(
        "recordbatch", [{"alias": "n"}, [[1421906170, 1], [1421906172, "nope"], [1421906173, 3]]]
    )
    assert reply == {"id": 0, "status": [[1421906172, "invalid"]]}
    assert onep.ok("read", [{"alias": "n"}, {"limit": 10, "sort": "asc"}]) == [
        [1421906170, 1],
        [1421906173, 3],
    ]
    assert onep.one("recordbatch", [{"alias": "n"}, [[1, 1]]]) == {"id": 0, "status": "ok"}
    # record (deprecated) is all or nothing
    assert onep.one("record", [{"alias": "n"}, [[5, 1], [6, "x"]], {}]) == {"id": 0, "status": "invalid"}
    assert onep.ok("read", [{"alias": "n"}, {"starttime": 5, "endtime": 6, "limit": 10}]) == []


def test_flush_drop_update(onep: OneP) -> None:
    rid = onep.dataport("n", "integer")
    onep.ok("recordbatch", [{"alias": "n"}, [[t, t] for t in range(1, 11)]])
    assert onep.ok("flush", [{"alias": "n"}, {"newerthan": 3, "olderthan": 6}]) is None
    assert [ts for ts, _ in onep.ok("read", [rid, {"limit": 20, "sort": "asc"}])] == [1, 2, 3, 6, 7, 8, 9, 10]
    assert (
        onep.ok("update", [rid, {"name": "renamed", "retention": {"count": 2, "duration": "infinity"}}])
        is None
    )
    assert onep.ok("read", [rid, {"limit": 20, "sort": "asc"}]) == [[9, 9], [10, 10]]
    assert onep.ok("info", [rid, {"description": True}])["description"]["name"] == "renamed"
    assert onep.one("update", [rid, {"format": "string"}])["status"] == "invalid"
    assert onep.one("update", [{"alias": ""}, {"name": "me"}])["status"] == "restricted"
    assert onep.ok("flush", [rid]) is None
    assert onep.ok("read", [rid, {"limit": 20}]) == []
    assert onep.ok("drop", [rid]) is None
    assert onep.one("info", [rid, {}]) == {"id": 0, "status": "restricted"}
    assert onep.one("drop", [{"alias": ""}]) == {"id": 0, "status": "restricted"}


def test_other_trees_are_restricted(onep: OneP) -> None:
    rid = onep.dataport("n")
    child = onep.ok("create", ["client", {}])
    child_cik = onep.ok("info", [child, {"key": True}])["key"]
    assert onep.one("write", [rid, 1, {}], auth={"cik": child_cik}) == {"id": 0, "status": "restricted"}
    assert onep.one("read", [onep.rid, {}], auth={"cik": child_cik}) == {"id": 0, "status": "restricted"}


def test_calls_are_answered_in_order_and_unknown_ones_fail(onep: OneP) -> None:
    onep.dataport("x")
    body = json.dumps(
        {
            "auth": {"cik": onep.cik},
            "calls": [
                {"id": "a", "procedure": "write", "arguments": [{"alias": "x"}, 1.5, {}]},
                {"procedure": "write", "arguments": [{"alias": "x"}, 2.5, {}]},  # no id: no answer
                {"id": 7, "procedure": "subscribe", "arguments": []},
                {"id": 8, "procedure": "read", "arguments": [{"alias": "x"}, {"limit": 5, "sort": "asc"}]},
            ],
        }
    )
    first, unknown, read = onep.post(body)
    assert first == {"id": "a", "status": "ok"}
    assert unknown["id"] == 7 and unknown["status"] == "fail"
    assert unknown["error"]["code"] == 501 and unknown["error"]["context"] == "procedure"
    assert read["id"] == 8 and [v for _, v in read["result"]] == [1.5, 2.5]
    assert onep.rpc() == []


@pytest.mark.parametrize(
    "bad_id", [str(2**70), str(-(2**63) - 1), "1.5", "1e3", "true", '"' + "x" * 41 + '"']
)
def test_a_call_whose_id_cannot_be_echoed_refuses_the_request_before_anything_runs(
    onep: OneP, bad_id: str
) -> None:
    """An id is an integer of at most 64 bits or a string of up to 40 characters. A call with some
    other id could not be answered: the request is refused whole and none of its calls runs."""
    onep.dataport("x")
    calls = [
        {"id": 1, "procedure": "write", "arguments": [{"alias": "x"}, 1.5, {}]},
        {"id": "BAD-ID", "procedure": "write", "arguments": [{"alias": "x"}, 2.5, {}]},
    ]
    body = json.dumps({"auth": {"cik": onep.cik}, "calls": calls}).replace('"BAD-ID"', bad_id)
    error = onep.post(body)["error"]
    assert error["code"] == 400 and error["context"] == "calls", error
    assert "call 1" in error["message"]
    assert onep.ok("read", [{"alias": "x"}, {"limit": 5}]) == []


def test_the_widest_ids_are_echoed(onep: OneP) -> None:
    body = json.dumps(
        {
            "auth": {"cik": onep.cik},
            "calls": [
                {"id": 2**63 - 1, "procedure": "listing", "arguments": [["dataport"], {}]},
                {"id": -(2**63), "procedure": "listing", "arguments": [["dataport"], {}]},
                {"id": "x" * 40, "procedure": "listing", "arguments": [["dataport"], {}]},
            ],
        }
    )
    assert [reply["id"] for reply in onep.post(body)] == [2**63 - 1, -(2**63), "x" * 40]


def test_oversized_requests_get_a_clear_limit_error(onep: OneP) -> None:
    port = onep.dataport("big")
    calls = [{"id": i, "procedure": "write", "arguments": [port, float(i), {}]} for i in range(1001)]
    too_many = onep.post(json.dumps({"auth": {"cik": onep.cik}, "calls": calls}))["error"]
    assert (too_many["code"], too_many["context"]) == (413, "calls") and "1000" in too_many["message"]
    huge = json.dumps({"auth": {"cik": onep.cik}, "calls": [], "pad": "x" * (17 << 20)})
    reply = onep.http.post("/onep:v1/rpc/process", content=huge, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == 413 and reply.json()["error"]["context"] == "calls"
    many_points = [[t, 1.0] for t in range(10_001)]
    assert onep.one("recordbatch", [port, many_points])["status"] == "invalid"
    assert onep.ok("read", [port, {}]) == []  # nothing of the refused calls was written
