"""Core calls that answer a whole dialect request in one transaction: an organization's roster,
invites named by email, new secrets with what they answer, permission checks of a whole list,
whole listings, a fragment's history with the fragment, and the secrets location summaries carry.
Each is checked for the organization's owner, an operator of it, the owner of another
organization and a user with no access (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fleetport.core import registry
from fleetport.core.credentials import BearerToken
from fleetport.core.errors import Invalid, MalformedId, NotFound, PermissionDenied
from fleetport.core.fleet import Fleet
from fleetport.core.models import GrantSpec, Organization, ResourcePermissions
from fleetport.core.pages import PageRequest
from fleetport.core.permissions import Principal


@dataclass
class Cast:
    """Organization ``org`` owned by ``owner``, with ``operator`` holding operator on it; ``other``
    owns organization ``elsewhere``; ``stranger`` holds nothing."""

    org: Organization
    elsewhere: Organization
    owner: Principal
    operator: Principal
    other: Principal
    stranger: Principal


def key_holder(fleet: Fleet, admin: Principal, org: Organization, role: str, on: Organization) -> Principal:
    """The principal of a new key of ``org`` holding ``role`` on organization ``on``."""
    key = fleet.identity.create_key(admin, org.id, role, [GrantSpec(role, "organization", on.id)])
    assert key.secret
    return fleet.identity.authenticate(BearerToken(key.secret))


def cast_of(fleet: Fleet, admin: Principal) -> Cast:
    org, elsewhere, nowhere = (fleet.organizations.create(admin, n) for n in ("rovers", "diggers", "empty"))
    owner = key_holder(fleet, admin, org, "owner", org)
    operator = key_holder(fleet, admin, org, "operator", org)
    other = key_holder(fleet, admin, elsewhere, "owner", elsewhere)
    stranger = key_holder(fleet, admin, nowhere, "operator", nowhere)  # reaches nothing of the others
    return Cast(org, elsewhere, owner, operator, other, stranger)


@pytest.fixture
def cast(fleet: Fleet, admin: Principal) -> Cast:
    return cast_of(fleet, admin)


def test_the_roster_holds_every_member_with_their_grants_and_every_invite(
    fleet: Fleet, admin: Principal, cast: Cast
) -> None:
    lab = fleet.locations.create(cast.owner, cast.org.id, "lab")
    for name in ("ann", "olga"):
        fleet.identity.create_user(admin, f"{name}@example.com", name, "password1")
    ann, olga = (fleet.identity.user_by_email(admin, f"{n}@example.com") for n in ("ann", "olga"))
    fleet.identity.grant_to(admin, cast.org.id, ann.id, GrantSpec("owner", "organization", cast.org.id))
    fleet.identity.grant_to(admin, cast.org.id, olga.id, GrantSpec("operator", "location", lab.id))
    fleet.identity.grant_to(
        admin, cast.elsewhere.id, olga.id, GrantSpec("owner", "organization", cast.elsewhere.id)
    )
    fleet.organizations.invite(cast.owner, cast.org.id, "new@example.com", [])
    for reader in (cast.owner, cast.operator):
        roster = fleet.organizations.roster(reader, cast.org.id)
        held = {m.user.email: [(a.role, a.resource_id) for a in m.authorizations] for m in roster.members}
        assert held == {  # a member's roles in other organizations are not the roster's
            "ann@example.com": [("owner", cast.org.id)],
            "olga@example.com": [("operator", lab.id)],
        }
        assert [i.email for i in roster.invites] == ["new@example.com"]
    for outsider in (cast.other, cast.stranger):
        with pytest.raises(PermissionDenied):
            fleet.organizations.roster(outsider, cast.org.id)
    empty = fleet.organizations.roster(cast.other, cast.elsewhere.id)
    assert ([m.user.email for m in empty.members], empty.invites) == (["olga@example.com"], [])


def test_invites_are_resent_changed_and_deleted_by_email(fleet: Fleet, cast: Cast) -> None:
    lab = fleet.locations.create(cast.owner, cast.org.id, "lab")
    made = fleet.organizations.invite(cast.owner, cast.org.id, "New@Example.com", [])
    assert fleet.organizations.resend_invite_to(cast.owner, cast.org.id, "new@example.com").sent_count == 2
    changed = fleet.organizations.update_invite_to(
        cast.owner,
        cast.org.id,
        "new@example.com",
        add=[GrantSpec("owner", "location", lab.id)],
        remove=[GrantSpec("operator", "organization", cast.org.id)],
    )
    assert (changed.id, [(g.role, g.resource_id) for g in changed.authorizations]) == (
        made.id,
        [("owner", lab.id)],
    )
    with pytest.raises(Invalid, match="at least one"):  # nothing would be left: nothing changes
        fleet.organizations.update_invite_to(
            cast.owner, cast.org.id, "new@example.com", remove=[GrantSpec("owner", "location", lab.id)]
        )
    with pytest.raises(Invalid, match="does not belong"):
        fleet.organizations.update_invite_to(
            cast.owner,
            cast.org.id,
            "new@example.com",
            add=[GrantSpec("owner", "organization", cast.elsewhere.id)],
        )
    assert fleet.organizations.roster(cast.owner, cast.org.id).invites == [changed]

    # who may not manage members learns nothing, not even whether the invite exists
    for caller in (cast.operator, cast.other, cast.stranger):
        for email in ("new@example.com", "nobody@example.com"):
            with pytest.raises(PermissionDenied):
                fleet.organizations.resend_invite_to(caller, cast.org.id, email)
            with pytest.raises(PermissionDenied):
                fleet.organizations.update_invite_to(caller, cast.org.id, email, add=[])
            with pytest.raises(PermissionDenied):
                fleet.organizations.delete_invite_to(caller, cast.org.id, email)

    fleet.organizations.delete_invite_to(cast.owner, cast.org.id, "NEW@example.com")
    for change in (
        fleet.organizations.resend_invite_to,
        fleet.organizations.delete_invite_to,
        fleet.organizations.update_invite_to,
    ):
        with pytest.raises(NotFound, match="no invite"):
            change(cast.owner, cast.org.id, "new@example.com")
    with pytest.raises(Invalid):
        fleet.organizations.resend_invite_to(cast.owner, cast.org.id, "not an email\x00")


def test_an_invite_is_checked_and_made_in_one_go(fleet: Fleet, cast: Cast) -> None:
    with pytest.raises(Invalid, match="does not belong"):
        fleet.organizations.invite(
            cast.owner,
            cast.org.id,
            "new@example.com",
            [GrantSpec("owner", "organization", cast.elsewhere.id)],
        )
    assert fleet.organizations.roster(cast.owner, cast.org.id).invites == []
    for caller in (cast.operator, cast.other, cast.stranger):
        with pytest.raises(PermissionDenied):
            fleet.organizations.invite(caller, cast.org.id, "new@example.com", [])
    made = fleet.organizations.invite(cast.owner, cast.org.id, "new@example.com", [])
    assert [(g.role, g.resource_id) for g in made.authorizations] == [("operator", cast.org.id)]


def test_a_new_part_secret_comes_back_with_the_part(fleet: Fleet, cast: Cast) -> None:
    lab = fleet.locations.create(cast.owner, cast.org.id, "lab")
    machine = fleet.machines.create(cast.owner, lab.id, "rover")
    part = fleet.machines.parts(cast.owner, machine.id)[0]
    details = fleet.machines.add_secret(cast.owner, part.id)
    assert (details.part.id, details.machine.id, len(details.secrets)) == (part.id, machine.id, 2)
    assert details.secrets == fleet.machines.secrets(cast.owner, part.id)
    for caller in (cast.operator, cast.other, cast.stranger):
        with pytest.raises(PermissionDenied):
            fleet.machines.add_secret(caller, part.id)
    as_part = fleet.identity.authenticate(BearerToken(details.secrets[-1].secret))
    with pytest.raises(PermissionDenied):
        fleet.machines.add_secret(as_part, part.id)
    assert len(fleet.machines.secrets(cast.owner, part.id)) == 2


def test_a_new_location_secret_comes_back_with_all_of_them(fleet: Fleet, cast: Cast) -> None:
    lab = fleet.locations.create(cast.owner, cast.org.id, "lab")
    secrets = fleet.locations.add_secret(cast.owner, lab.id)
    assert len(secrets) == 2 and secrets == fleet.locations.secrets(cast.owner, lab.id)
    for caller in (cast.operator, cast.other, cast.stranger):
        with pytest.raises(PermissionDenied):
            fleet.locations.add_secret(caller, lab.id)
    with pytest.raises(MalformedId):
        fleet.locations.add_secret(cast.owner, "not-an-id")


def test_location_summaries_carry_secrets_only_for_who_manages_them(fleet: Fleet, cast: Cast) -> None:
    lab, yard = (fleet.locations.create(cast.owner, cast.org.id, name) for name in ("lab", "yard"))
    fleet.locations.add_secret(cast.owner, yard.id)
    fleet.locations.share(cast.owner, lab.id, cast.elsewhere.id)
    owned = {s.location.id: s.secrets for s in fleet.locations.summaries(cast.owner, cast.org.id)}
    assert {loc: len(secrets) for loc, secrets in owned.items()} == {lab.id: 1, yard.id: 2}
    assert owned[yard.id] == fleet.locations.secrets(cast.owner, yard.id)
    assert fleet.locations.summary(cast.owner, yard.id).secrets == owned[yard.id]
    assert fleet.locations.edit(cast.owner, yard.id, name="garden").secrets == owned[yard.id]
    # an operator reads the locations, not their secrets; a guest organization neither
    assert [s.secrets for s in fleet.locations.summaries(cast.operator, cast.org.id)] == [[], []]
    assert fleet.locations.summary(cast.operator, yard.id).secrets == []
    (guest_view,) = fleet.locations.summaries(cast.other, cast.elsewhere.id)
    assert (guest_view.location.id, guest_view.secrets) == (lab.id, [])
    with pytest.raises(PermissionDenied):
        fleet.locations.summaries(cast.stranger, cast.org.id)


def test_permissions_held_answers_a_whole_list(fleet: Fleet, cast: Cast) -> None:
    lab = fleet.locations.create(cast.owner, cast.org.id, "lab")
    machine = fleet.machines.create(cast.owner, lab.id, "rover")
    missing = "00000000-0000-4000-8000-000000000000"
    asked = [
        ResourcePermissions("robot", machine.id, ["read_robot", "update_robot", "fly"]),
        ResourcePermissions("location", lab.id, ["manage_location_secrets", "read_location"]),
        ResourcePermissions("organization", cast.org.id, ["read_organization", "manage_api_keys"]),
        ResourcePermissions("robot", missing, ["read_robot"]),
        ResourcePermissions("location", "not-an-id", ["read_location"]),
        ResourcePermissions("organization", cast.org.id, []),
    ]

    def held(p: Principal) -> list[list[str]]:
        answer = fleet.identity.permissions_held(p, asked)
        assert [(a.resource_type, a.resource_id) for a in answer] == [
            (a.resource_type, a.resource_id) for a in asked
        ]
        return [a.permissions for a in answer]

    assert held(cast.owner) == [
        ["read_robot", "update_robot"],
        ["manage_location_secrets", "read_location"],
        ["read_organization", "manage_api_keys"],
        [],
        [],
        [],
    ]
    assert held(cast.operator) == [["read_robot"], ["read_location"], ["read_organization"], [], [], []]
    assert held(cast.other) == held(cast.stranger) == [[], [], [], [], [], []]
    # the one-resource check gives the same answer
    assert fleet.identity.check_permissions(
        cast.operator, "robot", machine.id, ["read_robot", "update_robot", "fly"], unknown_denied=True
    ) == ["read_robot"]
    with pytest.raises(Invalid, match="nothing to check"):
        fleet.identity.permissions_held(cast.owner, [])
    with pytest.raises(Invalid, match="resource_type"):
        fleet.identity.permissions_held(cast.owner, [*asked, ResourcePermissions("part\x00", lab.id, [])])


def test_whole_listings_of_keys_authorizations_and_organizations(fleet: Fleet, cast: Cast) -> None:
    lab = fleet.locations.create(cast.owner, cast.org.id, "lab")
    keys = [
        fleet.identity.create_key(
            cast.owner, cast.org.id, f"key {n}", [GrantSpec("operator", "location", lab.id)]
        )
        for n in range(3)
    ]
    listed = fleet.identity.list_all_keys(cast.owner, cast.org.id)
    made = {k.id for k in keys}
    assert [k.id for k in listed] == sorted({cast.owner.api_key_id, cast.operator.api_key_id, *made})
    assert all(
        [(a.role, a.resource_id) for a in k.authorizations] == [("operator", lab.id)]
        for k in listed
        if k.id in made
    )
    paged = fleet.identity.list_keys(cast.owner, cast.org.id, PageRequest(10)).items
    assert [(k.id, k.authorizations) for k in listed] == [(k.id, k.authorizations) for k in paged]
    for caller in (cast.operator, cast.other, cast.stranger):
        with pytest.raises(PermissionDenied):
            fleet.identity.list_all_keys(caller, cast.org.id)

    everything = fleet.identity.list_all_authorizations(cast.owner, cast.org.id)
    assert len(everything) == 5  # the owner key's, the operator key's, the three new keys'
    on_lab = fleet.identity.list_all_authorizations(cast.operator, cast.org.id, resource_ids=[lab.id])
    assert sorted(a.subject_id for a in on_lab) == sorted(k.id for k in keys)
    assert fleet.identity.list_all_authorizations(cast.owner, cast.org.id, resource_ids=[""]) == []
    for caller in (cast.other, cast.stranger):
        with pytest.raises(PermissionDenied):
            fleet.identity.list_all_authorizations(caller, cast.org.id)

    assert [o.id for o in fleet.organizations.list_all(cast.owner)] == [cast.org.id]
    assert [o.id for o in fleet.organizations.list_all(cast.operator)] == [cast.org.id]
    assert [o.id for o in fleet.organizations.list_all(cast.other)] == [cast.elsewhere.id]
    assert {cast.org.id, cast.elsewhere.id}.isdisjoint(
        o.id for o in fleet.organizations.list_all(cast.stranger)
    )


def test_user_by_email(fleet: Fleet, admin: Principal, cast: Cast) -> None:
    made = fleet.identity.create_user(admin, "ann@example.com", "ann", "password1")
    assert fleet.identity.user_by_email(cast.stranger, "ANN@example.com") == made
    with pytest.raises(NotFound, match="no user"):
        fleet.identity.user_by_email(cast.owner, "nobody@example.com")
    with pytest.raises(Invalid):
        fleet.identity.user_by_email(cast.owner, "x" * 10_000)


def test_fragment_history_comes_with_the_fragment(fleet: Fleet, cast: Cast) -> None:
    fragment = fleet.fragments.create(cast.owner, cast.org.id, "base", {"n": 0})
    for n in range(1, 4):
        fleet.fragments.update(cast.owner, fragment.id, name=f"base {n}", config={"n": n})
    first = fleet.fragments.history_of(cast.owner, fragment.id, PageRequest(2))
    assert (first.fragment.id, first.fragment.name, first.fragment.organization_name) == (
        fragment.id,
        "base 3",
        "rovers",
    )
    assert [r.previous_config for r in first.revisions.items] == [{"n": 2}, {"n": 1}]
    rest = fleet.fragments.history_of(
        cast.operator, fragment.id, PageRequest(cursor=first.revisions.next_cursor)
    )
    assert ([r.previous_config for r in rest.revisions.items], rest.revisions.next_cursor) == (
        [{"n": 0}],
        None,
    )
    assert fleet.fragments.history(cast.owner, fragment.id, PageRequest(2)) == first.revisions
    for outsider in (cast.other, cast.stranger):  # a private fragment
        with pytest.raises(PermissionDenied):
            fleet.fragments.history_of(outsider, fragment.id, PageRequest())
    with pytest.raises(Invalid, match="limit"):
        fleet.fragments.history_of(cast.owner, fragment.id, PageRequest(-1))


def test_every_registry_item_from_a_page_on(
    fleet: Fleet, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "READ_BATCH", 2)  # the whole listing reads several pages
    made = [fleet.registry.create_item(cast.owner, cast.org.id, f"item-{n}", "module") for n in range(5)]
    fleet.registry.create_item(cast.other, cast.elsewhere.id, "theirs", "module")
    ids = [i.id for i in made]
    assert [i.id for i in fleet.registry.list_all_items(cast.owner, cast.org.id)] == ids
    assert [i.id for i in fleet.registry.list_all_items(cast.operator, None)] == ids
    first = fleet.registry.list_items(cast.owner, cast.org.id, PageRequest(2))
    rest = fleet.registry.list_all_items(cast.owner, cast.org.id, cursor=first.next_cursor)
    assert [i.id for i in first.items + rest] == ids
    assert [i.id for i in fleet.registry.list_all_items(cast.owner, cast.org.id, search_term="ITEM-3")] == [
        ids[3]
    ]
    for outsider in (cast.other, cast.stranger):
        with pytest.raises(PermissionDenied):
            fleet.registry.list_all_items(outsider, cast.org.id)
    assert fleet.registry.list_all_items(cast.stranger, None) == []  # private items of nobody it reads
    with pytest.raises(Invalid):
        fleet.registry.list_all_items(cast.owner, cast.org.id, types=["nonsense"])
