"""Fixtures of the rerobots conformance tests: a real server on each database (with a short launch
timeout), and a fresh organization with a machine offered as a deployment, reached by the
unmodified ``rerobots`` client as its owner, an operator, a user a rule lets launch, an operator a
rule denies, the owner of another organization, and nobody."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from rerobots.api import APIClient

from tests.conformance.rerobots.containers_here import podman_here  # noqa: F401 (a fixture)
from tests.conftest import ADMIN_KEY, RunningServer, serving

ENV = {
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "1.5",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
    "FLEETPORT_REMOTE__PORTS": "21000-21009",
}
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1i1yWbOVoEXdF4DfbyaFFEY2Oy4mJuP8Md2cUzaAOa me@host"
_names = itertools.count()


@dataclass
class World:
    server: RunningServer
    admin: httpx.Client
    org_id: str
    location_id: str
    deployment_id: str
    owner: APIClient
    operator: APIClient
    ruled_in: APIClient
    ruled_out: APIClient
    other: APIClient
    nobody: APIClient
    tokens: dict[str, str]

    def client(self, token: str | None) -> APIClient:
        return APIClient(api_token=token, ignore_env=True, base_uri=self.server.url + "/rerobots")

    def deployment(self, wtype: str = "fixed_misty2", addons: list[str] | None = None, **more: Any) -> str:
        """Another machine of the organization offered as a deployment."""
        machine = ok(
            self.admin.post(
                "/api/v1/machines", json={"location_id": self.location_id, "name": f"m{next(_names)}"}
            )
        )
        body = {"machine_id": machine["id"], "type": wtype, "addons": addons or [], **more}
        return str(ok(self.admin.post("/api/v1/deployments", json=body))["id"])


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    with serving(request.param, Path(tmp_path_factory.mktemp("rerobots")), env=ENV) as server:
        yield server


def _user(admin: httpx.Client, org_id: str | None, role: str = "") -> tuple[str, str]:
    """A new user (a member of ``org_id`` with ``role`` when given), logged in: their token."""
    email = f"u{next(_names)}-{org_id or 'none'}@example.com"
    made = ok(admin.post("/api/v1/users", json={"email": email, "name": email, "password": "password1"}))
    if org_id:
        grant = {"subject_type": "user", "subject_id": made["id"], "role": role}
        grant |= {"resource_type": "organization", "resource_id": org_id}
        ok(admin.post(f"/api/v1/organizations/{org_id}/authorizations", json=grant))
    session = ok(admin.post("/api/v1/auth/login", json={"email": email, "password": "password1"}))
    return str(session["token"]), email


@pytest.fixture
def world(running: RunningServer) -> Iterator[World]:
    with httpx.Client(
        base_url=running.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as admin:
        org = ok(admin.post("/api/v1/organizations", json={"name": "rovers"}))
        elsewhere = ok(admin.post("/api/v1/organizations", json={"name": "diggers"}))
        tokens: dict[str, str] = {}
        emails: dict[str, str] = {}
        for name, org_id, role in (
            ("owner", org["id"], "owner"),
            ("operator", org["id"], "operator"),
            ("ruled_in", None, ""),
            ("ruled_out", org["id"], "operator"),
            ("other", elsewhere["id"], "owner"),
        ):
            tokens[name], emails[name] = _user(admin, org_id, role)
        location = ok(admin.post("/api/v1/locations", json={"organization_id": org["id"], "name": "lab"}))
        world = World(running, admin, org["id"], location["id"], "", *(None,) * 6, tokens)  # type: ignore[arg-type]
        world.deployment_id = world.deployment(
            "fixed_misty2", ["cam", "drive", "mistyproxy"], region="us:cali"
        )
        for name, cap in (("ruled_in", "CAP_INSTANTIATE"), ("ruled_out", "CAP_NO_INSTANTIATE")):
            rule = {"capability": cap, "user": emails[name]}
            ok(admin.post(f"/api/v1/deployments/{world.deployment_id}/rules", json=rule))
        for name in tokens:
            setattr(world, name, world.client(tokens[name]))
        world.nobody = world.client(None)
        yield world
