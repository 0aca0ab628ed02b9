"""The One Platform Provisioning API (``/provision``) of a real server, driven with the requests
pyonep's ``Provision`` sends (onep.md §9): form bodies with percent-encoded ``[]`` keys, no
Content-Type on PUT and DELETE, an empty auth header on activate, ``X-Exosite-Token`` on
vendor_show and vendor_unregister whatever the key. Each test gets a fresh organization with a
vendor client, a template client (with a dataport aliased ``temp`` holding one point) and an
owner client, all made through the JSON-RPC API."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetport.dialects.onep.provision import RangeNotSatisfiable, byte_range, parse_form
from tests.conftest import ADMIN_KEY, RunningServer, serving

UPLOAD_LIMIT = 64 * 1024  # the server's max_upload_bytes in these tests
FORM = "application/x-www-form-urlencoded; charset=utf-8"
HEX40 = re.compile(r"^[0-9a-f]{40}$")
MODEL = "/provision/manage/model/"
CONTENT = "/provision/manage/content/"
DATAPORT = {"format": "float", "retention": {"count": "infinity", "duration": "infinity"}}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    env = {"FLEETPORT_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}
    with serving(request.param, Path(tmp_path_factory.mktemp("provision")), env) as server:
        yield server
    # no request of the suite failed unexpectedly
    assert "Traceback" not in server.log_text()
    assert not re.search(r" /provision\S* 5\d\d ", server.log_text())


@dataclass
class Fixture:
    http: httpx.Client
    root_cik: str
    vendor: str  # the vendor name to register
    vendor_rid: str
    vendor_cik: str
    template: str  # the template client's RID
    owner_rid: str
    owner_cik: str

    # --- JSON-RPC ---------------------------------------------------------------------------

    def rpc(self, auth: dict[str, Any], procedure: str, arguments: list[Any]) -> Any:
        body = json.dumps(
            {"auth": auth, "calls": [{"id": 0, "procedure": procedure, "arguments": arguments}]}
        )
        reply = self.http.post(
            "/onep:v1/rpc/process", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )
        return reply.json()

    def ok(self, auth: dict[str, Any], procedure: str, arguments: list[Any]) -> Any:
        reply = self.rpc(auth, procedure, arguments)
        assert isinstance(reply, list) and reply[0]["status"] == "ok", reply
        return reply[0].get("result")

    # --- the wire as pyonep's Provision._request makes it -----------------------------------

    def call(
        self,
        method: str,
        path: str,
        key: str,
        data: str | bytes = "",
        *,
        key_is_cik: bool = True,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = {"X-Exosite-CIK" if key_is_cik else "X-Exosite-Token": key, "Accept": "*/*"}
        if method == "POST":
            sent["Content-Type"] = FORM
        sent.update(headers or {})
        if method == "GET":
            url = f"{path}?{data}" if data else path
            return self.http.request(method, url, headers=sent)
        body = data.encode() if isinstance(data, str) else data
        return self.http.request(method, path, content=body, headers=sent)

    def manage(self, method: str, path: str, data: str | bytes = "", **kw: Any) -> httpx.Response:
        """A management call with the vendor client's CIK."""
        return self.call(method, path, self.vendor_cik, data, **kw)

    def register(self) -> None:
        assert_reset(self.manage("POST", "/provision/register", urlencode({"vendor": self.vendor})))

    def model(self, name: str, **options: bool) -> None:
        flags = [
            f
            for f, keep in (
                ("noaliases", "aliases"),
                ("nocomments", "comments"),
                ("nohistorical", "historical"),
            )
            if not options.get(keep, True)
        ]
        data = urlencode({"model": name, "rid": self.template, "options[]": flags}, doseq=True)
        assert_reset(self.manage("POST", MODEL, data))

    def add(self, model: str, *sns: str) -> None:
        data = urlencode({"add": "true", "sn[]": list(sns)}, doseq=True)
        assert_reset(self.manage("POST", f"{MODEL}{model}/", data))

    def enable(self, model: str, sn: str, owner: str | None = None) -> str:
        reply = self.manage(
            "POST", f"{MODEL}{model}/{sn}", urlencode({"enable": "true", "owner": owner or self.owner_rid})
        )
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == "text/csv; charset=utf-8"
        assert HEX40.match(reply.text), repr(reply.text)  # bare, no newline
        return reply.text

    def activate(self, model: str, sn: str, *, vendor: str | None = None) -> httpx.Response:
        data = urlencode({"vendor": vendor or self.vendor, "model": model, "sn": sn})
        return self.call("POST", "/provision/activate", "", data)

    def activated_cik(self, model: str, sn: str) -> str:
        reply = self.activate(model, sn)
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == "text/plain; charset=utf-8"
        assert HEX40.match(reply.text), repr(reply.text)  # no trailing newline
        return reply.text

    def sn_info(self, model: str, sn: str, data: str = "") -> httpx.Response:
        return self.manage("GET", f"{MODEL}{model}/{sn}", data)

    def sn_list(self, model: str, data: str = "offset=0&limit=1000") -> list[str]:
        reply = self.manage("GET", f"{MODEL}{model}/", data)
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == "text/csv; charset=utf-8"
        return reply.text.split("\n") if reply.text else []


