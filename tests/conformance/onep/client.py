"""Tests of the One Platform clients (fleetport.onep), and what they share: a capture server, a real
HTTP server on a socket that records every request and answers canned replies, for the wire details a
Fleetport server cannot show; and the wire tables of onep.md §6 (JSON-RPC argument arrays) and §9
(provisioning requests), which both fleetport.onep and the upstream pyonep must reproduce."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from fleetport.onep import OnepV1
from tests.conftest import ADMIN_KEY, RunningServer

INFINITE = {"count": "infinity", "duration": "infinity"}


@dataclass
class Root:
    """An organization's root client in the One Platform resource tree."""

    cik: str
    rid: str


def open_root(server: RunningServer) -> Root:
    """A new organization's root client, read through the native API as the administrator."""
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    ) as http:
        org = http.post("/api/v1/organizations", json={"name": "Acme"}).raise_for_status().json()
        root = http.get(f"/api/v1/organizations/{org['id']}/telemetry/root-client").raise_for_status().json()
    return Root(root["cik"], root["rid"])


def client_for(url: str, **options: Any) -> OnepV1:
    """A fleetport.onep client for the server at ``url`` (plain HTTP)."""
    parsed = httpx.URL(url)
    return OnepV1(host=parsed.host, port=parsed.port or 80, https=False, **options)


@dataclass
class Captured:
    """One request as the capture server read it."""

    method: str
    target: str  # path and query string, as sent
    headers: list[tuple[str, str]]  # in order, names as sent
    body: bytes
    client_port: int  # the client's end of the TCP connection

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Canned:
    """A reply: status, body, Content-Type, and how long to wait before sending it."""

    status: int = 200
    body: bytes | str = b""
    content_type: str = "application/json; charset=utf-8"
    delay: float = 0.0


@dataclass
class CaptureServer:
    host: str
    port: int
    requests: list[Captured] = field(default_factory=list)
    replies: deque[Canned] = field(default_factory=deque)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def last(self) -> Captured:
        return self.requests[-1]

    def answer(self, *replies: Canned) -> None:
        """Queues replies for the next requests; after them, the default reply is back."""
        self.replies.extend(replies)

    def default(self, method: str, body: bytes) -> Canned:
        """A JSON-RPC envelope gets "ok" for every call; anything else gets 205 with no body."""
        if method == "POST" and body.startswith(b"{"):
            try:
                calls = json.loads(body)["calls"]
                return Canned(body=json.dumps([{"id": c["id"], "status": "ok"} for c in calls]))
            except (ValueError, KeyError, TypeError):
                pass
        return Canned(status=205, content_type="")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so that connection reuse shows
    capture: CaptureServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.capture.requests.append(
            Captured(self.command, self.path, list(self.headers.items()), body, self.client_address[1])
        )
        reply = (
            self.capture.replies.popleft()
            if self.capture.replies
            else self.capture.default(self.command, body)
        )
        if reply.delay:
            time.sleep(reply.delay)
        data = reply.body.encode() if isinstance(reply.body, str) else reply.body
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up waiting (a timeout test) is no error here


@contextmanager
def capture_server() -> Iterator[CaptureServer]:
    capture = CaptureServer("127.0.0.1", 0)
    handler = type("Handler", (_Handler,), {"capture": capture})
    server = _Server(("127.0.0.1", 0), handler)
    capture.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- onep.md §6: (method, positional arguments after auth, procedure, arguments as sent)

RID = "0123456789abcdef0123456789abcdef01234567"
CODE = "fedcba9876543210fedcba9876543210fedcba98"
R = {"alias": "x"}
DESC = {"format": "float", "retention": {"count": "infinity", "duration": "infinity"}}
PERMISSIONS = {RID: ["read", "write"]}
TYPES = ["client", "dataport"]

