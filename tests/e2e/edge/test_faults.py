"""A request that fails unexpectedly, against a real server: the answer names its own request id
(header and body, in the shape of the route's API), the log holds the traceback under that id,
and the keep-alive connection carries the caller's next request.

The fault is a real one: tables the server needs are dropped behind its back."""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ADMIN_KEY, RunningServer, fresh_pg_database, start_server, stop_server

GONE = ("fragment_history", "fragments", "telemetry_tokens", "provision_vendors")
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def broken(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server whose fragments, One Platform tokens and provisioning vendors tables are gone."""
    data_dir = tmp_path_factory.mktemp(f"faults-{request.param}")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url, env = f"sqlite:///{data_dir / 'fleetport.db'}", {}
        else:
            url = stack.enter_context(fresh_pg_database())
            env = {"FLEETPORT_DATABASE_URL": url}
        server = start_server(data_dir, env=env)
        stack.callback(stop_server, server)
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for table in GONE:
                conn.execute(text(f"DROP TABLE {table}" + (" CASCADE" if request.param != "sqlite" else "")))
        engine.dispose()
        yield server


def _organization(server: RunningServer) -> str:
    answer = httpx.post(f"{server.url}/api/v1/organizations", json={"name": "faults"}, headers=AUTH)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _fault(response: httpx.Response, server: RunningServer) -> str:
    """Checks a 500 answer: its own request id in the header, cited by the body, and in the log with
    the traceback. Returns the body's text."""
    assert response.status_code == 500, response.text
    rid = response.headers.get("x-request-id", "")
    assert len(rid) >= 16, response.headers
    assert f"request id {rid}" in response.text
    log = server.log_text()
    assert f"[{rid}]" in log and "Traceback" in log.split(f"[{rid}]", 1)[1]
    return response.text


def test_native_fault_names_its_request_and_keeps_the_connection(broken: RunningServer) -> None:
    with httpx.Client(base_url=broken.url, headers=AUTH, timeout=10) as client:
        org_id = _organization(broken)
        seen: set[str] = set()
        for _ in range(3):  # each fault has its own id, and the same connection serves on
            listing = client.get("/api/v1/fragments", params={"organization_id": org_id})
            _fault(listing, broken)
            assert listing.json()["error"]["code"] == "internal"
            assert listing.json()["error"]["request_id"] == listing.headers["x-request-id"]
            seen.add(listing.headers["x-request-id"])
            created = client.post(
                "/api/v1/fragments", json={"organization_id": org_id, "name": "f", "config": {"a": 1}}
            )
            _fault(created, broken)
            seen.add(created.headers["x-request-id"])
            assert client.get("/health").json()["status"] == "ok"
        assert len(seen) == 6
        chosen = client.get(
            "/api/v1/fragments",
            params={"organization_id": org_id},
            headers={"X-Request-ID": "mine-1234567890abcdef"},
        )
        assert chosen.headers["x-request-id"] == "mine-1234567890abcdef"
        assert "request id mine-1234567890abcdef" in chosen.text


def test_the_connection_carries_the_next_request_after_a_fault(broken: RunningServer) -> None:
    """On one keep-alive connection: a fault, then a good request, on the same socket (or, had
    the server wanted to close it, a ``Connection: close`` that says so)."""
    org_id = _organization(broken)
    address = urlsplit(broken.url)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    headers = {**AUTH, "Content-Type": "application/json"}
    try:
        conn.request("GET", "/health")
        assert conn.getresponse().read()
        sock = conn.sock
        body = json.dumps({"organization_id": org_id, "name": "f", "config": {}})
        for method, path, payload in (
            ("GET", f"/api/v1/fragments?organization_id={org_id}", None),
            ("POST", "/api/v1/fragments", body),
            ("POST", "/onep:v1/rpc/process", json.dumps({"auth": {"token": "0" * 40}, "calls": []})),
        ):
            conn.request(method, path, payload, headers)
            answer = conn.getresponse()
            assert answer.status == 500, answer.read()
            assert answer.getheader("connection") != "close"
            assert answer.getheader("x-request-id", "") in answer.read().decode()
            conn.request("GET", "/health")
            assert json.loads(conn.getresponse().read())["status"] == "ok"
            assert conn.sock is sock  # the same connection served both
    finally:
        conn.close()


def test_error_answers_carry_their_request_id(broken: RunningServer) -> None:
    with httpx.Client(base_url=broken.url, timeout=10) as client:
        refused = client.get("/api/v1/organizations")
        assert refused.status_code == 401
        assert refused.json()["error"]["request_id"] == refused.headers["x-request-id"]
        missing = client.get("/api/v1/machines/0", headers=AUTH)
        assert missing.status_code == 404
        assert missing.json()["error"]["request_id"] == missing.headers["x-request-id"]


def test_one_platform_faults_answer_in_its_shapes(broken: RunningServer) -> None:
    with httpx.Client(base_url=broken.url, timeout=10) as client:
        token_auth = {
            "auth": {"token": "0" * 40},
            "calls": [{"id": 1, "procedure": "info", "arguments": ["", {}]}],
        }
        for _ in range(2):
            rpc = client.post("/onep:v1/rpc/process", json=token_auth)
            _fault(rpc, broken)
            error = rpc.json()["error"]
            assert error["code"] == 500 and error["context"] == "calls"
            vendor = client.get("/provision/admin/auth/", headers={"X-Exosite-Token": "0" * 40})
            _fault(vendor, broken)
            assert vendor.headers["content-type"].startswith("text/plain")
            assert client.get("/health").status_code == 200


def test_a_request_id_is_echoed_byte_for_byte(broken: RunningServer) -> None:
    """Yours, as sent: header bytes beyond ASCII are not re-encoded on the way back."""
    sent = b"req-\xe9\xff"
    with httpx.Client(base_url=broken.url, timeout=10) as client:
        for path in ("/health", "/api/v1/organizations", "/api/v1/fragments"):
            answer = client.get(path, headers={**AUTH, "X-Request-ID": sent})
            assert dict(answer.headers.raw)[b"x-request-id"] == sent, answer.headers.raw
