"""The SDK on a transport the user gives: ``AsyncClient`` against the server's ASGI app in the same
process (no socket), and ``Client`` against an ``httpx.MockTransport``."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fleetport import AsyncClient, Client, NotFound
from fleetport.core.fleet import Fleet
from fleetport.server import create_app
from tests.conftest import ADMIN_KEY


def test_async_client_runs_against_the_app_in_process(fleet: Fleet) -> None:
    async def scenario() -> tuple[str, list[str], str]:
        transport = httpx.ASGITransport(app=create_app(fleet))
        async with AsyncClient("http://fleetport.test", ADMIN_KEY, transport=transport) as fp:
            org = await fp.organizations.create("In-process Robotics")
            location = await fp.locations.create(org.id, "Bench")
            made = [await fp.machines.create(location.id, f"rover-{i}") for i in range(3)]
            fetched = await fp.machines.get(made[1].id)
            names = [m.name async for m in fp.machines.list(location_id=location.id, limit=2)]
            with pytest.raises(NotFound):
                await fp.machines.get("00000000-0000-0000-0000-000000000000")
            return fetched.name, sorted(names), (await fp.whoami()).kind

    name, names, principal = asyncio.run(scenario())
    assert name == "rover-1"
    assert names == ["rover-0", "rover-1", "rover-2"]  # two pages of two
    assert principal == "api_key"


def test_client_sends_through_the_given_transport() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/missing"):
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no such machine"}})
        return httpx.Response(
            200,
            json={
                "id": "org-1",
                "name": "Mocked",
                "public_namespace": None,
                "region": "",
                "cid": "",
                "metadata": {},
                "created_at": "2026-01-01T00:00:00Z",
            },
        )

    with Client("http://fleetport.test", "the-key", transport=httpx.MockTransport(answer)) as fp:
        assert fp.organizations.get("org-1").name == "Mocked"
        with pytest.raises(NotFound, match="no such machine"):
            fp.machines.get("missing")

    assert [(r.method, r.url.path) for r in seen] == [
        ("GET", "/api/v1/organizations/org-1"),
        ("GET", "/api/v1/machines/missing"),
    ]
    assert {r.headers["authorization"] for r in seen} == {"Bearer the-key"}


def test_async_login_goes_through_the_given_transport(fleet: Fleet) -> None:
    async def scenario() -> tuple[bool, str | None]:
        transport = httpx.ASGITransport(app=create_app(fleet))
        fp = await AsyncClient.login(
            "admin@example.com", "admin-password", "http://fleetport.test", transport=transport
        )
        async with fp:
            return (await fp.whoami()).is_admin, fp.api_key

    is_admin, token = asyncio.run(scenario())
    assert is_admin and token and token != ADMIN_KEY