RPC_CALLS: list[tuple[str, tuple[Any, ...], str, list[Any]]] = [
    ("activate", ("client", CODE), "activate", ["client", CODE]),
    ("create", ("client", {"name": "dev"}), "create", ["client", {"name": "dev"}]),
    ("createDataport", (DESC,), "create", ["dataport", DESC]),
    ("deactivate", ("share", CODE), "deactivate", ["share", CODE]),
    ("drop", (RID,), "drop", [RID]),
    ("flush", (R,), "flush", [R]),
    ("flush", (R, {"newerthan": 1, "olderthan": 5}), "flush", [R, {"newerthan": 1, "olderthan": 5}]),
    ("grant", (R, PERMISSIONS), "grant", [R, PERMISSIONS]),
    ("grant", (R, PERMISSIONS, 1000), "grant", [R, PERMISSIONS, {"ttl": 1000}]),
    ("info", (R,), "info", [R, {}]),
    ("info", (RID, {"basic": True, "key": True}), "info", [RID, {"basic": True, "key": True}]),
    ("listing", (TYPES,), "listing", [TYPES]),
    ("listing", (TYPES, {"owned": True}), "listing", [TYPES, {"owned": True}]),
    ("listing", (TYPES, {}, {"alias": ""}), "listing", [{"alias": ""}, TYPES, {}]),
    (
        "listing",
        (["client", "token"], [], {"alias": ""}),
        "listing",
        [{"alias": ""}, ["client", "token"], []],
    ),
    ("lookup", ("alias", "x"), "lookup", ["alias", "x"]),
    ("lookup", ("owner", RID), "lookup", ["owner", RID]),
    ("map", (RID, "x"), "map", ["alias", RID, "x"]),
    ("move", (R, RID), "move", [R, RID, {"aliases": True}]),
    ("move", (R, RID, {"aliases": False}), "move", [R, RID, {"aliases": False}]),
    ("read", (R, {"limit": 10, "sort": "asc"}), "read", [R, {"limit": 10, "sort": "asc"}]),
    ("record", (R, [[1, 2], [3, 4]]), "record", [R, [[1, 2], [3, 4]], {}]),
    ("recordbatch", (R, [[1, 2], [3, 4]]), "recordbatch", [R, [[1, 2], [3, 4]]]),
    ("revoke", ("client", CODE), "revoke", ["client", CODE]),
    ("share", (R,), "share", [R, {}]),
    ("share", (R, {"meta": "m"}), "share", [R, {"meta": "m"}]),
    ("tag", (R, "add", "t"), "tag", [R, "add", "t"]),
    ("unmap", ("x",), "unmap", ["alias", "x"]),
    ("update", (R,), "update", [R, {}]),
    ("update", (R, {"name": "n"}), "update", [R, {"name": "n"}]),
    ("usage", (R, "dataport", 0, 100), "usage", [R, "dataport", 0, 100]),
    ("wait", (R, {"timeout": 1000, "since": None}), "wait", [R, {"timeout": 1000, "since": None}]),
    ("write", (R, "你好"), "write", [R, "你好", {}]),
    ("write", (RID, 1.5, {}), "write", [RID, 1.5, {}]),
    ("writegroup", ([[R, 1], [RID, 2]],), "writegroup", [[[R, 1], [RID, 2]]]),
]

# -- onep.md §9: (method, arguments, HTTP method, target, body, whose key header, Content-Type).
# The key header is "K" (X-Exosite-CIK, or X-Exosite-Token without manage_by_cik), "CIK" or "TOKEN"
# (always that one), or "EMPTY" (as "K", with an empty value). None: no Content-Type.

KEY = "a1b2c3d4" * 5
FORM = "application/x-www-form-urlencoded; charset=utf-8"
MODEL = "/provision/manage/model/"
CONTENT = "/provision/manage/content/"