def assert_reset(reply: httpx.Response) -> None:
    assert reply.status_code == 205, (reply.status_code, reply.text)
    assert reply.content == b""


def assert_error(reply: httpx.Response, status: int) -> str:
    assert reply.status_code == status, (reply.status_code, reply.text)
    assert reply.headers["content-type"] == "text/plain; charset=utf-8", reply.headers
    assert reply.text and "\n" not in reply.text
    return reply.text


@pytest.fixture
def prov(running: RunningServer) -> Iterator[Fixture]:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=running.url, timeout=20) as http:
        org = http.post("/api/v1/organizations", json={"name": "Acme"}, headers=admin).json()
        root = http.get(f"/api/v1/organizations/{org['id']}/telemetry/root-client", headers=admin).json()
        f = Fixture(http, root["cik"], f"acme{uuid.uuid4().hex[:10]}", "", "", "", "", "")
        as_root = {"cik": f.root_cik}
        f.vendor_rid = f.ok(as_root, "create", ["client", {"name": "vendor"}])
        f.vendor_cik = f.ok(as_root, "info", [f.vendor_rid, {"key": True}])["key"]
        as_vendor = {"cik": f.vendor_cik}
        f.template = f.ok(as_vendor, "create", ["client", {"name": "template"}])
        in_template = {"cik": f.vendor_cik, "client_id": f.template}
        port = f.ok(in_template, "create", ["dataport", DATAPORT])
        f.ok(in_template, "map", ["alias", port, "temp"])
        f.ok(in_template, "write", [{"alias": "temp"}, 1.5, {}])
        f.owner_rid = f.ok(as_vendor, "create", ["client", {"name": "portal"}])
        f.owner_cik = f.ok(as_vendor, "info", [f.owner_rid, {"key": True}])["key"]
        yield f


# --- vendors ------------------------------------------------------------------------------------


def test_vendor_register_show_unregister(prov: Fixture) -> None:
    assert_error(prov.manage("GET", "/provision/register"), 404)
    prov.register()
    # vendor_show always sends X-Exosite-Token, even with a CIK
    shown = prov.call("GET", "/provision/register", prov.vendor_cik, key_is_cik=False)
    assert shown.status_code == 200 and shown.text == prov.vendor
    assert shown.headers["content-type"] == "text/plain; charset=utf-8"
    assert prov.manage("GET", "/provision/register").text == prov.vendor
    # one vendor per client, names unique
    assert_error(
        prov.manage("POST", "/provision/register", urlencode({"vendor": "other" + prov.vendor})), 409
    )
    taken = prov.call("POST", "/provision/register", prov.owner_cik, urlencode({"vendor": prov.vendor}))
    assert_error(taken, 409)
    # the owner is no vendor: it manages nothing
    assert_error(prov.call("GET", MODEL, prov.owner_cik), 403)
    # unregister with someone else's name is refused; with its own (X-Exosite-Token) it works
    other = urlencode({"delete": "true", "vendor": "someone-else"})
    assert_error(prov.call("POST", "/provision/register", prov.vendor_cik, other, key_is_cik=False), 403)
    gone = urlencode({"delete": "true", "vendor": prov.vendor})
    assert_reset(prov.call("POST", "/provision/register", prov.vendor_cik, gone, key_is_cik=False))
    assert_error(prov.call("GET", "/provision/register", prov.vendor_cik, key_is_cik=False), 404)
    # the name is free again
    prov.register()


def test_vendor_token(prov: Fixture) -> None:
    prov.register()
    ids = prov.manage("GET", "/provision/admin/auth/")
    assert ids.status_code == 200 and ids.text == "default"
    token = prov.manage("GET", "/provision/admin/auth/default").text
    assert HEX40.match(token) and token != prov.vendor_cik
    prov.model("m")
    # the token manages, in either header
    for key_is_cik in (False, True):
        reply = prov.call("GET", MODEL, token, key_is_cik=key_is_cik)
        assert reply.status_code == 200 and reply.text == "m"
    assert prov.call("GET", "/provision/register", token, key_is_cik=False).text == prov.vendor
    # but does not show itself
    assert_error(prov.call("GET", "/provision/admin/auth/default", token, key_is_cik=False), 403)
    assert_error(prov.manage("GET", "/provision/admin/auth/other"), 404)


