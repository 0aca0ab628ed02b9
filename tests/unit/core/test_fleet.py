"""Organizations, locations, machines and parts in the core services (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from fleetport.core.credentials import BearerToken
from fleetport.core.errors import Conflict, FailedPrecondition, Invalid, NotFound, PermissionDenied
from fleetport.core.fleet import Fleet
from fleetport.core.models import GrantSpec
from fleetport.core.pages import PageRequest
from fleetport.core.permissions import Principal


def _user(fleet: Fleet, admin: Principal, email: str) -> Principal:
    fleet.identity.create_user(admin, email, email.split("@")[0], "password1")
    return _login(fleet, email)


def _login(fleet: Fleet, email: str) -> Principal:
    """A fresh principal: grants are read when a request authenticates."""
    return fleet.identity.authenticate(BearerToken(fleet.identity.login(email, "password1").token))


def test_creator_owns_organization(fleet: Fleet, admin: Principal) -> None:
    ann = _user(fleet, admin, "ann@example.com")
    org = fleet.organizations.create(ann, "Ann's robots", public_namespace="ann-bots", metadata={"tier": 1})
    ann = _login(fleet, "ann@example.com")
    assert fleet.organizations.get(ann, org.id).metadata == {"tier": 1}
    members = fleet.organizations.members(ann, org.id, PageRequest(10)).items
    assert [(m.user.email, [a.role for a in m.authorizations]) for m in members] == [
        ("ann@example.com", ["owner"])
    ]
    assert [o.id for o in fleet.organizations.list(ann, PageRequest(10)).items] == [org.id]
    bob = _user(fleet, admin, "bob@example.com")
    assert fleet.organizations.list(bob, PageRequest(10)).items == []
    with pytest.raises(PermissionDenied):
        fleet.organizations.get(bob, org.id)


def test_public_namespace_rules(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "One")
    with pytest.raises(Invalid):
        fleet.organizations.update(admin, org.id, public_namespace="Bad_Name")
    fleet.organizations.update(admin, org.id, public_namespace="one")
    with pytest.raises(FailedPrecondition, match="cannot change"):
        fleet.organizations.update(admin, org.id, public_namespace="two")
    assert fleet.organizations.update(admin, org.id, public_namespace="one").public_namespace == "one"
    with pytest.raises(Conflict):
        fleet.organizations.create(admin, "Two", public_namespace="one")
    other = fleet.organizations.create(admin, "Three")
    with pytest.raises(Conflict):
        fleet.organizations.update(admin, other.id, public_namespace="one")


def test_pagination_walks_everything_once(fleet: Fleet, admin: Principal) -> None:
    made = [fleet.organizations.create(admin, f"org {i}").id for i in range(7)]
    seen, cursor = [], None
    while True:
        page = fleet.organizations.list(admin, PageRequest(3, cursor))
        seen += [o.id for o in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == made
    with pytest.raises(Invalid, match="cursor"):
        fleet.organizations.list(admin, PageRequest(3, "garbage!"))


def test_invites(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "Acme")
    loc = fleet.locations.create(admin, org.id, "Lab")
    invite = fleet.organizations.invite(
        admin, org.id, "Cat@Example.com", [GrantSpec("operator", "location", loc.id)]
    )
    assert invite.email == "cat@example.com" and invite.sent_count == 1
    with pytest.raises(Conflict):
        fleet.organizations.invite(
            admin, org.id, "cat@example.com", [GrantSpec("owner", "organization", org.id)]
        )
    assert fleet.organizations.resend_invite(admin, org.id, invite.id).sent_count == 2
    updated = fleet.organizations.update_invite(
        admin,
        org.id,
        invite.id,
        add=[GrantSpec("owner", "organization", org.id)],
        remove=[GrantSpec("operator", "location", loc.id)],
    )
    assert [(g.role, g.resource_type) for g in updated.authorizations] == [("owner", "organization")]
    dan = _user(fleet, admin, "dan@example.com")
    with pytest.raises(PermissionDenied):
        fleet.organizations.accept_invite(dan, invite.id)
    cat = _user(fleet, admin, "cat@example.com")
    auths = fleet.organizations.accept_invite(cat, invite.id)
    assert [(a.role, a.resource_id) for a in auths] == [("owner", org.id)]
    assert fleet.organizations.invites(admin, org.id, PageRequest(10)).items == []
    cat = _login(fleet, "cat@example.com")
    assert fleet.organizations.get(cat, org.id).name == "Acme"


def test_nested_and_shared_locations(fleet: Fleet, admin: Principal) -> None:
    acme = fleet.organizations.create(admin, "Acme")
    partner = fleet.organizations.create(admin, "Partner")
    site = fleet.locations.create(admin, acme.id, "Site")
    bay = fleet.locations.create(admin, acme.id, "Bay", parent_id=site.id)
    assert bay.parent_id == site.id
    with pytest.raises(Invalid, match="under itself"):
        fleet.locations.update(admin, site.id, parent_id=bay.id)
    with pytest.raises(FailedPrecondition, match="sub-locations"):
        fleet.locations.delete(admin, site.id)

    # an operator of the site reaches the nested bay and its machines
    key = fleet.identity.create_key(admin, acme.id, "site-op", [GrantSpec("operator", "location", site.id)])
    op = fleet.identity.authenticate(BearerToken(key.secret))  # type: ignore[arg-type]
    rover = fleet.machines.create(admin, bay.id, "rover")
    assert fleet.machines.get(op, rover.id).location_id == bay.id

    # sharing the bay with the partner lets the partner's owner see it
    pat = _user(fleet, admin, "pat@example.com")
    fleet.identity.add_authorization(
        admin, partner.id, "user", pat.user_id, GrantSpec("owner", "organization", partner.id)
    )  # type: ignore[arg-type]
    pat = _login(fleet, "pat@example.com")
    with pytest.raises(PermissionDenied):
        fleet.locations.get(pat, bay.id)
    fleet.locations.share(admin, bay.id, partner.id)
    with pytest.raises(Conflict):
        fleet.locations.share(admin, bay.id, partner.id)
    pat = _login(fleet, "pat@example.com")
    assert fleet.locations.get(pat, bay.id).shared_with == [partner.id]
    assert [
        loc.id for loc in fleet.locations.list(pat, PageRequest(10), organization_id=partner.id).items
    ] == [bay.id]
    assert fleet.machines.get(pat, rover.id).id == rover.id
    assert fleet.locations.organizations_with_access(admin, bay.id) == [
        (acme.id, "Acme"),
        (partner.id, "Partner"),
    ]
    fleet.locations.unshare(admin, bay.id, partner.id)
    pat = _login(fleet, "pat@example.com")
    with pytest.raises(PermissionDenied):
        fleet.machines.get(pat, rover.id)


def test_location_secrets(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "Acme")
    loc = fleet.locations.create(admin, org.id, "Lab")
    (initial,) = fleet.locations.secrets(admin, loc.id)  # a new location comes with one secret
    assert initial.secret
    first = fleet.locations.create_secret(admin, loc.id)
    second = fleet.locations.create_secret(admin, loc.id)
    assert [s.id for s in fleet.locations.secrets(admin, loc.id)] == [initial.id, first.id, second.id]
    fleet.locations.delete_secret(admin, loc.id, initial.id)
    fleet.locations.delete_secret(admin, loc.id, first.id)
    assert [s.secret for s in fleet.locations.secrets(admin, loc.id)] == [second.secret]
    with pytest.raises(NotFound):
        fleet.locations.delete_secret(admin, loc.id, first.id)


def test_machine_has_one_main_part(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "Acme")
    loc = fleet.locations.create(admin, org.id, "Lab")
    machine = fleet.machines.create(admin, loc.id, "rover", metadata={"serial": "R-1"})
    (main,) = fleet.machines.parts(admin, machine.id)
    assert main.main_part and main.name == "rover-main" and main.fqdn.endswith(".fleetport.local")
    arm = fleet.machines.create_part(admin, machine.id, "arm")
    with pytest.raises(Conflict):
        fleet.machines.create_part(admin, machine.id, "arm")
    with pytest.raises(FailedPrecondition):
        fleet.machines.delete_part(admin, main.id)
    with pytest.raises(FailedPrecondition):
        fleet.machines.update_part(admin, main.id, main_part=False)
    fleet.machines.update_part(admin, arm.id, main_part=True)
    flags = {p.name: p.main_part for p in fleet.machines.parts(admin, machine.id)}
    assert flags == {"rover-main": False, "arm": True}
    fleet.machines.delete_part(admin, main.id)
    assert [p.name for p in fleet.machines.parts(admin, machine.id)] == ["arm"]


def test_config_history(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "Acme")
    loc = fleet.locations.create(admin, org.id, "Lab")
    machine = fleet.machines.create(admin, loc.id, "rover")
    (part,) = fleet.machines.parts(admin, machine.id)
    for version in (1, 2, 3):
        fleet.machines.set_config(admin, part.id, {"version": version})
    assert fleet.machines.get_config(admin, part.id) == {"version": 3}
    first = fleet.machines.config_history(admin, part.id, PageRequest(2))
    rest = fleet.machines.config_history(admin, part.id, PageRequest(2, first.next_cursor))
    history = first.items + rest.items
    assert [h.previous_config for h in history] == [{"version": 2}, {"version": 1}, {}]
    assert {h.edited_by for h in history} == {"bootstrap admin key"}
    assert rest.next_cursor is None
    with pytest.raises(Invalid):
        fleet.machines.set_config(admin, part.id, ["not", "an", "object"])  # type: ignore[arg-type]


def test_part_secret_authenticates_part(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "Acme")
    loc = fleet.locations.create(admin, org.id, "Lab")
    machine = fleet.machines.create(admin, loc.id, "rover")
    (part,) = fleet.machines.parts(admin, machine.id)
    other = fleet.machines.create_part(admin, machine.id, "camera")
    fleet.machines.set_config(admin, part.id, {"components": []})
    secret = fleet.machines.create_secret(admin, part.id)
    as_part = fleet.identity.authenticate(BearerToken(secret.secret))
    assert as_part.kind == "part"
    assert fleet.machines.get_config(as_part, part.id) == {"components": []}
    assert fleet.machines.get_part(admin, part.id).last_access is not None
    with pytest.raises(PermissionDenied):
        fleet.machines.get_config(as_part, other.id)
    with pytest.raises(PermissionDenied):
        fleet.machines.set_config(as_part, part.id, {})
    fleet.machines.delete_secret(admin, part.id, secret.id)
    with pytest.raises(Exception, match="not valid"):
        fleet.identity.authenticate(BearerToken(secret.secret))


def test_moving_and_deleting_machines(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "Acme")
    a = fleet.locations.create(admin, org.id, "A")
    b = fleet.locations.create(admin, org.id, "B")
    machine = fleet.machines.create(admin, a.id, "rover")
    with pytest.raises(FailedPrecondition, match="machines"):
        fleet.locations.delete(admin, a.id)
    moved = fleet.machines.update(admin, machine.id, location_id=b.id, name="rover-2")
    assert (moved.location_id, moved.name) == (b.id, "rover-2")
    listed = fleet.machines.list(admin, PageRequest(10), organization_id=org.id).items
    assert [m.id for m in listed] == [machine.id] and listed[0].location_id == b.id
    fleet.locations.delete(admin, a.id)
    fleet.machines.delete(admin, machine.id)
    with pytest.raises(NotFound):
        fleet.machines.get(admin, machine.id)


def test_deleting_an_organization_removes_its_fleet(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "Doomed")
    loc = fleet.locations.create(admin, org.id, "Lab")
    sub = fleet.locations.create(admin, org.id, "Shelf", parent_id=loc.id)
    machine = fleet.machines.create(admin, sub.id, "rover")
    fleet.identity.create_key(admin, org.id, "k", [GrantSpec("owner", "organization", org.id)])
    fleet.organizations.delete(admin, org.id)
    for get, id_ in (
        (fleet.organizations.get, org.id),
        (fleet.locations.get, loc.id),
        (fleet.machines.get, machine.id),
    ):
        with pytest.raises(NotFound):
            get(admin, id_)


def test_the_last_owner_stays(fleet: Fleet, admin: Principal) -> None:
    ann = _user(fleet, admin, "ann2@example.com")
    org = fleet.organizations.create(ann, "Ann's")
    bob = _user(fleet, admin, "bob2@example.com")
    fleet.identity.add_authorization(
        admin, org.id, "user", bob.user_id, GrantSpec("operator", "organization", org.id)
    )  # type: ignore[arg-type]
    fleet.organizations.remove_member(admin, org.id, bob.user_id)  # type: ignore[arg-type]
    with pytest.raises(FailedPrecondition, match="last owner"):
        fleet.organizations.remove_member(admin, org.id, ann.user_id)  # type: ignore[arg-type]
    assert [m.user.email for m in fleet.organizations.members(admin, org.id, PageRequest(10)).items] == [
        "ann2@example.com"
    ]


def test_new_parts_come_with_a_secret_that_connects(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "Acme")
    loc = fleet.locations.create(admin, org.id, "Lab")
    machine = fleet.machines.create(admin, loc.id, "rover")
    (main,) = fleet.machines.parts(admin, machine.id)
    extra = fleet.machines.create_part(admin, machine.id, "camera")
    for part in (main, extra):
        (secret,) = fleet.machines.secrets(admin, part.id)
        as_part = fleet.identity.authenticate(BearerToken(secret.secret))
        assert (as_part.kind, as_part.part_id) == ("part", part.id)
        _, _, shown = fleet.machines.part_details(admin, part.id)
        assert [s.id for s in shown] == [secret.id]


def test_a_machine_moves_only_within_its_organization(fleet: Fleet, admin: Principal) -> None:
    acme = fleet.organizations.create(admin, "Acme")
    other = fleet.organizations.create(admin, "Other")
    home = fleet.locations.create(admin, acme.id, "Home")
    away = fleet.locations.create(admin, other.id, "Away")
    machine = fleet.machines.create(admin, home.id, "rover")
    with pytest.raises(Invalid, match="its own organization"):
        fleet.machines.update(admin, machine.id, location_id=away.id)
    got = fleet.machines.get(admin, machine.id)
    assert (got.location_id, got.organization_id) == (home.id, acme.id)
