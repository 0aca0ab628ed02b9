"""A real `fleetport serve` process, driven by the SDK over HTTP and HTTPS."""

from __future__ import annotations

import asyncio
import re
import signal
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import fleetport
from fleetport import AsyncClient, Client
from tests.conftest import ADMIN_KEY, RunningServer, start_server, stop_server


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("e2e"), https=True)
    yield running
    stop_server(running)


def test_sdk_builds_a_fleet_and_reads_config_history(https_server: RunningServer) -> None:
    with Client(https_server.url, ADMIN_KEY) as fp:
        assert fp.health()["status"] == "ok"
        org = fp.organizations.create("Acme Robotics", public_namespace="acme-robotics")
        loc = fp.locations.create(org.id, "Warehouse 7")
        machine = fp.machines.create(loc.id, "picker-1", metadata={"serial": "PK-1"})
        part = fp.parts.create(machine.id, "arm")
        assert {p.name: p.main_part for p in fp.machines.parts(machine.id)} == {
            "picker-1-main": True,
            "arm": False,
        }

        fp.parts.set_config(part.id, {"components": [{"name": "gripper", "type": "gripper"}]})
        fp.parts.set_config(part.id, {"components": [{"name": "gripper", "type": "gripper", "force": 5}]})
        assert fp.parts.get_config(part.id).config["components"][0]["force"] == 5
        history = list(fp.parts.config_history(part.id, limit=1))  # the iterator follows the cursor
        assert [h.previous_config for h in history] == [
            {"components": [{"name": "gripper", "type": "gripper"}]},
            {},
        ]
        assert all(h.edited_by == "bootstrap admin key" for h in history)

        key = fp.keys.create(
            org.id,
            "warehouse ops",
            [{"role": "operator", "resource_type": "location", "resource_id": loc.id}],
        )
        other_loc = fp.locations.create(org.id, "Warehouse 8")
        other_machine = fp.machines.create(other_loc.id, "picker-2")

    with Client(https_server.url, key.secret) as scoped:
        assert scoped.machines.get(machine.id).name == "picker-1"
        assert scoped.parts.restart(part.id).restart_required is True
        with pytest.raises(fleetport.PermissionDenied):
            scoped.machines.get(other_machine.id)
        with pytest.raises(fleetport.PermissionDenied):
            scoped.locations.get(other_loc.id)
        with pytest.raises(fleetport.PermissionDenied):
            scoped.organizations.get(org.id)
        with pytest.raises(fleetport.PermissionDenied):
            scoped.parts.set_config(part.id, {})
        assert [m.id for m in scoped.machines.list()] == [machine.id]

    with (
        Client(https_server.url, "wrong-key-" + "z" * 30) as stranger,
        pytest.raises(fleetport.Unauthenticated),
    ):
        stranger.organizations.get(org.id)
    with Client(https_server.url, ADMIN_KEY) as fp:
        with pytest.raises(fleetport.NotFound):
            fp.machines.get("01a1fb47-ff20-7964-9ad3-6a224f4b1444")
        with pytest.raises(fleetport.Conflict):
            fp.organizations.create("Again", public_namespace="acme-robotics")
        with pytest.raises(fleetport.InvalidArgument):
            fp.organizations.create("")


def test_async_client(https_server: RunningServer) -> None:
    async def scenario() -> list[str]:
        async with AsyncClient(https_server.url, ADMIN_KEY) as fp:
            org = await fp.organizations.create("Async Org")
            loc = await fp.locations.create(org.id, "Yard")
            made = await asyncio.gather(*(fp.machines.create(loc.id, f"bot-{i}") for i in range(5)))
            assert len({m.id for m in made}) == 5
            (main,) = [part async for part in fp.machines.parts(made[0].id)]
            await fp.parts.set_config(main.id, {"a": 1})
            assert (await fp.parts.get_config(main.id)).config == {"a": 1}
            with pytest.raises(fleetport.NotFound):
                await fp.locations.get("01a1fb47-ff20-7964-9ad3-6a224f4b1444")
            return sorted([m.name async for m in fp.machines.list(location_id=loc.id, limit=2)])

    assert asyncio.run(scenario()) == [f"bot-{i}" for i in range(5)]


def test_https_with_generated_certificate(https_server: RunningServer) -> None:
    cert = https_server.data_dir / "tls" / "cert.pem"
    assert cert.exists() and (https_server.data_dir / "tls" / "key.pem").stat().st_mode & 0o077 == 0
    assert https_server.https_url
    with Client(https_server.https_url, ADMIN_KEY, verify=str(cert)) as fp:
        assert fp.whoami().is_admin
    untrusted = Client(
        https_server.https_url, ADMIN_KEY
    )  # the self-signed certificate is not trusted by default
    with untrusted, pytest.raises(fleetport.UntrustedCertificate, match=r"not trusted.*verify="):
        untrusted.whoami()
    localhost = https_server.https_url.replace("127.0.0.1", "localhost")
    assert httpx.get(localhost + "/health", verify=ssl.create_default_context(cafile=cert)).status_code == 200


def test_login_with_password(https_server: RunningServer) -> None:
    with Client.login("admin@example.com", "admin-password", https_server.url) as fp:
        assert fp.whoami().kind == "user"
        fp.logout()
        with pytest.raises(fleetport.Unauthenticated):
            fp.whoami()


def test_first_start_prints_credentials_and_stops_gracefully(tmp_path: Path) -> None:
    running = start_server(
        tmp_path / "data", env={"FLEETPORT_ADMIN_API_KEY": "", "FLEETPORT_ADMIN_PASSWORD": ""}
    )
    try:
        banner = running.log_text()
        key = re.search(r"API key:\s+(\S+)", banner)
        password = re.search(r"password:\s+(\S+)", banner)
        assert key and password, banner
        assert f"http://localhost:{running.url.rsplit(':', 1)[1]}" in banner
        with Client(running.url, key.group(1)) as fp:
            assert fp.whoami().is_admin
        with Client.login("admin@example.com", password.group(1), running.url) as fp:
            assert fp.users.get().email == "admin@example.com"
        assert (tmp_path / "data" / "fleetport.db").exists()
    finally:
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=20) == 0
    assert "stopped" in running.log_text()

    again = start_server(
        tmp_path / "data", env={"FLEETPORT_ADMIN_API_KEY": "", "FLEETPORT_ADMIN_PASSWORD": ""}
    )
    try:
        assert "First start" not in again.log_text()
        with Client(again.url, key.group(1)) as fp:  # the data survived the restart
            assert fp.whoami().is_admin
    finally:
        assert stop_server(again) == 0


def test_request_ids_reach_the_log(server: RunningServer) -> None:
    response = httpx.get(server.url + "/api/v1/organizations", headers={"X-Request-ID": "trace-me-42"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "trace-me-42"
    for _ in range(50):
        if "[trace-me-42] GET /api/v1/organizations 401" in server.log_text():
            break
        asyncio.run(asyncio.sleep(0.05))
    assert "[trace-me-42] GET /api/v1/organizations 401" in server.log_text()
