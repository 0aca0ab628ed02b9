"""Fixtures of the One Platform conformance tests: a real server on each database, and a fresh
organization's root client with helpers to post envelopes as pyonep posts them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY, RunningServer, serving

HEADERS = {"Content-Type": "application/json; charset=utf-8"}


@dataclass
class OneP:
    server: RunningServer
    http: httpx.Client
    cik: str
    rid: str

    def post(self, body: bytes | str) -> Any:
        reply = self.http.post("/onep:v1/rpc/process", content=body, headers=HEADERS)
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("application/json")
        return reply.json()

    def rpc(self, *calls: tuple[str, list[Any]], auth: dict[str, Any] | None = None) -> Any:
        envelope = {
            "auth": auth if auth is not None else {"cik": self.cik},
            "calls": [
                {"id": i, "procedure": proc, "arguments": args} for i, (proc, args) in enumerate(calls)
            ],
        }
        return self.post(json.dumps(envelope))

    def one(self, procedure: str, arguments: list[Any], auth: dict[str, Any] | None = None) -> Any:
        (reply,) = self.rpc((procedure, arguments), auth=auth)
        assert reply["id"] == 0
        return reply

    def ok(self, procedure: str, arguments: list[Any], auth: dict[str, Any] | None = None) -> Any:
        reply = self.one(procedure, arguments, auth)
        assert reply["status"] == "ok", reply
        return reply.get("result")

    def dataport(self, alias: str, fmt: str = "float", retention: Any = None) -> str:
        desc = {"format": fmt, "retention": retention or {"count": "infinity", "duration": "infinity"}}
        rid = self.ok("create", ["dataport", desc])
        assert self.ok("map", ["alias", rid, alias]) is None
        return str(rid)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A real server on each database."""
    with serving(request.param, Path(tmp_path_factory.mktemp("onep"))) as server:
        yield server


@pytest.fixture
def onep(running: RunningServer) -> Iterator[OneP]:
    """A fresh organization's root client, for each test."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=running.url, timeout=10) as http:
        org = http.post("/api/v1/organizations", json={"name": "Acme"}, headers=admin).json()
        root = http.get(f"/api/v1/organizations/{org['id']}/telemetry/root-client", headers=admin).json()
        yield OneP(running, http, root["cik"], root["rid"])
