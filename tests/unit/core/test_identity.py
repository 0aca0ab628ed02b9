"""Users, sessions, API keys and authorizations, in the core services (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from fleetport.core.credentials import ApiKeySecret, BearerToken
from fleetport.core.errors import Conflict, Invalid, NotFound, PermissionDenied, Unauthenticated
from fleetport.core.fleet import Fleet
from fleetport.core.models import GrantSpec
from fleetport.core.pages import PageRequest
from fleetport.core.permissions import Principal


def test_bootstrap_happens_once(fleet: Fleet) -> None:
    again = fleet.identity.bootstrap("other@example.com", None, None)
    assert again.created is False


def test_bootstrap_rejects_short_key(settings) -> None:  # type: ignore[no-untyped-def]
    from fleetport.server import open_fleet

    f = open_fleet(settings)
    try:
        with pytest.raises(Invalid, match="32"):
            f.identity.bootstrap("a@example.com", None, "short")
        boot = f.identity.bootstrap("a@example.com", None, None)
        assert boot.created and boot.api_key and boot.password
        assert f.identity.authenticate(BearerToken(boot.api_key)).is_admin
        assert f.identity.login("a@example.com", boot.password).user.is_admin
    finally:
        f.store.dispose()


def test_login_and_session(fleet: Fleet, admin: Principal) -> None:
    fleet.identity.create_user(admin, "Ada@Example.com", "Ada", "correct horse")
    session = fleet.identity.login("ada@example.com", "correct horse")
    who = fleet.identity.authenticate(BearerToken(session.token))
    assert who.kind == "user" and who.display == "ada@example.com" and not who.is_admin
    with pytest.raises(Unauthenticated):
        fleet.identity.login("ada@example.com", "wrong password")
    with pytest.raises(Unauthenticated):
        fleet.identity.login("nobody@example.com", "correct horse")
    fleet.identity.logout(fleet.identity.authenticate(BearerToken(session.token)), session.token)
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(BearerToken(session.token))


def test_password_change_ends_sessions(fleet: Fleet, admin: Principal) -> None:
    user = fleet.identity.create_user(admin, "bo@example.com", "Bo", "first password")
    session = fleet.identity.login("bo@example.com", "first password")
    fleet.identity.set_password(admin, user.id, "second password")
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(BearerToken(session.token))
    assert fleet.identity.login("bo@example.com", "second password").user.id == user.id


def test_users_are_unique_and_admin_only(fleet: Fleet, admin: Principal) -> None:
    fleet.identity.create_user(admin, "cy@example.com", "Cy", "password1")
    with pytest.raises(Conflict):
        fleet.identity.create_user(admin, "CY@example.com", "Cy again", "password1")
    with pytest.raises(Invalid):
        fleet.identity.create_user(admin, "not-an-email", "x", "password1")
    with pytest.raises(Invalid):
        fleet.identity.create_user(admin, "short@example.com", "x", "short")
    session = fleet.identity.login("cy@example.com", "password1")
    cy = fleet.identity.authenticate(BearerToken(session.token))
    with pytest.raises(PermissionDenied):
        fleet.identity.create_user(cy, "dee@example.com", "Dee", "password1")
    with pytest.raises(PermissionDenied):
        fleet.identity.list_users(cy, PageRequest(10))
    assert fleet.identity.get_user(cy, "me").email == "cy@example.com"


def _org_with_location(fleet: Fleet, admin: Principal) -> tuple[str, str]:
    org = fleet.organizations.create(admin, "Acme")
    loc = fleet.locations.create(admin, org.id, "Lab")
    return org.id, loc.id


def test_key_lifecycle(fleet: Fleet, admin: Principal) -> None:
    org_id, loc_id = _org_with_location(fleet, admin)
    key = fleet.identity.create_key(admin, org_id, "ci", [GrantSpec("operator", "location", loc_id)])
    assert key.secret and key.secret.startswith("fpk_")
    caller = fleet.identity.authenticate(BearerToken(key.secret))
    assert caller.api_key_id == key.id and [g.role for g in caller.grants] == ["operator"]
    assert fleet.identity.authenticate(ApiKeySecret(key.id, key.secret)).id == key.id
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(ApiKeySecret("another-id", key.secret))

    rotated = fleet.identity.rotate_key(admin, key.id)
    assert rotated.id == key.id and rotated.secret != key.secret
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(BearerToken(key.secret))
    assert fleet.identity.authenticate(BearerToken(rotated.secret)).api_key_id == key.id  # type: ignore[arg-type]

    clone = fleet.identity.clone_key(admin, key.id, "ci copy")
    assert clone.id != key.id and clone.name == "ci copy"
    assert [(a.role, a.resource_id) for a in clone.authorizations] == [("operator", loc_id)]

    listed = fleet.identity.list_keys(admin, org_id, PageRequest(10))
    assert {k.id for k in listed.items} == {key.id, clone.id}
    assert all(k.secret is None for k in listed.items)

    fleet.identity.delete_key(admin, key.id)
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(BearerToken(rotated.secret))  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        fleet.identity.get_key(admin, key.id)


def test_key_needs_grants_inside_its_organization(fleet: Fleet, admin: Principal) -> None:
    org_id, _ = _org_with_location(fleet, admin)
    other_org = fleet.organizations.create(admin, "Other")
    with pytest.raises(Invalid, match="at least one"):
        fleet.identity.create_key(admin, org_id, "empty", [])
    with pytest.raises(Invalid, match="does not belong"):
        fleet.identity.create_key(admin, org_id, "x", [GrantSpec("owner", "organization", other_org.id)])
    with pytest.raises(Invalid, match="role"):
        fleet.identity.create_key(admin, org_id, "x", [GrantSpec("king", "organization", org_id)])
    with pytest.raises(NotFound):
        fleet.identity.create_key(admin, org_id, "x", [GrantSpec("owner", "location", "not-a-uuid")])
    assert fleet.identity.list_keys(admin, org_id, PageRequest(10)).items == []  # nothing half-written


def test_operator_cannot_manage_keys(fleet: Fleet, admin: Principal) -> None:
    org_id, _ = _org_with_location(fleet, admin)
    key = fleet.identity.create_key(admin, org_id, "op", [GrantSpec("operator", "organization", org_id)])
    op = fleet.identity.authenticate(BearerToken(key.secret))  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        fleet.identity.create_key(op, org_id, "escalate", [GrantSpec("owner", "organization", org_id)])
    with pytest.raises(PermissionDenied):
        fleet.identity.list_keys(op, org_id, PageRequest(10))


def test_check_permissions(fleet: Fleet, admin: Principal) -> None:
    org_id, loc_id = _org_with_location(fleet, admin)
    machine = fleet.machines.create(admin, loc_id, "rover")
    key = fleet.identity.create_key(admin, org_id, "op", [GrantSpec("operator", "location", loc_id)])
    op = fleet.identity.authenticate(BearerToken(key.secret))  # type: ignore[arg-type]
    asked = ["read_robot", "control_robot", "update_robot_config", "read_robot_logs"]
    assert fleet.identity.check_permissions(op, "robot", machine.id, asked) == [
        "read_robot",
        "control_robot",
        "read_robot_logs",
    ]
    assert fleet.identity.check_permissions(op, "organization", org_id, ["read_organization"]) == []
    assert fleet.identity.check_permissions(admin, "robot", machine.id, asked) == asked
    with pytest.raises(Invalid, match="unknown permissions"):
        fleet.identity.check_permissions(op, "robot", machine.id, ["fly"])


def test_authorizations_added_and_removed(fleet: Fleet, admin: Principal) -> None:
    org_id, loc_id = _org_with_location(fleet, admin)
    user = fleet.identity.create_user(admin, "eve@example.com", "Eve", "password1")
    auth = fleet.identity.add_authorization(
        admin, org_id, "user", user.id, GrantSpec("owner", "location", loc_id)
    )
    again = fleet.identity.add_authorization(
        admin, org_id, "user", user.id, GrantSpec("owner", "location", loc_id)
    )
    assert again.id == auth.id
    eve = fleet.identity.authenticate(BearerToken(fleet.identity.login("eve@example.com", "password1").token))
    assert fleet.locations.get(eve, loc_id).id == loc_id
    fleet.identity.remove_authorization(admin, org_id, auth.id)
    eve = fleet.identity.authenticate(BearerToken(fleet.identity.login("eve@example.com", "password1").token))
    with pytest.raises(PermissionDenied):
        fleet.locations.get(eve, loc_id)


def test_credential_cache_revokes_at_once_here_and_within_ttl_elsewhere(
    settings, fleet: Fleet, admin: Principal
) -> None:  # type: ignore[no-untyped-def]
    """A second Fleet on the same database stands for a second server process."""
    import time

    from fleetport.core.fleet import Fleet as FleetOf
    from fleetport.store import Store

    org_id, loc_id = _org_with_location(fleet, admin)
    key = fleet.identity.create_key(admin, org_id, "k", [GrantSpec("operator", "location", loc_id)])
    assert key.secret
    other = FleetOf(
        Store(settings.resolved_database_url), settings.model_copy(update={"credential_cache_seconds": 0.5})
    )
    try:
        assert fleet.identity.authenticate(BearerToken(key.secret)).api_key_id == key.id  # now cached here
        assert other.identity.authenticate(BearerToken(key.secret)).api_key_id == key.id  # and there
        fleet.identity.delete_key(admin, key.id)
        with pytest.raises(Unauthenticated):
            fleet.identity.authenticate(BearerToken(key.secret))  # this process: at once
        assert (
            other.identity.authenticate(BearerToken(key.secret)).api_key_id == key.id
        )  # the other: until its ttl
        time.sleep(0.6)
        with pytest.raises(Unauthenticated):
            other.identity.authenticate(BearerToken(key.secret))
    finally:
        other.store.dispose()


def test_grant_changes_reach_cached_credentials(fleet: Fleet, admin: Principal) -> None:
    org_id, loc_id = _org_with_location(fleet, admin)
    machine = fleet.machines.create(admin, loc_id, "rover")
    key = fleet.identity.create_key(admin, org_id, "k", [GrantSpec("operator", "robot", machine.id)])
    assert key.secret
    assert (
        fleet.machines.get(fleet.identity.authenticate(BearerToken(key.secret)), machine.id).id == machine.id
    )
    (grant,) = fleet.identity.get_key(admin, key.id).authorizations
    fleet.identity.remove_authorization(admin, org_id, grant.id)
    with pytest.raises(PermissionDenied):
        fleet.machines.get(fleet.identity.authenticate(BearerToken(key.secret)), machine.id)
    fleet.identity.add_authorization(admin, org_id, "api_key", key.id, GrantSpec("owner", "location", loc_id))
    caller = fleet.identity.authenticate(BearerToken(key.secret))
    assert fleet.machines.update(caller, machine.id, name="renamed").name == "renamed"
    fleet.machines.delete(admin, machine.id)  # deleting a machine drops grants on it too
    assert [g.resource_id for g in fleet.identity.authenticate(BearerToken(key.secret)).grants] == [loc_id]
