"""Hostile text and numbers through the One Platform JSON-RPC (call ids, procedure names, aliases,
names, meta, tags, descriptions, values, share codes and meta, options) and the provisioning forms,
on SQLite and PostgreSQL side by side: never a fault (request-level 500 or a call failing with 500),
each call answered ``invalid`` (or its own status) or ``ok``, what was accepted reads back the same
on both databases, and the resource's ``info`` still works afterwards."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.edge.conftest import (
    HOSTILE_TEXT_EXAMPLES,
    Side,
    assert_no_fault,
    fuzz,
    fuzz_numbers,
    fuzz_text,
    hostile_text,
    same_on_both,
    segment,
)

INFINITE = {"count": "infinity", "duration": "infinity"}
RID = re.compile(r"\b[0-9a-f]{40}\b")


def _one(side: Side, procedure: str, arguments: list[Any]) -> dict[str, Any]:
    (reply,) = side.rpc([{"id": 1, "procedure": procedure, "arguments": arguments}])
    return dict(reply)


def _result(side: Side, procedure: str, arguments: list[Any]) -> Any:
    reply = _one(side, procedure, arguments)
    assert reply["status"] == "ok", reply
    return reply.get("result")


def _plain(value: Any) -> Any:
    """``value`` with the RIDs and keys (which differ between the servers) blanked."""
    if isinstance(value, str):
        return RID.sub("<rid>", value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def ports(sides: list[Side]) -> list[Side]:
    """A string and an integer dataport under each side's root client."""
    for side in sides:
        for name, fmt in (("str", "string"), ("int", "integer")):
            side.ids[name] = _result(side, "create", ["dataport", {"format": fmt, "retention": INFINITE}])
    return sides


def _info(side: Side, rid: str) -> Any:
    reply = _one(side, "info", [rid, {"basic": True, "description": True, "tags": True, "aliases": True}])
    assert reply["status"] == "ok", reply  # a later info of the same resource still works
    result = reply["result"]
    return _plain({k: result[k] for k in ("description", "tags", "aliases")})


def _text_outcomes(side: Side, v: str) -> dict[str, Any]:
    ids = side.ids
    out: dict[str, Any] = {}
    # call ids and procedure names: each call answered alone, the others go on
    replies = side.rpc(
        [
            {"id": v, "procedure": "info", "arguments": [ids["rid"], {"basic": True}]},
            {"id": 2, "procedure": v, "arguments": []},
            {"id": 3, "procedure": "lookup", "arguments": ["alias", v]},
        ]
    )
    # an id that cannot be echoed (over 40 characters) refuses the request whole
    out["envelope"] = replies if isinstance(replies, dict) else [(r["id"], r["status"]) for r in replies]
    for index, auth in enumerate(
        ({"cik": v}, {"token": v}, {"cik": ids["cik"], "client_id": v}, {"cik": ids["cik"], "resource_id": v})
    ):
        refused = side.rpc([{"id": 1, "procedure": "info", "arguments": [ids["rid"], {}]}], auth=auth)
        out[f"auth {index}"] = _plain(refused)
    created = _one(
        side, "create", ["dataport", {"format": "string", "name": v, "meta": v, "retention": INFINITE}]
    )
    out["create"] = (created["status"], _info(side, created["result"]) if created["status"] == "ok" else None)
    client = _one(side, "create", ["client", {"name": v, "meta": v}])
    out["create client"] = (
        client["status"],
        _info(side, client["result"]) if client["status"] == "ok" else None,
    )
    port = ids["str"]
    mapped = _one(side, "map", ["alias", port, v])
    looked = _one(side, "lookup", ["alias", v])
    out["alias"] = (mapped["status"], _plain(looked), _info(side, port))
    _one(side, "unmap", ["alias", v])
    wrote = _one(side, "write", [port, v, {}])
    out["write"] = (wrote["status"], [value for _, value in _result(side, "read", [port, {"limit": 1}])])
    recorded = _one(side, "record", [port, [[1_000, v]], {}])
    batch = _one(side, "recordbatch", [port, [[1_001, v], [1_002, "fine"]]])
    group = _one(side, "writegroup", [[[port, v], [ids["int"], 5]]])
    stored = _result(side, "read", [port, {"starttime": 1_000, "endtime": 1_002, "limit": 10, "sort": "asc"}])
    out["record"] = (recorded["status"], _plain(batch), group["status"], stored)
    tagged = _one(side, "tag", [port, "add", v])
    out["tag"] = (tagged["status"], _info(side, port))
    updated = _one(side, "update", [port, {"name": v, "meta": v, "format": "string", "retention": INFINITE}])
    out["update"] = (updated["status"], _info(side, port))
    shared = _one(side, "share", [port, {"meta": v}])
    out["share"] = shared["status"]
    coded = _one(side, "share", [port, {"code": v}])
    out["share code"] = (coded["status"], _plain(coded.get("result")))
    info = _one(side, "info", [port, {"shares": True}])
    assert info["status"] == "ok", info
    out["shares"] = sorted((s["meta"], s.get("activator")) for s in info["result"]["shares"])
    for index, (procedure, arguments) in enumerate(
        (
            ("lookup", ["shared", v]),
            ("activate", ["share", v]),
            ("deactivate", ["share", v]),
            ("revoke", ["share", v]),
            ("usage", [ids["rid"], v, 0, 10]),
            ("listing", [[v], {}]),
            ("info", [port, {v: True}]),
            ("grant", [ids["rid"], {port: [v]}]),
            ("read", [{"alias": v}, {}]),
            ("drop", [{"alias": v}]),
            ("move", [{"alias": v}, v]),
            ("wait", [{"alias": v}, {"timeout": 0}]),
            ("flush", [{"alias": v}]),
            ("activate", ["client", v]),
            ("unmap", ["alias", v]),
            ("create", [v, {}]),
        )
    ):
        out[f"{index} {procedure}"] = _plain(_one(side, procedure, arguments))
    return out


