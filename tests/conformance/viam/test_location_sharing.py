"""A shared location through the real AppClient: every action against every way access is
granted (tests/sharing_matrix.py), on SQLite and PostgreSQL. Writing logs has no AppClient method;
the native API's matrix covers it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from viam.app.app_client import APIKeyAuthorization, AppClient

from tests.conftest import ADMIN_KEY, RunningServer
from tests.sharing_matrix import ACTIONS, ALLOWED, USE, WAYS, build_world, expected, make_key, snapshot

VIAM_ACTIONS = tuple(a for a in ACTIONS if a != "write logs")


async def _part_secrets(app: AppClient, part_id: str) -> None:
    """Viam shows a part's secrets only to those who may manage them; others see none."""
    if not (await app.get_robot_part(part_id)).secrets:
        raise GRPCError(Status.PERMISSION_DENIED, "no secrets shown")


def _actions(ids: dict[str, str]) -> dict[str, Callable[[AppClient], Awaitable[Any]]]:
    la, part = ids["LA"], ids["RA.part"]
    return {
        "get location": lambda app: app.get_location(la),
        "list robots": lambda app: app.list_robots(la),
        "get robot": lambda app: app.get_robot(ids["RA"]),
        "get parts": lambda app: app.get_robot_parts(ids["RA"]),
        "read config": lambda app: app.get_robot_part(part),
        "config history": lambda app: app.get_robot_part_history(part),
        "read logs": lambda app: app.get_robot_part_logs(part),
        "restart part": lambda app: app.mark_part_for_restart(part),
        "get nested location": lambda app: app.get_location(ids["LAn"]),
        "get nested robot": lambda app: app.get_robot(ids["RAn"]),
        "rename location": lambda app: app.update_location(la, name="taken"),
        "read location secrets": lambda app: app.location_auth(la),
        "create location secret": lambda app: app.create_location_secret(la),
        "create sub-location": lambda app: app.create_location(ids["A"], "sub", parent_location_id=la),
        "create robot": lambda app: app.new_robot("new", la),
        "rename robot": lambda app: app.update_robot(ids["RA"], "taken"),
        "set config": lambda app: app.update_robot_part(part, "RA-main", {"x": 1}),
        "read part secrets": lambda app: _part_secrets(app, part),
        "create part secret": lambda app: app.create_robot_part_secret(part),
        "new part": lambda app: app.new_robot_part(ids["RA"], "extra"),
        "share on": lambda app: app.share_location(ids["C"], la),
        "move location": lambda app: app.update_location(la, parent_location_id=ids["LA2"]),
        "move robot within": lambda app: app.update_robot(ids["RA"], "taken", ids["LA2"]),
        "move robot to guest": lambda app: app.update_robot(ids["RA"], "taken", ids["LB"]),
        "unshare": lambda app: app.unshare_location(ids["B"], la),
        "delete location": lambda app: app.delete_location(ids["LAe"]),
        "delete robot": lambda app: app.delete_robot(ids["RA"]),
    }


def _run(
    server: RunningServer, secret: str, actions: dict[str, Callable[[AppClient], Awaitable[Any]]]
) -> dict[str, str]:
    async def scenario() -> dict[str, str]:
        channel = Channel("127.0.0.1", server.grpc_port)
        app = AppClient(channel, {"authorization": f"Bearer {secret}"})
        seen = {}
        try:
            for name, act in actions.items():
                try:
                    await act(app)
                except GRPCError as exc:
                    seen[name] = (
                        "denied" if exc.status == Status.PERMISSION_DENIED else f"{exc.status} {exc.message}"
                    )
                else:
                    seen[name] = "allowed"
        finally:
            channel.close()
        return seen

    return asyncio.run(scenario())


@pytest.fixture
def admin(viam_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=viam_server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        yield client


@pytest.mark.parametrize("way", list(WAYS))
def test_shared_location_matrix(viam_server: RunningServer, admin: httpx.Client, way: str) -> None:
    ids = build_world(admin)
    secret, _ = make_key(admin, ids, WAYS[way])
    before = snapshot(admin, ids)
    actions = _actions(ids)
    assert list(actions) == list(VIAM_ACTIONS)
    seen = _run(viam_server, secret, actions)
    assert seen == {name: outcome for name, outcome in expected(way).items() if name in VIAM_ACTIONS}
    if not ALLOWED[way] - set(USE):
        assert snapshot(admin, ids) == before  # a way that may only use changed nothing
    if seen["delete robot"] != "allowed":  # the owning organization keeps its robot
        owner_secret, _ = make_key(admin, ids, WAYS["A owner"])
        renamed = _run(viam_server, owner_secret, {"rename": lambda app: app.update_robot(ids["RA"], "mine")})
        assert renamed == {"rename": "allowed"}


def test_guest_sees_what_is_shared_but_no_secrets(viam_server: RunningServer, admin: httpx.Client) -> None:
    ids = build_world(admin)
    secret, key_id = make_key(admin, ids, WAYS["B owner"])

    async def scenario() -> dict[str, Any]:
        channel = Channel("127.0.0.1", viam_server.grpc_port)
        app = AppClient(channel, {"authorization": f"Bearer {secret}"})
        try:
            part = await app.get_robot_part(ids["RA.part"])
            refused = []
            for attempt in (  # roles on what is shared cannot be handed out by the guest
                app.create_key(ids["B"], [APIKeyAuthorization("owner", "location", ids["LA"])]),
                app.add_role(ids["B"], key_id, "owner", "location", ids["LA"]),
            ):
                try:
                    await attempt
                except GRPCError as exc:
                    refused.append(exc.status)
            return {
                "refused": refused,
                "locations": {loc.name for loc in await app.list_locations(ids["B"])},
                "robots": {r.name for r in await app.list_robots(ids["LA"])},
                "part secrets": (part.secret, list(part.secrets)),
                "orgs": [o.id for o in await app.get_organizations_with_access_to_location(ids["LA"])],
            }
        finally:
            channel.close()

    seen = asyncio.run(scenario())
    assert seen == {
        "refused": [Status.INVALID_ARGUMENT, Status.INVALID_ARGUMENT],
        "locations": {"LA", "LAn", "LAe", "LB"},
        "robots": {"RA"},
        "part secrets": ("", []),
        "orgs": [ids["A"], ids["B"]],
    }


def test_a_guest_does_not_see_the_other_guests(viam_server: RunningServer, admin: httpx.Client) -> None:
    ids = build_world(admin)
    shared = admin.post(f"/api/v1/locations/{ids['LA']}/shares", json={"organization_id": ids["C"]})
    assert shared.status_code == 204, shared.text

    async def seen_by(secret: str) -> tuple[list[str], list[str]]:
        channel = Channel("127.0.0.1", viam_server.grpc_port)
        app = AppClient(channel, {"authorization": f"Bearer {secret}"})
        try:
            location = await app.get_location(ids["LA"])
            with_access = await app.get_organizations_with_access_to_location(ids["LA"])
            return [o.organization_id for o in location.organizations], [o.id for o in with_access]
        finally:
            channel.close()

    guest, _ = make_key(admin, ids, WAYS["B operator"])
    owner, _ = make_key(admin, ids, WAYS["LA operator"])
    assert asyncio.run(seen_by(guest)) == ([ids["A"], ids["B"]], [ids["A"], ids["B"]])
    everyone = [ids["A"], ids["B"], ids["C"]]
    assert asyncio.run(seen_by(owner)) == (everyone, everyone)