PROVISION_CALLS: list[tuple[str, tuple[Any, ...], str, str, bytes, str, str | None]] = [
    (
        "content_create",
        (KEY, "m", "c1", "some meta"),
        "POST",
        CONTENT + "m/",
        b"id=c1&meta=some+meta",
        "K",
        FORM,
    ),
    (
        "content_create",
        (KEY, "m", "c1", "x", True),
        "POST",
        CONTENT + "m/",
        b"id=c1&meta=x&protected=true",
        "K",
        FORM,
    ),
    (
        "content_download",
        (KEY, "v", "m", "c1"),
        "GET",
        "/provision/download?vendor=v&model=m&id=c1",
        b"",
        "CIK",
        None,
    ),
    ("content_info", (KEY, "m", "c1"), "GET", CONTENT + "m/c1", b"", "K", None),
    (
        "content_info",
        (KEY, "m", "c1", "v"),
        "GET",
        "/provision/download?vendor=v&model=m&id=c1&info=true",
        b"",
        "K",
        None,
    ),
    ("content_list", (KEY, "m"), "GET", CONTENT + "m/", b"", "K", None),
    ("content_remove", (KEY, "m", "c1"), "DELETE", CONTENT + "m/c1", b"", "K", None),
    (
        "content_upload",
        (KEY, "m", "c1", b"\x00\x01 blob", "application/octet-stream"),
        "POST",
        CONTENT + "m/c1",
        b"\x00\x01 blob",
        "K",
        "application/octet-stream",
    ),
    ("model_create", (KEY, "m", RID), "POST", MODEL, b"model=m&rid=" + RID.encode(), "K", FORM),
    (
        "model_create",
        (KEY, "m", RID, False, False, False),
        "POST",
        MODEL,
        b"model=m&rid=" + RID.encode() + b"&options%5B%5D=noaliases&options%5B%5D=nocomments"
        b"&options%5B%5D=nohistorical",
        "K",
        FORM,
    ),
    ("model_info", (KEY, "m"), "GET", MODEL + "m", b"", "K", None),
    ("model_list", (KEY,), "GET", MODEL, b"", "K", None),
    ("model_remove", (KEY, "m"), "DELETE", MODEL + "m", b"delete=true&model=m&confirm=true", "K", None),
    (
        "model_update",
        (KEY, "m", RID, True, True, False),
        "PUT",
        MODEL + "m",
        b"rid=" + RID.encode() + b"&options%5B%5D=nohistorical",
        "K",
        None,
    ),
    ("model_update", (KEY, "m", RID), "PUT", MODEL + "m", b"rid=" + RID.encode(), "K", None),
    (
        "serialnumber_activate",
        ("m", "sn 1", "v"),
        "POST",
        "/provision/activate",
        b"vendor=v&model=m&sn=sn+1",
        "EMPTY",
        FORM,
    ),
    ("serialnumber_add", (KEY, "m", "sn1"), "POST", MODEL + "m/", b"add=true&sn=sn1", "K", FORM),
    (
        "serialnumber_add",
        (KEY, "m", "sn1", "extra data"),
        "POST",
        MODEL + "m/",
        b"add=true&sn=sn1&extra=extra+data",
        "K",
        FORM,
    ),
    (
        "serialnumber_add_batch",
        (KEY, "m", ["a", "b c"]),
        "POST",
        MODEL + "m/",
        b"add=true&sn%5B%5D=a&sn%5B%5D=b+c",
        "K",
        FORM,
    ),
    (
        "serialnumber_add_batch_csv",
        (KEY, "m", "a,x\r\nb,y\r\n"),
        "POST",
        MODEL + "m/",
        b"a,x\r\nb,y\r\n",
        "K",
        "text/csv; charset=utf-8",
    ),
    ("serialnumber_disable", (KEY, "m", "sn1"), "POST", MODEL + "m/sn1", b"disable=true", "K", FORM),
    (
        "serialnumber_enable",
        (KEY, "m", "sn1", RID),
        "POST",
        MODEL + "m/sn1",
        b"enable=true&owner=" + RID.encode(),
        "K",
        FORM,
    ),
    ("serialnumber_info", (KEY, "m", "sn1"), "GET", MODEL + "m/sn1", b"", "K", None),
    ("serialnumber_info", (KEY, "m", "sn1", True), "GET", MODEL + "m/sn1?show=log", b"", "K", None),
    ("serialnumber_list", (KEY, "m"), "GET", MODEL + "m/?offset=0&limit=1000", b"", "K", None),
    (
        "serialnumber_list",
        (KEY, "m", 5, 10, True),
        "GET",
        MODEL + "m/?offset=5&limit=10&status=true",
        b"",
        "K",
        None,
    ),
    ("serialnumber_reenable", (KEY, "m", "sn1"), "POST", MODEL + "m/sn1", b"enable=true", "K", FORM),
    (
        "serialnumber_remap",
        (KEY, "m", "sn2", "sn1"),
        "POST",
        MODEL + "m/sn2",
        b"enable=true&oldsn=sn1",
        "K",
        FORM,
    ),
    ("serialnumber_remove", (KEY, "m", "sn1"), "DELETE", MODEL + "m/sn1", b"", "K", None),
    (
        "serialnumber_remove_batch",
        (KEY, "m", ["a", "b"]),
        "POST",
        MODEL + "m/",
        b"remove=true&sn%5B%5D=a&sn%5B%5D=b",
        "K",
        FORM,
    ),
    ("vendor_register", (KEY, "acme"), "POST", "/provision/register", b"vendor=acme", "K", FORM),
    ("vendor_show", (KEY,), "GET", "/provision/register", b"", "TOKEN", None),
    (
        "vendor_unregister",
        (KEY, "acme"),
        "POST",
        "/provision/register",
        b"delete=true&vendor=acme",
        "TOKEN",
        FORM,
    ),
]


def key_header(who: str, manage_by_cik: bool) -> tuple[str, str]:
    """The key header a row of PROVISION_CALLS expects: (name, value)."""
    if who == "CIK":
        return "X-Exosite-CIK", KEY
    if who == "TOKEN":
        return "X-Exosite-Token", KEY
    name = "X-Exosite-CIK" if manage_by_cik else "X-Exosite-Token"
    return name, "" if who == "EMPTY" else KEY