@fuzz_text
def test_hostile_text_in_every_rpc_argument(ports: list[Side], v: str) -> None:
    same_on_both(ports, lambda side: _text_outcomes(side, v))


def _recent(points: Any) -> Any:
    """Points with the timestamps the servers' clocks gave (which differ by a second) blanked."""
    if not isinstance(points, list):
        return points
    return [["now" if ts > 1_700_000_000 else ts, value] for ts, value in points]


def _number_outcomes(side: Side, n: Any) -> dict[str, Any]:
    ids = side.ids
    out: dict[str, Any] = {}
    replies = side.rpc([{"id": n, "procedure": "info", "arguments": [ids["rid"], {"basic": True}]}])
    out["call id"] = replies if isinstance(replies, dict) else [(r["id"], r["status"]) for r in replies]
    created = _one(
        side, "create", ["dataport", {"format": "integer", "retention": {"count": n, "duration": n}}]
    )
    out["create"] = (created["status"], _info(side, created["result"]) if created["status"] == "ok" else None)
    port = ids["int"]
    updated = _one(side, "update", [port, {"retention": {"count": n, "duration": "infinity"}}])
    out["update"] = (updated["status"], _info(side, port))
    wrote = _one(side, "write", [port, n])
    recorded = _one(side, "record", [port, [[n, 1]], {}])
    batch = _one(side, "recordbatch", [port, [[2_000, n], [n, 2]]])
    out["write"] = (wrote["status"], recorded["status"], _plain(batch))
    for key in ("starttime", "endtime", "limit"):
        reply = _one(side, "read", [port, {key: n}])
        out["read " + key] = (reply["status"], _recent(reply.get("result")))
    out["points"] = _result(side, "read", [port, {"starttime": 0, "endtime": 3_000, "limit": 100}])
    for index, (procedure, arguments) in enumerate(
        (
            ("flush", [port, {"newerthan": n}]),
            ("usage", [ids["rid"], "dataport", n, n]),
            ("grant", [ids["rid"], {port: ["read"]}, {"ttl": n}]),
            ("wait", [port, {"since": n, "timeout": 0}]),
            (  # a timeout that is no timeout answers at once; a valid one could hold for minutes
                "wait",
                [port, {"timeout": n, "since": 0}] if n < 0 else [port, {"since": 0, "timeout": 0}],
            ),
            ("listing", [["dataport"], {"limit": n}]),
        )
    ):
        reply = _one(side, procedure, arguments)
        out[f"{index} {procedure}"] = (reply["status"], reply.get("error"))
    return out


