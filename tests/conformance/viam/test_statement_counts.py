"""How many SQL statements one Viam request costs: composite answers are read by the core in a
fixed number of statements, whatever the number of machines (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from grpclib.client import Channel
from grpclib.server import Server
from sqlalchemy import event
from viam.app.app_client import AppClient
from viam.proto.app import AuthorizedPermissions

from fleetport.core.credentials import BearerToken
from fleetport.core.fleet import Fleet
from fleetport.core.models import GrantSpec
from fleetport.core.pages import PageRequest
from fleetport.core.permissions import Principal
from fleetport.dialects.viam.service import AppService
from tests.conftest import free_port

MACHINES = 50


@contextmanager
def statements(fleet: Fleet) -> Iterator[list[str]]:
    """The SQL statements the store's engine sends to the database meanwhile."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(fleet.store.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(fleet.store.engine, "before_cursor_execute", record)


def owner_key(fleet: Fleet, admin: Principal) -> tuple[str, str, str]:
    """An organization with one location of ``MACHINES`` machines and two empty ones, and an owner
    key of it: the key's secret, the organization and the full location."""
    org = fleet.organizations.create(admin, "counted")
    location = fleet.locations.create(admin, org.id, "lab")
    for name in ("yard", "shed"):
        fleet.locations.create(admin, org.id, name)
    for n in range(MACHINES):
        fleet.machines.create(admin, location.id, f"rover {n}")
    key = fleet.identity.create_key(admin, org.id, "owner", [GrantSpec("owner", "organization", org.id)])
    assert key.secret
    return key.secret, org.id, location.id


def test_list_robots_of_fifty_machines_takes_three_statements_and_locations_a_fixed_number(
    fleet: Fleet, admin: Principal
) -> None:
    secret, org_id, location_id = owner_key(fleet, admin)
    seen = fleet.machines.list(admin, PageRequest(1)).items[0]
    part = fleet.machines.parts(admin, seen.id)[0]
    as_part = fleet.identity.authenticate(BearerToken(fleet.machines.create_secret(admin, part.id).secret))
    fleet.machines.get_config(as_part, part.id)  # the part fetches its config: the machine was seen

    async def scenario() -> tuple[list[Any], list[str], list[Any], list[str]]:
        server = Server([AppService(fleet)])
        port = free_port()
        await server.start("127.0.0.1", port)
        channel = Channel("127.0.0.1", port)
        try:
            app = AppClient(channel, {"authorization": f"Bearer {secret}"})
            await app.list_robots(location_id)  # the key's credential is looked up once, then cached
            with statements(fleet) as listed:
                robots = await app.list_robots(location_id)
            with statements(fleet) as located:
                locations = await app.list_locations(org_id)
            return robots, listed, locations, located
        finally:
            channel.close()
            server.close()
            await server.wait_closed()

    robots, listed, locations, located = asyncio.run(scenario())
    assert len(robots) == MACHINES
    assert {r.id: r.last_access.seconds > 0 for r in robots if r.id == seen.id} == {seen.id: True}
    assert sum(r.last_access.seconds > 0 for r in robots) == 1
    assert len(listed) <= 3, listed
    assert sorted(loc.robot_count for loc in locations) == [0, 0, MACHINES]
    assert next(loc.robot_count for loc in locations if loc.id == location_id) == MACHINES
    assert all(len(loc.auth.secrets) == 1 for loc in locations)  # the owner sees each one's secret
    # the organization, its shared locations, the key's reach, the page of locations, their
    # counts, their secrets
    assert len(located) <= 6, located


def test_whole_answers_take_a_fixed_number_of_statements(fleet: Fleet, admin: Principal) -> None:
    """Permission checks of fifty machines, the members and invites of an organization, its keys
    and its authorizations are each read in a few statements, not one per item."""
    secret, org_id, location_id = owner_key(fleet, admin)
    robot_ids = [m.id for m in fleet.machines.list(admin, PageRequest(MACHINES)).items]
    member = fleet.identity.create_user(admin, "member@example.com", "member", "password1")
    fleet.identity.grant_to(admin, org_id, member.id, GrantSpec("operator", "organization", org_id))
    for n in range(10):
        fleet.organizations.invite(admin, org_id, f"invitee{n}@example.com", [])
        fleet.identity.create_key(admin, org_id, f"key {n}", [GrantSpec("operator", "organization", org_id)])
    asked = [
        AuthorizedPermissions(
            resource_type="robot", resource_id=robot_id, permissions=["read_robot", "update_robot"]
        )
        for robot_id in robot_ids
    ]

    async def scenario() -> dict[str, tuple[Any, list[str]]]:
        server = Server([AppService(fleet)])
        port = free_port()
        await server.start("127.0.0.1", port)
        channel = Channel("127.0.0.1", port)
        try:
            app = AppClient(channel, {"authorization": f"Bearer {secret}"})
            await app.list_robots(location_id)  # the key's credential is looked up once, then cached
            calls = {
                "permissions": lambda: app.check_permissions(asked),
                "members": lambda: app.list_organization_members(org_id),
                "keys": lambda: app.list_keys(org_id),
                "authorizations": lambda: app.list_authorizations(org_id),
                "organizations": lambda: app.list_organizations(),
            }
            found = {}
            for name, make in calls.items():
                with statements(fleet) as sent:
                    answer = await make()
                found[name] = (answer, sent)
            return found
        finally:
            channel.close()
            server.close()
            await server.wait_closed()

    found = asyncio.run(scenario())
    checked, sent = found["permissions"]
    assert [list(c.permissions) for c in checked] == [["read_robot", "update_robot"]] * MACHINES
    assert len(sent) <= 4, sent  # the machines, and the key's reach for each permission
    (members, invites), sent = found["members"]
    assert ([m.emails for m in members], len(invites)) == ([["member@example.com"]], 10)
    assert len(sent) <= 4, sent  # the organization, its members, their authorizations, its invites
    keys, sent = found["keys"]
    assert len(keys) == 11
    assert len(sent) <= 4, sent  # the organization, its keys, their authorizations
    authorizations, sent = found["authorizations"]
    assert len(authorizations) == 12  # the keys' and the member's
    assert len(sent) <= 3, sent
    organizations, sent = found["organizations"]
    assert [o.id for o in organizations] == [org_id]
    assert len(sent) <= 2, sent