# --- models -------------------------------------------------------------------------------------


def test_models(prov: Fixture) -> None:
    prov.register()
    prov.model("m1")
    assert_error(prov.manage("POST", MODEL, urlencode({"model": "m1", "rid": prov.template})), 409)
    prov.model("m2", historical=False)
    listed = prov.manage("GET", MODEL)
    assert listed.status_code == 200 and listed.headers["content-type"] == "text/csv; charset=utf-8"
    assert listed.text == "m1\nm2"
    info = prov.manage("GET", f"{MODEL}m1")
    assert info.status_code == 200
    assert info.headers["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert info.text == f"rid={prov.template}"
    assert prov.manage("GET", f"{MODEL}m2").text == f"rid={prov.template}&options[]=nohistorical"
    # model_update: PUT without Content-Type, options replaced
    update = urlencode({"rid": prov.template, "options[]": ["noaliases", "nocomments"]}, doseq=True)
    assert "options%5B%5D=noaliases" in update
    assert_reset(prov.manage("PUT", f"{MODEL}m2", update))
    assert prov.manage("GET", f"{MODEL}m2").text == (
        f"rid={prov.template}&options[]=noaliases&options[]=nocomments"
    )
    # templates must be clients of the vendor client's tree
    outside = prov.ok({"cik": prov.root_cik}, "create", ["client", {}])
    assert_error(prov.manage("POST", MODEL, urlencode({"model": "m3", "rid": outside})), 403)
    port = prov.ok({"cik": prov.vendor_cik}, "create", ["dataport", DATAPORT])
    assert_error(prov.manage("POST", MODEL, urlencode({"model": "m3", "rid": port})), 400)
    assert_error(prov.manage("POST", MODEL, urlencode({"model": "m3", "rid": prov.vendor_rid})), 400)
    assert_error(prov.manage("POST", MODEL, urlencode({"model": "m3", "rid": "nope"})), 400)
    bad_option = urlencode({"model": "m3", "rid": prov.template, "options[]": "noidea"})
    assert_error(prov.manage("POST", MODEL, bad_option), 400)
    assert_error(prov.manage("POST", MODEL, urlencode({"model": "a/b", "rid": prov.template})), 400)
    assert_error(prov.manage("POST", MODEL, urlencode({"rid": prov.template})), 400)
    # model_remove: DELETE with pyonep's body and no Content-Type
    assert_reset(
        prov.manage("DELETE", f"{MODEL}m2", urlencode({"delete": "true", "model": "m2", "confirm": "true"}))
    )
    assert_error(prov.manage("GET", f"{MODEL}m2"), 404)
    assert_error(prov.manage("PUT", f"{MODEL}m2", update), 404)
    # the docs' form of delete
    assert_reset(prov.manage("POST", MODEL, urlencode({"delete": "true", "model": "m1"})))
    assert prov.manage("GET", MODEL).text == ""


def test_model_from_share_code(prov: Fixture) -> None:
    prov.register()
    code = prov.ok(
        {"cik": prov.vendor_cik}, "share", [prov.template, {"meta": json.dumps([prov.vendor, "m"])}]
    )
    assert isinstance(code, str) and code
    # manage_by_sharecode: the code goes in `code`
    data = urlencode({"model": "m", "code": code, "options[]": ["noaliases"]}, doseq=True)
    assert_reset(prov.manage("POST", MODEL, data))
    assert prov.manage("GET", f"{MODEL}m").text == f"code={code}&options[]=noaliases"
    # model_update always sends it as `rid`; it stays a code
    assert_reset(prov.manage("PUT", f"{MODEL}m", urlencode({"rid": code})))
    assert prov.manage("GET", f"{MODEL}m").text == f"code={code}"
    prov.add("m", "s1")
    clone = prov.enable("m", "s1")
    cik = prov.activated_cik("m", "s1")
    assert prov.ok({"cik": cik}, "lookup", ["alias", "temp"])
    assert prov.ok({"cik": cik}, "lookup", ["alias", ""]) == clone
    assert_error(prov.manage("POST", MODEL, urlencode({"model": "n", "code": "0" * 40})), 400)


# --- serial numbers -----------------------------------------------------------------------------


def test_serial_numbers_add_list_remove(prov: Fixture) -> None:
    prov.register()
    prov.model("m")
    path = f"{MODEL}m/"
    # pyonep serialnumber_add: add=true&sn=..
    assert_reset(prov.manage("POST", path, "add=true&sn=001"))
    assert_error(prov.manage("POST", path, "add=true&sn=001"), 409)
    # the docs' single form with extra
    assert_reset(prov.manage("POST", path, urlencode({"sn": "002", "extra": "blue unit"})))
    # batch, percent-encoded keys
    assert_reset(prov.manage("POST", path, "add=true&sn%5B%5D=003&sn%5B%5D=004"))
    # a batch with one existing serial number adds none
    assert_error(prov.manage("POST", path, "add=true&sn%5B%5D=005&sn%5B%5D=001"), 409)
    assert_error(prov.manage("POST", path, "add=true&sn%5B%5D=006&sn%5B%5D=006"), 409)
    # CSV lines from csv.writer (CRLF), and LF
    csv_headers = {"Content-Type": "text/csv; charset=utf-8"}
    assert_reset(prov.manage("POST", path, '005,first\r\n006,"with, comma"\r\n', headers=csv_headers))
    assert_reset(prov.manage("POST", path, "007,x\n008\n", headers=csv_headers))
    assert prov.sn_list("m") == [
        "001,,",
        "002,,blue unit",
        "003,,",
        "004,,",
        "005,,first",
        "006,,with, comma",
        "007,,x",
        "008,,",
    ]
    assert prov.sn_list("m", "offset=0&limit=1000&status=true")[:2] == ["001,,,", "002,,,blue unit"]
    # limit is brought within 5..1000
    assert [line.split(",")[0] for line in prov.sn_list("m", "offset=2&limit=2")] == [
        "003",
        "004",
        "005",
        "006",
        "007",
    ]
    assert [line.split(",")[0] for line in prov.sn_list("m", "offset=6&limit=5000")] == ["007", "008"]
    assert prov.sn_list("m", "offset=100&limit=10") == []
    assert_error(prov.manage("GET", path, "offset=x&limit=10"), 400)
    assert_error(prov.manage("GET", path, "offset=-1&limit=10"), 400)
    # info of an unused serial number: 204
    unused = prov.sn_info("m", "001")
    assert unused.status_code == 204 and unused.content == b""
    assert_error(prov.sn_info("m", "999"), 404)
    # batch remove: pyonep's remove=true and the docs' delete=true
    assert_reset(prov.manage("POST", path, "remove=true&sn%5B%5D=003&sn%5B%5D=004"))
    assert_reset(prov.manage("POST", path, "delete=true&sn=005"))
    # all or nothing
    assert_error(prov.manage("POST", path, "remove=true&sn%5B%5D=006&sn%5B%5D=nope"), 404)
    assert "006" in [line.split(",")[0] for line in prov.sn_list("m")]
    # exoline's DELETE with a CSV body
    assert_reset(prov.manage("DELETE", path, "006\r\n007\r\n", headers=csv_headers))
    # serialnumber_remove
    assert_reset(prov.manage("DELETE", f"{path}008"))
    assert_error(prov.manage("DELETE", f"{path}008"), 404)
    assert [line.split(",")[0] for line in prov.sn_list("m")] == ["001", "002"]
    # bad serial numbers
    assert_error(prov.manage("POST", path, urlencode({"sn": "a,b"})), 400)
    assert_error(prov.manage("POST", path, urlencode({"sn": "a/b"})), 400)
    assert_error(prov.manage("POST", path, urlencode({"sn": "x", "extra": "two\nlines"})), 400)
    assert_error(prov.manage("POST", path, "add=true"), 400)
    assert_error(prov.manage("POST", f"{MODEL}nomodel/", "add=true&sn=1"), 404)
    assert_error(
        prov.manage("POST", path, '{"ranges": []}', headers={"Content-Type": "application/javascript"}), 400
    )


def test_enable_activate_use_disable_reenable(prov: Fixture) -> None:
    prov.register()
    prov.model("m")
    prov.add("m", "001", "002")
    rid = prov.enable("m", "001")
    assert rid != prov.template
    # the clone is a client of the owner, not activated yet, with the template's alias and point
    assert prov.ok({"cik": prov.owner_cik}, "lookup", ["owner", rid]) == prov.owner_rid
    basic = prov.ok({"cik": prov.owner_cik}, "info", [rid, {"basic": True}])["basic"]
    assert basic["status"] == "notactivated"
    in_clone = {"cik": prov.owner_cik, "client_id": rid}
    assert [v for _, v in prov.ok(in_clone, "read", [{"alias": "temp"}, {}])] == [1.5]
    info = prov.sn_info("m", "001")
    assert info.status_code == 200 and info.headers["content-type"] == "text/csv; charset=utf-8"
    assert info.text == f"notactivated,{rid},"
    assert prov.sn_list("m", "offset=0&limit=10&status=true") == [f"001,notactivated,{rid},", "002,,,"]
    assert prov.sn_list("m") == [f"001,{rid},", "002,,"]
    # enabling again is a conflict
    assert_error(
        prov.manage("POST", f"{MODEL}m/001", urlencode({"enable": "true", "owner": prov.owner_rid})), 409
    )

    # activate: the CIK once, bare; the auth header is present but empty
    cik = prov.activated_cik("m", "001")
    assert_error(prov.activate("m", "001"), 409)
    assert prov.sn_info("m", "001").text == f"activated,{rid},"
    # the device writes with its CIK; the owner reads
    assert prov.ok({"cik": cik}, "write", [{"alias": "temp"}, 21.5, {}]) is None
    assert prov.ok(in_clone, "read", [{"alias": "temp"}, {}])[0][1] == 21.5
    assert prov.ok({"cik": prov.owner_cik}, "info", [rid, {"basic": True}])["basic"]["status"] == "activated"
    # the activation log
    logged = prov.sn_info("m", "001", "show=log")
    assert logged.status_code == 200 and logged.headers["content-type"] == "text/csv; charset=utf-8"
    lines = logged.text.split("\n")
    assert len(lines) == 2
    first = lines[0].split(",", 2)
    assert abs(int(first[0]) - time.time()) < 60 and first[1] == "127.0.0.1" and first[2] == "activated"
    assert lines[1].split(",", 2)[2].startswith("refused")
    assert prov.sn_info("m", "002", "show=log").status_code == 204

    # disable: activation refused; the key handed out keeps working
    assert_reset(prov.manage("POST", f"{MODEL}m/001", "disable=true"))
    assert prov.sn_info("m", "001").text == f"disabled,{rid},"
    assert_error(prov.activate("m", "001"), 409)
    assert prov.ok({"cik": cik}, "write", [{"alias": "temp"}, 22.5, {}]) is None
    # re-enable: a new key to activate; the old one stops working
    assert_reset(prov.manage("POST", f"{MODEL}m/001", "enable=true"))
    assert prov.sn_info("m", "001").text == f"notactivated,{rid},"
    assert prov.rpc({"cik": cik}, "info", [{"alias": ""}, {}])["error"]["code"] == 401
    new_cik = prov.activated_cik("m", "001")
    assert new_cik != cik
    assert prov.ok({"cik": new_cik}, "write", [{"alias": "temp"}, 23.5, {}]) is None
    assert_error(prov.activate("m", "001"), 409)
    # re-enabling a serial number without a client is a conflict
    assert_error(prov.manage("POST", f"{MODEL}m/002", "enable=true"), 409)
    # unknown vendor, model, serial number: 404; missing fields: 400
    assert_error(prov.activate("m", "nope"), 404)
    assert_error(prov.activate("nomodel", "001"), 404)
    assert_error(prov.activate("m", "001", vendor="novendor" + prov.vendor), 404)
    assert_error(prov.call("POST", "/provision/activate", "", "vendor=x&model=y"), 400)
    assert_error(prov.activate("m", "002"), 409)  # not enabled
    # X-Exosite-Token flavour of the empty header, and no header at all
    assert_reset(prov.manage("POST", f"{MODEL}m/001", "enable=true"))
    data = urlencode({"vendor": prov.vendor, "model": "m", "sn": "001"})
    reply = prov.call("POST", "/provision/activate", "", data, key_is_cik=False)
    assert reply.status_code == 200 and HEX40.match(reply.text)
    assert_reset(prov.manage("POST", f"{MODEL}m/001", "enable=true"))
    bare = prov.http.post("/provision/activate", content=data, headers={"Content-Type": FORM})
    assert bare.status_code == 200 and HEX40.match(bare.text)


def test_enable_owner_checks_and_historical_option(prov: Fixture) -> None:
    prov.register()
    prov.model("plain", historical=False, aliases=False)
    prov.add("plain", "s1", "s2", "s3")
    path = f"{MODEL}plain/"
    outside = prov.ok({"cik": prov.root_cik}, "create", ["client", {}])
    assert_error(prov.manage("POST", f"{path}s1", urlencode({"enable": "true", "owner": outside})), 403)
    assert_error(prov.manage("POST", f"{path}s1", urlencode({"enable": "true", "owner": "zz"})), 400)
    port = prov.ok({"cik": prov.vendor_cik}, "create", ["dataport", DATAPORT])
    assert_error(prov.manage("POST", f"{path}s1", urlencode({"enable": "true", "owner": port})), 400)
    # an owner inside the template cannot receive its clone
    assert_error(prov.manage("POST", f"{path}s1", urlencode({"enable": "true", "owner": prov.template})), 409)
    assert_error(prov.manage("POST", f"{path}s1", "bogus=true"), 400)
    assert_error(prov.manage("POST", f"{path}s1", "enable=maybe"), 400)
    assert_error(
        prov.manage(
            "POST", f"{path}s1", urlencode({"enable": "true", "owner": prov.owner_rid, "oldsn": "s2"})
        ),
        400,
    )
    assert_error(
        prov.manage("POST", f"{path}nope", urlencode({"enable": "true", "owner": prov.owner_rid})), 404
    )
    assert prov.sn_info("plain", "s1").status_code == 204  # nothing happened
    # the vendor client itself may own clones; no aliases and no history were copied
    rid = prov.enable("plain", "s1", owner=prov.vendor_rid)
    listing = prov.ok({"cik": prov.vendor_cik, "client_id": rid}, "listing", [["dataport"], {}])
    [port_rid] = listing["dataport"]
    assert prov.ok({"cik": prov.vendor_cik, "client_id": rid}, "read", [port_rid, {}]) == []
    assert (
        prov.rpc({"cik": prov.vendor_cik, "client_id": rid}, "lookup", ["alias", "temp"])[0]["status"] != "ok"
    )


def test_remap_and_remove_keep_the_client(prov: Fixture) -> None:
    prov.register()
    prov.model("m")
    prov.add("m", "old", "new", "spare")
    rid = prov.enable("m", "old")
    old_cik = prov.activated_cik("m", "old")
    assert_error(prov.manage("POST", f"{MODEL}m/new", "enable=true&oldsn=nothere"), 404)
    assert_error(prov.manage("POST", f"{MODEL}m/spare", "enable=true&oldsn=new"), 409)  # new has no client
    assert_reset(prov.manage("POST", f"{MODEL}m/new", urlencode({"enable": "true", "oldsn": "old"})))
    assert prov.sn_info("m", "old").status_code == 204
    assert prov.sn_info("m", "new").text == f"notactivated,{rid},"
    assert_error(prov.activate("m", "old"), 409)
    new_cik = prov.activated_cik("m", "new")
    assert new_cik != old_cik
    assert prov.rpc({"cik": old_cik}, "info", [{"alias": ""}, {}])["error"]["code"] == 401
    assert prov.ok({"cik": new_cik}, "lookup", ["alias", ""]) == rid
    # remove the serial number: the client stays with its owner, and its key works
    assert_reset(prov.manage("DELETE", f"{MODEL}m/new"))
    assert_error(prov.sn_info("m", "new"), 404)
    assert prov.ok({"cik": prov.owner_cik}, "lookup", ["owner", rid]) == prov.owner_rid
    assert prov.ok({"cik": new_cik}, "write", [{"alias": "temp"}, 5.0, {}]) is None
    # so do the clients of a removed model
    spare = prov.enable("m", "spare")
    assert_reset(prov.manage("DELETE", f"{MODEL}m", "delete=true&model=m&confirm=true"))
    assert prov.ok({"cik": prov.owner_cik}, "lookup", ["owner", spare]) == prov.owner_rid


# --- content ------------------------------------------------------------------------------------


def test_content(prov: Fixture) -> None:
    prov.register()
    prov.model("m")
    prov.add("m", "dev", "other")
    prov.enable("m", "dev")
    device = prov.activated_cik("m", "dev")
    path = f"{CONTENT}m/"
    assert_reset(prov.manage("POST", path, urlencode({"id": "a.txt", "meta": "This is a.txt!"})))
    assert_error(prov.manage("POST", path, urlencode({"id": "a.txt", "meta": "again"})), 409)
    assert_reset(prov.manage("POST", path, urlencode({"id": "fw.bin", "meta": "v2", "protected": "true"})))
    listed = prov.manage("GET", path)
    assert listed.status_code == 200 and listed.headers["content-type"] == "text/csv; charset=utf-8"
    assert listed.text == "a.txt\nfw.bin"
    # before upload
    assert prov.manage("GET", f"{path}a.txt").text.startswith(",0,")
    dl = {"vendor": prov.vendor, "model": "m", "id": "a.txt"}
    assert_error(prov.call("GET", "/provision/download", device, urlencode(dl)), 404)
    # content_upload: the raw body with its own Content-Type
    data = b"This is content data"
    assert_reset(prov.manage("POST", f"{path}a.txt", data, headers={"Content-Type": "text/plain"}))
    firmware = bytes(range(256)) * 16
    octets = {"Content-Type": "application/octet-stream"}
    assert_reset(prov.manage("POST", f"{path}fw.bin", firmware, headers=octets))
    info = prov.manage("GET", f"{path}a.txt")
    assert info.headers["content-type"] == "text/csv; charset=utf-8"
    kind, size, updated, meta, protected = info.text.split(",")
    assert (kind, int(size), meta, protected) == ("text/plain", len(data), "This is a.txt!", "false")
    assert abs(int(updated) - time.time()) < 60
    assert prov.manage("GET", f"{path}fw.bin").text.endswith(",v2,true")

    # content_download with the device's CIK
    got = prov.call("GET", "/provision/download", device, urlencode(dl), headers={"Accept": "*"})
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["accept-ranges"] == "bytes"
    for header, status, body, content_range in (
        ("bytes=0-3", 206, data[0:4], f"bytes 0-3/{len(data)}"),
        ("bytes=5-", 206, data[5:], f"bytes 5-{len(data) - 1}/{len(data)}"),
        ("bytes=-4", 206, data[-4:], f"bytes {len(data) - 4}-{len(data) - 1}/{len(data)}"),
        ("bytes=10-1000", 206, data[10:], f"bytes 10-{len(data) - 1}/{len(data)}"),
    ):
        part = prov.call("GET", "/provision/download", device, urlencode(dl), headers={"Range": header})
        assert (part.status_code, part.content) == (status, body), header
        assert part.headers["content-range"] == content_range
        assert part.headers["content-length"] == str(len(body))
    for header in ("bytes=100-200", "bytes=-0"):
        unsatisfiable = prov.call(
            "GET", "/provision/download", device, urlencode(dl), headers={"Range": header}
        )
        assert_error(unsatisfiable, 416)
        assert unsatisfiable.headers["content-range"] == f"bytes */{len(data)}"
    # a malformed range is ignored
    whole = prov.call("GET", "/provision/download", device, urlencode(dl), headers={"Range": "bytes=9-2"})
    assert whole.status_code == 200 and whole.content == data
    # content_info with vendor: four fields
    info4 = prov.call("GET", "/provision/download", device, urlencode({**dl, "info": "true"}))
    assert info4.text.split(",")[:2] == ["text/plain", str(len(data))] and info4.text.endswith(
        ",This is a.txt!"
    )
    assert len(info4.text.split(",")) == 4
    # the vendor's own key downloads too; exoline's ?download=true on the manage path
    assert prov.call("GET", "/provision/download", prov.vendor_cik, urlencode(dl)).content == data
    assert prov.manage("GET", f"{path}fw.bin", "download=true").content == firmware
    # protected content: only while the device's serial number is enabled
    fw = {**dl, "id": "fw.bin"}
    got_fw = prov.call("GET", "/provision/download", device, urlencode(fw))
    assert got_fw.content == firmware and got_fw.headers["content-type"] == "application/octet-stream"
    assert (
        prov.call("GET", "/provision/download", device, urlencode({"vendor": prov.vendor, "model": "m"})).text
        == "a.txt\nfw.bin"
    )
    assert_reset(prov.manage("POST", f"{MODEL}m/dev", "disable=true"))
    assert_error(prov.call("GET", "/provision/download", device, urlencode(fw)), 403)
    assert prov.call("GET", "/provision/download", device, urlencode(dl)).content == data
    assert (
        prov.call("GET", "/provision/download", device, urlencode({"vendor": prov.vendor, "model": "m"})).text
        == "a.txt"
    )
    # keys that are no device of the model; bad vendor or model
    assert_error(prov.call("GET", "/provision/download", prov.owner_cik, urlencode(dl)), 403)
    assert_error(prov.call("GET", "/provision/download", device, urlencode({**dl, "vendor": "nobody"})), 403)
    assert_error(prov.call("GET", "/provision/download", device, urlencode({**dl, "model": "nomodel"})), 403)
    assert_error(prov.call("GET", "/provision/download", "", urlencode(dl)), 401)
    assert_error(prov.call("GET", "/provision/download", "f" * 40, urlencode(dl)), 401)
    assert_error(prov.call("GET", "/provision/download", device, urlencode({**dl, "id": "nothing"})), 404)
    # oversized uploads: declared length, and chunked
    assert_error(prov.manage("POST", f"{path}nothing", b"x", headers=octets), 404)
    too_big = b"x" * (UPLOAD_LIMIT + 1)
    assert_error(prov.manage("POST", f"{path}a.txt", too_big, headers=octets), 413)

    def chunks() -> Iterator[bytes]:
        for _ in range(UPLOAD_LIMIT // 1024 + 2):
            yield b"y" * 1024

    headers = {"X-Exosite-CIK": prov.vendor_cik, **octets}
    assert_error(prov.http.post(f"{path}a.txt", content=chunks(), headers=headers), 413)
    assert prov.call("GET", "/provision/download", device, urlencode(dl)).content == data  # unchanged
    # content_remove
    assert_reset(prov.manage("DELETE", f"{path}a.txt"))
    assert_error(prov.manage("GET", f"{path}a.txt"), 404)
    assert_reset(prov.manage("POST", path, "delete=true&id=fw.bin"))
    assert prov.manage("GET", path).text == ""


# --- bad requests -------------------------------------------------------------------------------


def test_errors_are_text(prov: Fixture) -> None:
    prov.register()
    prov.model("m")
    # no key, an empty key, an unknown key, a malformed key
    assert_error(prov.http.get(MODEL), 401)
    assert_error(prov.call("GET", MODEL, ""), 401)
    assert_error(prov.call("GET", MODEL, "0" * 40), 401)
    assert_error(prov.call("GET", MODEL, "not a key"), 401)
    # unknown model
    assert_error(prov.manage("GET", f"{MODEL}nope"), 404)
    assert_error(prov.manage("GET", f"{MODEL}nope/"), 404)
    assert_error(prov.manage("GET", f"{CONTENT}nope/"), 404)
    # a body that is not UTF-8 after percent-decoding
    assert_error(prov.manage("POST", f"{MODEL}m/", "add=true&sn=%FF"), 400)
    assert_error(prov.manage("POST", f"{MODEL}m/", b"add=true&sn=\xff"), 400)
    assert_error(prov.manage("POST", f"{MODEL}m/", b"\xff\xfe", headers={"Content-Type": "text/csv"}), 400)
    assert_error(
        prov.manage(
            "POST", MODEL, "model=x&rid=" + prov.template + "&options%5B%5D=noaliases&delete=perhaps"
        ),
        400,
    )
    # paths and methods this API does not have
    assert_error(prov.manage("GET", "/provision/nothing"), 404)
    wrong = prov.manage("PATCH", f"{MODEL}m")
    assert_error(wrong, 405)
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "PUT", "DELETE"}
    assert_error(prov.manage("PUT", "/provision/activate"), 405)
    # a form body over the general limit (1 MiB)
    big = "add=true&" + "&".join(f"sn%5B%5D={i:08d}" for i in range(80_000))
    assert str(1 << 20) in assert_error(prov.manage("POST", f"{MODEL}m/", big), 413)
    assert prov.sn_list("m") == []


def test_activation_hands_the_key_out_once_under_concurrency(prov: Fixture, running: RunningServer) -> None:
    prov.register()
    prov.model("m")
    prov.add("m", "s")
    prov.enable("m", "s")
    data = urlencode({"vendor": prov.vendor, "model": "m", "sn": "s"})

    def attempt(_: int) -> int:
        with httpx.Client(base_url=running.url, timeout=20) as http:
            return http.post("/provision/activate", content=data, headers={"Content-Type": FORM}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(attempt, range(8)))
    assert codes == [200] + [409] * 7


# --- the parsers, property-based ------------------------------------------------------------------

form_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@given(st.lists(st.tuples(form_text, form_text), max_size=8))
def test_parse_form_reads_what_urlencode_writes(pairs: list[tuple[str, str]]) -> None:
    form = parse_form(urlencode(pairs).encode())
    for key, _ in pairs:
        name = key[:-2] if key.endswith("[]") else key
        expected = [v for k, v in pairs if (k[:-2] if k.endswith("[]") else k) == name]
        assert form.all(name) == expected


@given(st.text(max_size=30), st.integers(min_value=0, max_value=10_000))
def test_byte_range_stays_within_the_content(header: str, size: int) -> None:
    try:
        span = byte_range(header, size)
    except RangeNotSatisfiable:
        return
    if span is not None:
        start, end = span
        assert 0 <= start <= end < size


@given(st.integers(0, 500), st.integers(0, 500), st.integers(1, 400))
def test_byte_range_forms(first: int, last: int, size: int) -> None:
    if first < size:
        assert byte_range(f"bytes={first}-", size) == (first, size - 1)
        if first <= last:
            assert byte_range(f"bytes={first}-{last}", size) == (first, min(last, size - 1))
    else:
        with pytest.raises(RangeNotSatisfiable):
            byte_range(f"bytes={first}-", size)
    if last > 0:
        assert byte_range(f"bytes=-{last}", size) == (max(0, size - last), size - 1)