@fuzz_numbers
def test_hostile_numbers_in_every_rpc_argument(ports: list[Side], n: Any) -> None:
    same_on_both(ports, lambda side: _number_outcomes(side, n))


# --- provisioning ---------------------------------------------------------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


@pytest.fixture(scope="module")
def vendors(ports: list[Side]) -> list[Side]:
    """A vendor registered by a client of each side's organization, with a template client."""
    for side in ports:
        vendor = _result(side, "create", ["client", {"name": "vendor"}])
        side.ids["vendor_cik"] = _result(side, "info", [vendor, {"key": True}])["key"]
        (template,) = side.rpc(
            [{"id": 1, "procedure": "create", "arguments": ["client", {"name": "template"}]}],
            auth={"cik": side.ids["vendor_cik"]},
        )
        side.ids["template"] = template["result"]
        assert _provision(side, "POST", "/provision/register", {"vendor": "hostile"}).status_code == 205
    return ports


def _form(fields: dict[str, Any]) -> str:
    """A form body as a lenient encoder writes it (a lone surrogate as its UTF-8-like bytes)."""
    return "&".join(f"{segment(str(k))}={segment(str(v))}" for k, v in fields.items())


def _provision(side: Side, method: str, path: str, fields: dict[str, Any] | None = None) -> Any:
    headers = {"X-Exosite-CIK": side.ids["vendor_cik"], **(FORM if method == "POST" else {})}
    body = _form(fields or {})
    if method == "GET":
        answer = side.http.get(f"{path}?{body}" if body else path, headers=headers)
    else:
        answer = side.http.request(method, path, content=body.encode(), headers=headers)
    assert_no_fault(answer)
    return answer


def _provision_outcomes(side: Side, v: str) -> dict[str, Any]:
    v = v[:2000]  # long enough to pass every limit, short enough for a URL
    out: dict[str, Any] = {}
    vendor = _result(side, "create", ["client", {"name": "another vendor"}])
    cik = _result(side, "info", [vendor, {"key": True}])["key"]
    registered = side.http.post(
        "/provision/register", content=_form({"vendor": v}).encode(), headers={**FORM, "X-Exosite-CIK": cik}
    )
    assert_no_fault(registered)
    shown = side.http.get("/provision/register", headers={"X-Exosite-CIK": cik})
    assert_no_fault(shown)
    out["vendor"] = (
        registered.status_code,
        shown.status_code,
        shown.text if shown.status_code == 200 else "",
    )
    model = _provision(side, "POST", "/provision/manage/model/", {"model": v, "rid": side.ids["template"]})
    shown = _provision(side, "GET", f"/provision/manage/model/{segment(v)}")
    out["model"] = (
        model.status_code,
        shown.status_code,
        _plain(shown.text) if shown.status_code == 200 else "",
    )
    name = "m" if model.status_code >= 400 else v
    if model.status_code >= 400:
        _provision(side, "POST", "/provision/manage/model/", {"model": "m", "rid": side.ids["template"]})
    added = _provision(side, "POST", f"/provision/manage/model/{segment(name)}/", {"add": "true", "sn": v})
    listed = _provision(
        side, "GET", f"/provision/manage/model/{segment(name)}/", {"offset": 0, "limit": 1000}
    )
    out["serial"] = (added.status_code, listed.status_code, sorted(_plain(listed.text).split("\n")))
    content = _provision(side, "POST", f"/provision/manage/content/{segment(name)}/", {"id": v, "meta": v})
    contents = _provision(side, "GET", f"/provision/manage/content/{segment(name)}/")
    out["content"] = (content.status_code, contents.status_code, sorted(contents.text.split("\n")))
    activated = side.http.post(
        "/provision/activate", content=_form({"vendor": v, "model": v, "sn": v}).encode(), headers=FORM
    )
    assert_no_fault(activated)
    out["activate"] = activated.status_code
    for field in ("offset", "limit"):
        out["list " + field] = _provision(
            side, "GET", f"/provision/manage/model/{segment(name)}/", {field: v}
        ).status_code
    return out


@fuzz("v", hostile_text, (*HOSTILE_TEXT_EXAMPLES[:6], str(2**64), "-1"))
def test_hostile_text_in_provisioning_forms(vendors: list[Side], v: str) -> None:
    same_on_both(vendors, lambda side: _provision_outcomes(side, v))
